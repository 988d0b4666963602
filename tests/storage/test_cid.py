from __future__ import annotations

import hashlib

import pytest

from prsgazer.cid import cid_from_digest, cid_of_bytes, cid_of_file, digest_from_cid, is_cid


def test_known_cid_of_hello() -> None:
    # The IPFS CIDv1 (raw, sha2-256, base32) of b"hello", as `ipfs add --raw-leaves --cid-version 1` gives.
    assert cid_of_bytes(b"hello") == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"


def test_known_cid_of_empty() -> None:
    assert cid_of_bytes(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_file_and_bytes_agree(tmp_path) -> None:
    data = bytes(range(256)) * 5000  # > 1 chunk
    p = tmp_path / "x.bin"
    p.write_bytes(data)
    assert cid_of_file(p) == cid_of_bytes(data)
    assert digest_from_cid(cid_of_file(p)) == hashlib.sha256(data).digest()


def test_shape_checks() -> None:
    c = cid_of_bytes(b"abc")
    assert is_cid(c) and c.startswith("bafkrei") and len(c) == 59
    assert not is_cid("local_abc")
    assert not is_cid(c.upper())
    with pytest.raises(ValueError):
        digest_from_cid("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")
    with pytest.raises(ValueError):
        cid_from_digest(b"short")
