"""Scoring-file parser: compiled happy path vs the polars path. Run: `uv run python bench/bench_scorefile.py`.

Uses the benchmark scoring files already generated under `<cache>/prsgazer/bench/` (by bench_engine.py
and the panel benchmark): five large harmonised files (800,000 rows, gzip) and small plain ones
(30,000 rows). Prints the best of `--repeat` runs (the machine may be shared): µs per row and ms per
file for `_parse` (gunzip included), each path, plus gunzip alone.

Options: `--repeat N` (default 5), `--files N` (small files per run, default 20), `--all` (also every
file of the panel benchmark's 505, once per path), `--cold` (measure the compile of the kernels in
a fresh cache directory, in a subprocess).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platformdirs

BENCH = Path(platformdirs.user_cache_dir("prsgazer", appauthor=False)) / "bench"
LARGE = "scores_panel_3202x1000000_s42_500x200000_5x800000_all"
SMALL = "wgs_scores_100x30000"


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    if args.cold:
        cold()
        return
    from isal import igzip

    from prsgazer.engine.scorefile import read as sf

    large = sorted((BENCH / LARGE).glob("*.txt.gz"), key=lambda p: p.stat().st_size)[-1:]
    small = sorted((BENCH / SMALL).glob("*.txt"))[: args.files]
    if not large or not small:
        sys.exit(f"benchmark files not found under {BENCH} (run bench/bench_engine.py first)")
    sf.parse_file(small[0], "x", use_compiled=True)  # numba import and cached kernel load, once per process

    def parse(files: list[Path], fast: bool = True) -> int:
        got = [sf.parse_file(p, "x", use_compiled=fast) for p in files]
        assert all(g.reader == ("compiled" if fast else "polars (not chosen)") for g in got), got[0].reader
        return sum(g.variants.height for g in got)

    for label, files in (("large harmonised (gzip)", large), ("small plain", small)):
        rows = parse(files)
        out = {}
        for fast in (True, False):
            out[fast] = _best(lambda files=files, fast=fast: parse(files, fast), args.repeat)
        gz = _best(lambda files=files: [igzip.decompress(p.read_bytes()) for p in files if p.suffix == ".gz"], 3)
        per = rows / len(files)
        print(f"{label}: {len(files)} file(s) of {per:,.0f} rows")
        for fast, name in ((True, "fast"), (False, "polars")):
            t = out[fast]
            print(f"  {name:6s} {t / rows * 1e6:6.3f} µs/row  {t / len(files) * 1e3:8.2f} ms/file")
        if files[0].suffix == ".gz":
            print(f"  gunzip {gz / rows * 1e6:6.3f} µs/row  {gz / len(files) * 1e3:8.2f} ms/file")
    if args.all:
        every = sorted((BENCH / LARGE).glob("*.txt.gz"))
        for fast in (True, False):
            t = time.perf_counter()
            rows = parse(every, fast)
            t = time.perf_counter() - t
            name = "fast" if fast else "polars"
            print(f"all {len(every)} files, {name:6s}: {rows:,} rows in {t:.2f} s, {t / rows * 1e6:.3f} µs/row")
    # fixed cost: a tiny file
    tiny = Path(tempfile.mkdtemp()) / "tiny.txt"
    tiny.write_text(
        "#pgs_id=PGS1\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t5\tA\tC\t0.5\n"
    )
    for fast, name in ((True, "fast"), (False, "polars")):
        t = _best(lambda fast=fast: sf.parse_file(tiny, "x", use_compiled=fast), args.repeat * 20)
        print(f"one-row file, {name:6s}: {t * 1e3:.2f} ms")


def cold() -> None:
    """Fresh processes: compile the kernels (empty NUMBA_CACHE_DIR), then load them from that cache."""
    code = (
        "import time; t0 = time.perf_counter(); import numba; t1 = time.perf_counter();"
        "from pathlib import Path; from prsgazer.engine.scorefile import read as sf;"
        "p = Path(sys.argv[1]); t2 = time.perf_counter(); got = sf.parse_file(p, 'x', use_compiled=True);"
        "t3 = time.perf_counter();"
        "assert got.reader == 'compiled', got.reader;"
        "print(f'import numba {t1 - t0:.2f} s, first parse {t3 - t2:.2f} s')"
    )
    small = sorted((BENCH / SMALL).glob("*.txt"))[0]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("compile (empty cache)", "cached"):
            r = subprocess.run([sys.executable, "-c", "import sys;" + code, str(small)], env=env, capture_output=True)
            print(f"{label}: {r.stdout.decode().strip() or r.stderr.decode()[-500:]}")


if __name__ == "__main__":
    main()
