"""Remembered file CIDs (`engine.file_cid`): a large input is hashed once per file state, and any change
of the file, or damage to the entry, hashes it again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prsgazer.cid import cid_of_bytes
from prsgazer.engine import file_cid as fc
from prsgazer.engine.genotypes import open_genotypes
from prsgazer.synthetic.files import random_cohort, write_vcf


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files `engine.file_cid` hashes in this test (it still hashes them)."""
    seen: list[Path] = []
    real = fc.cid_of_file

    def counting(path: str | Path) -> str:
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(fc, "cid_of_file", counting)
    return seen


def test_a_file_is_hashed_once_per_state(tmp_path: Path, hashed: list[Path]) -> None:
    f, cache = tmp_path / "big.vcf.gz", tmp_path / "cache"
    f.write_bytes(b"A" * 1000)
    assert fc.file_cid(f, cache) == fc.file_cid(f, cache) == cid_of_bytes(b"A" * 1000)
    assert len(hashed) == 1
    # same size, mtime put back: the ctime still changed
    st = f.stat()
    f.write_bytes(b"B" * 1000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fc.file_cid(f, cache) == cid_of_bytes(b"B" * 1000) and len(hashed) == 2
    # another file renamed onto the path (another inode)
    g = tmp_path / "other"
    g.write_bytes(b"C" * 1000)
    g.replace(f)
    assert fc.file_cid(f, cache) == cid_of_bytes(b"C" * 1000) and len(hashed) == 3
    # without a cache dir: hashed every time
    assert fc.file_cid(f, None) == cid_of_bytes(b"C" * 1000) and len(hashed) == 4


def test_a_damaged_or_unwritable_entry_costs_a_hash(tmp_path: Path, hashed: list[Path]) -> None:
    f, cache = tmp_path / "x.pgen", tmp_path / "cache"
    f.write_bytes(b"genotypes")
    want = cid_of_bytes(b"genotypes")
    fc.file_cid(f, cache)
    entry = fc.entry_path(cache, f.resolve())
    entry.write_bytes(entry.read_bytes().replace(b"bafk", b"bafz"))  # no longer its seal's bytes
    assert fc.file_cid(f, cache) == want and len(hashed) == 2
    assert fc.file_cid(f, cache) == want and len(hashed) == 2  # remembered again
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache dir should be")
    assert fc.file_cid(f, blocked) == want and fc.file_cid(f, blocked) == want and len(hashed) == 4


def test_a_file_changed_while_hashed_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    f, cache = tmp_path / "growing.vcf", tmp_path / "cache"
    f.write_bytes(b"1")
    real = fc.cid_of_file

    def appending(path: str | Path) -> str:
        cid = real(path)
        with open(path, "ab") as fh:
            fh.write(b"2")
        return cid

    monkeypatch.setattr(fc, "cid_of_file", appending)
    fc.file_cid(f, cache)
    assert not fc.entry_path(cache, f.resolve()).exists()


def test_a_vcf_is_hashed_once_across_runs(tmp_path: Path, hashed: list[Path]) -> None:
    """Opening a person's VCF finds its normalised table by the VCF's CID: remembered after the first
    run, so a later run does not hash the VCF again (a WGS gVCF is several GB)."""
    vcf = write_vcf(random_cohort(1, 200, seed=3), tmp_path / "p.vcf.gz")
    cache = tmp_path / "cache"
    first = open_genotypes(vcf, cache_dir=cache)
    second = open_genotypes(vcf, cache_dir=cache)
    try:
        assert hashed.count(vcf.resolve()) == 1
        assert first.cache_cid == second.cache_cid is not None
    finally:
        first.close()
        second.close()
