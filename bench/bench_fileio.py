"""What the one safe writer (prsgazer.fileio) costs. Run: `uv run python bench/bench_fileio.py [--rows N]`.

Prints wall times for
1. a large OUT.tsv-like table: polars `write_csv` straight to the path (the old unsafe way) against
   `engine.scoring.run.write_tsv` (temp + fsync + rename) and the same without fsync (`durable=False`,
   what caches use);
2. many small files (1 KiB, like cache entries and store metadata): plain `open/write/os.replace` against
   `fileio.write_bytes` with and without fsync.

Files are written under a temporary directory in the user cache dir and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import platformdirs
import polars as pl

from prsgazer.engine.scoring.run import write_tsv
from prsgazer.fileio import output_path, write_bytes


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the large table")
    ap.add_argument("--small", type=int, default=1000, help="number of small files")
    args = ap.parse_args()
    cache = Path(platformdirs.user_cache_dir("prsgazer", appauthor=False))
    cache.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = args.rows
    frame = pl.DataFrame(
        {
            "sample_id": [f"S{i % 5000:05d}" for i in range(n)],
            "pgs_id": [f"PGS{i % 400:06d}" for i in range(n)],
            "sum": rng.normal(size=n),
            "avg": rng.normal(size=n),
            "denom": rng.integers(1, 10_000, size=n),
            "n_matched": rng.integers(1, 5_000, size=n),
            "n_variants": rng.integers(1, 5_000, size=n),
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-fileio-", dir=cache) as tmp:
        d = Path(tmp)
        out = d / "out.tsv"

        def direct() -> None:
            frame.write_csv(out, separator="\t", null_value="NA", float_precision=None)

        def safe() -> None:
            write_tsv(frame, out)

        def safe_no_fsync() -> None:
            with output_path(out, durable=False) as t:
                frame.write_csv(t, separator="\t", null_value="NA", float_precision=None)

        t_direct, t_safe, t_nofsync = _best(direct), _best(safe), _best(safe_no_fsync)
        size = out.stat().st_size
        print(f"1. table {n:,} rows, {size / 1e6:.0f} MB:")
        print(f"   polars write_csv to the path      {t_direct:7.3f} s")
        print(f"   write_tsv (temp, fsync, rename)   {t_safe:7.3f} s  ({t_safe / t_direct:.2f}x)")
        print(f"   same, durable=False (caches)      {t_nofsync:7.3f} s  ({t_nofsync / t_direct:.2f}x)")

        data = os.urandom(1024)
        k = args.small

        def plain() -> None:
            for i in range(k):
                p = d / f"p{i}"
                tmp_p = d / f".p{i}.tmp"
                with open(tmp_p, "wb") as fh:
                    fh.write(data)
                os.replace(tmp_p, p)

        def safe_small(durable: bool) -> None:
            for i in range(k):
                write_bytes(d / f"s{i}", data, durable=durable)

        t_plain = _best(plain)
        t_nf = _best(lambda: safe_small(False))
        t_f = _best(lambda: safe_small(True), repeat=1)
        print(f"2. {k:,} files of 1 KiB (per file):")
        print(f"   open/write/os.replace             {t_plain / k * 1e6:7.1f} µs")
        print(f"   write_bytes, durable=False        {t_nf / k * 1e6:7.1f} µs")
        print(f"   write_bytes (fsync file + dir)    {t_f / k * 1e6:7.1f} µs")


if __name__ == "__main__":
    main()
