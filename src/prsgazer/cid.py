"""Content identifiers: CIDv1, raw codec, sha2-256, base32 (`bafkrei…`). See docs/storage.md.

The CID is computed from the bytes alone, so the same file has the same id on every backend
and a corrupt copy is detected by re-hashing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import BinaryIO

# multiformats prefix: cid version 1, multicodec raw (0x55), multihash sha2-256 (0x12), 32 bytes.
_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
CHUNK = 1 << 20
CID_RE = re.compile(r"^bafkrei[a-z2-7]{52}$")


def cid_from_digest(digest: bytes) -> str:
    """The CID string for a sha2-256 digest."""
    if len(digest) != 32:
        raise ValueError(f"sha2-256 digest must be 32 bytes, got {len(digest)}")
    return "b" + base64.b32encode(_PREFIX + digest).decode("ascii").lower().rstrip("=")


def digest_from_cid(cid: str) -> bytes:
    """The sha2-256 digest inside a CID; raises ValueError for anything that is not our CID form."""
    if not is_cid(cid):
        raise ValueError(f"not a CIDv1 raw sha2-256 base32 id: {cid!r}")
    raw = base64.b32decode(cid[1:].upper() + "=" * (-len(cid[1:]) % 8))
    return raw[len(_PREFIX) :]


def is_cid(text: str) -> bool:
    """True when `text` has the exact shape of a CIDv1 raw sha2-256 base32 id."""
    return bool(CID_RE.match(text))


def cid_of_bytes(data: bytes) -> str:
    """The CID of an in-memory byte string."""
    return cid_from_digest(hashlib.sha256(data).digest())


def cid_of_stream(stream: BinaryIO) -> str:
    """The CID of everything left to read in a binary stream."""
    h = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        h.update(chunk)
    return cid_from_digest(h.digest())


def cid_of_file(path: str | Path) -> str:
    """The CID of a file's bytes."""
    with open(path, "rb") as fh:
        return cid_of_stream(fh)
