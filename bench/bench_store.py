"""The store under concurrent writers (issue 14): N processes × M puts into one local store.

Run: `uv run python bench/bench_store.py [--procs 4] [--puts 250]`.

Each process stores M distinct small files (plus one file every process stores: the same bytes, the
same CID, contended on purpose) into one `LocalStore` in a temp dir, at once. Then it counts what is
there: records lost (expected − present), blobs whose bytes do not hash to their CID, the journal's
records against the metadata's, and the records rebuilt from the journal alone (metadata deleted)
against the originals. Prints puts/s and the figures; exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path


def _payload(proc: int, i: int) -> bytes:
    return f"proc={proc} i={i}\n".encode() * (20 + i % 50) if i else b"shared-by-everyone\n" * 100


def _worker(root: str, proc: int, workdir: str, puts: int) -> None:
    from prsgazer.assets import Vcf
    from prsgazer.storage import LocalStore

    store = LocalStore(root)
    for i in range(puts):
        p = Path(workdir) / f"p{proc}_{i}.vcf"
        p.write_bytes(_payload(proc, i))
        store.upload(Vcf(path=p, sample_id=f"P{proc}", source=f"upload-{i}"))
        p.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--puts", type=int, default=250)
    a = ap.parse_args()
    from prsgazer.cid import cid_of_bytes, cid_of_file
    from prsgazer.storage import LocalStore

    with tempfile.TemporaryDirectory(prefix="prsgazer-store-bench-") as tmp:
        root = Path(tmp) / "store"
        LocalStore(root)
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(str(root), k, tmp, a.puts)) for k in range(a.procs)]
        t = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t
        failed = [p.exitcode for p in procs if p.exitcode != 0]
        store = LocalStore(root)
        expected = {cid_of_bytes(_payload(k, i)) for k in range(a.procs) for i in range(a.puts)}
        records = {r["cid"]: r for r in store._records()}
        lost = expected - set(records)
        bad_blobs = [c for c in records if cid_of_file(store.blob_path(c)) != c]
        journal = store.journal.replay()
        store.meta_path.unlink()
        rebuilt = store.rebuild()
        after = {r["cid"]: r for r in store._records()}
    n = a.procs * a.puts
    print(f"{a.procs} processes × {a.puts} puts = {n} puts in {wall:.1f} s ({n / wall:.0f} puts/s); "
          f"{len(expected)} distinct files")  # fmt: skip
    print(f"records lost              {len(lost)}")
    print(f"blobs not matching CID    {len(bad_blobs)}")
    print(f"journal = metadata        {journal.records == records} ({journal.lines} lines, "
          f"{len(journal.bad_lines)} damaged)")  # fmt: skip
    print(f"rebuilt from the journal  {rebuilt.records} records, equal to the originals: {after == records}")
    if failed or lost or bad_blobs or journal.records != records or after != records:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
