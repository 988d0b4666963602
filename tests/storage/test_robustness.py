"""What must never happen: lost records under concurrency, corrupt bytes handed out, half files under a CID."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prsgazer.assets import Vcf
from prsgazer.errors import IntegrityError, StorageError
from prsgazer.storage import LocalStore, cid_of_bytes, cid_of_file

N_PROCS = 4
N_UPLOADS = 50


def _payload(proc: int, i: int) -> bytes:
    # Distinct per (proc, i), several KB, plus one file every process shares (idempotent under contention).
    return (f"proc={proc} i={i}\n".encode()) * (50 + i) if i else b"shared-by-everyone\n" * 100


def _worker(root: str, proc: int, workdir: str) -> None:
    store = LocalStore(root)
    for i in range(N_UPLOADS):
        p = Path(workdir) / f"p{proc}_{i}.vcf"
        p.write_bytes(_payload(proc, i))
        store.upload(Vcf(path=p, sample_id=f"P{proc}", source=f"upload-{i}"))


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    LocalStore(root)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(root), k, str(tmp_path))) for k in range(N_PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    store = LocalStore(root)
    expected = {cid_of_bytes(_payload(k, i)) for k in range(N_PROCS) for i in range(N_UPLOADS)}
    assert len(expected) == N_PROCS * (N_UPLOADS - 1) + 1
    records = {a.cid: a for a in store.query(asset="vcf")}
    assert set(records) == expected
    for k in range(N_PROCS):
        for i in range(1, N_UPLOADS):
            a = records[cid_of_bytes(_payload(k, i))]
            assert a.sample_id == f"P{k}" and a.source == f"upload-{i}"
    for cid in expected:
        assert cid_of_file(store.blob_path(cid)) == cid
    assert store.check()["corrupt"] == [] and store.check()["orphan"] == []
    assert list(store.tmp.iterdir()) == []
    json.loads(store.meta_path.read_text())  # the metadata file is whole


def test_corrupt_blob_is_detected_moved_aside_and_restorable(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "a.vcf"
    src.write_bytes(b"original genotype bytes")
    a = store.upload(Vcf(path=src, sample_id="S"))
    assert store.get(a.cid).path == store.blob_path(a.cid)

    blob = store.blob_path(a.cid)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"original genotype bytez")  # a flipped byte on disk

    fresh = LocalStore(store.root)  # a new process would not have it verified
    with pytest.raises(IntegrityError, match="corrupt") as exc:
        fresh.get(a.cid)
    assert a.cid in str(exc.value)
    with pytest.raises(IntegrityError):
        store.download(a.cid, tmp_path / "out.vcf")  # even this process re-hashes a changed file
    assert not (tmp_path / "out.vcf").exists()
    assert not blob.exists() and len(list(store.corrupt.iterdir())) == 1
    # uploading the original bytes again restores the blob under the same CID
    assert store.upload(Vcf(path=src)).cid == a.cid
    assert store.download(a.cid, tmp_path / "ok.vcf").path.read_bytes() == b"original genotype bytes"


def test_corruption_through_a_materialized_hardlink_is_caught(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "a.vcf"
    src.write_bytes(b"0123456789" * 100)
    a = store.upload(Vcf(path=src))
    mat = store.fetch(a.cid).path
    os.chmod(mat, 0o644)
    with open(mat, "r+b") as fh:  # someone edits "their copy" in place
        fh.write(b"X")
    with pytest.raises(IntegrityError):
        LocalStore(store.root).fetch(a.cid)


_CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from prsgazer.assets import Vcf
    from prsgazer.storage import LocalStore
    import prsgazer.storage.local as local

    root, src, when = sys.argv[1], sys.argv[2], sys.argv[3]
    store = LocalStore(root)
    real_replace = os.replace

    def die_on(target_name):
        def replace(a, b, *args, **kw):
            if target_name in str(b):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(a, b, *args, **kw)
        return replace

    if when == "blob":
        local.os.replace = die_on("/blobs/")
    else:
        local.os.replace = die_on("metadata.json")
    store.upload(Vcf(path=Path(src), sample_id="crash"))
    """
)


@pytest.mark.parametrize("when", ["blob", "metadata"])
def test_killed_writer_leaves_no_half_file_and_intact_metadata(tmp_path: Path, when: str) -> None:
    root = tmp_path / "store"
    store = LocalStore(root)
    seed = tmp_path / "seed.vcf"
    seed.write_bytes(b"seed")
    seeded = store.upload(Vcf(path=seed, sample_id="seed"))
    meta_before = store.meta_path.read_bytes()
    src = tmp_path / "big.vcf"
    src.write_bytes(os.urandom(3 << 20))
    cid = cid_of_file(src)

    proc = subprocess.run([sys.executable, "-c", _CRASH, str(root), str(src), when], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()

    # the metadata file is the old, complete one; no record and no blob under the new CID
    assert store.meta_path.read_bytes() == meta_before
    reopened = LocalStore(root)  # sweeps the dead writer's temp files
    assert not reopened.has(cid)
    assert [a.cid for a in reopened.query()] == [seeded.cid]
    if when == "blob":
        assert not reopened.blob_path(cid).exists()
    else:
        # the blob landed whole before the kill: it is an orphan (no record), never a half file
        assert cid_of_file(reopened.blob_path(cid)) == cid
        assert reopened.check()["orphan"] == [cid]
    assert list(reopened.tmp.iterdir()) == []
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    # and the store keeps working: the same upload now succeeds
    assert reopened.upload(Vcf(path=src)).cid == cid


def test_disk_full_stores_nothing(store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.vcf"
    src.write_bytes(b"x" * (3 << 20))
    before = store.meta_path.read_bytes() if store.meta_path.exists() else b""

    import prsgazer.storage.local as local

    real_fsync = local.os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local.os, "fsync", full)
    with pytest.raises(StorageError, match="disk full") as exc:
        store.upload(Vcf(path=src))
    assert str(src) in str(exc.value)
    monkeypatch.setattr(local.os, "fsync", real_fsync)
    assert list(store.blobs.iterdir()) == [] and list(store.tmp.iterdir()) == []
    assert (store.meta_path.read_bytes() if store.meta_path.exists() else b"") == before
