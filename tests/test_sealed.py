"""Sealed entries written from bytes with companions (a batch manifest and its results): the seal lists
every file with the CID of the bytes written, and `verify` rejects a changed or missing companion."""

from __future__ import annotations

from pathlib import Path

from prsgazer.cid import cid_of_bytes
from prsgazer.sealed import read_seal, read_verified_bytes, seal_path, verify, write_sealed_bytes


def _entry(tmp_path: Path) -> tuple[Path, list[Path], str]:
    results = []
    for k in range(2):
        r = tmp_path / f"r{k}.parquet"
        r.write_bytes(f"result {k}".encode())
        results.append(r)
    manifest = tmp_path / "m.json"
    cid = write_sealed_bytes(manifest, b'{"scores": []}', [(r, cid_of_bytes(r.read_bytes())) for r in results])
    return manifest, results, cid


def test_the_seal_lists_the_entry_then_its_companions(tmp_path: Path) -> None:
    manifest, results, cid = _entry(tmp_path)
    assert cid == cid_of_bytes(b'{"scores": []}')
    assert read_seal(manifest) == {
        "m.json": cid,
        "r0.parquet": cid_of_bytes(b"result 0"),
        "r1.parquet": cid_of_bytes(b"result 1"),
    }
    assert read_verified_bytes(manifest) == b'{"scores": []}'
    assert verify(manifest, *results) == cid


def test_a_changed_or_missing_companion_discards_the_entry(tmp_path: Path) -> None:
    manifest, results, _ = _entry(tmp_path)
    results[1].write_bytes(b"result X")
    assert verify(manifest, *results) is None
    assert not manifest.exists() and not seal_path(manifest).exists()

    manifest, results, _ = _entry(tmp_path)
    results[0].unlink()
    assert verify(manifest, *results) is None
    assert not manifest.exists()


def test_a_changed_entry_is_rejected_by_its_seal(tmp_path: Path) -> None:
    manifest, _, _ = _entry(tmp_path)
    manifest.write_bytes(b'{"scores": [1]}')
    assert read_verified_bytes(manifest) is None
    assert not manifest.exists() and not seal_path(manifest).exists()
