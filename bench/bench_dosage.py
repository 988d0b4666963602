"""A cohort of imputed dosages at scale (issue 13, point 5): prsgazer and plink2 + OpenBLAS score the same
dosage .pgen. Run: `uv run python bench/bench_dosage.py [--quick]`. See docs/benchmarks.md ("dosage").

Data (generated once under `<bench dir>`, reused; `--prepare` only builds it):
- `panel/bn_dosage_<n>x<m>_s7.pgen/.pvar/.psam`: the Balding–Nichols panel of bench/bn_panel.py with
  imputation-like dosages (`write_bn_dosage_panel`: r·g + (1 − r)·2p + noise, r ~ U(0.4, 1) per variant,
  3 decimals), written by pgenlib's `PgenWriter.append_dosages_batch` in blocks of 1,024 variants.
  Full size 20,000 × 300,000: ~13 GB on disk. No missing dosages.
- `scores_bn_dosage_…`: PGS Catalog-format files (bench_reference.ensure_scorefiles): k − g files of
  10…m/5 rows (log-spaced) and g genome-wide ones of 4m/5 rows (g ≈ 6 % of k: 3 of 50), half the rows
  with REF as the effect allele.

Sizes: full 20,000 samples × 300,000 variants × 50 scores; `--quick` 2,000 × 100,000 × 10; each can be
overridden (`--samples`, `--variants`, `--scores`).

What is measured, each in its own process, with /usr/bin/time -v (wall, CPU, peak RSS):
- `prsgazer score PREFIX -s … --out scores.tsv` (the venv's CLI, reading the .pgen's dosages as it does
  by default), cold (empty PRSGAZER_CACHE_DIR) and warm (the parsed scoring files and variant table kept);
- plink2 + OpenBLAS (bench/peers.py): `--pfile PREFIX --score FILE 1 2 header-read cols=+scoresums
  --score-col-nums 3-…` with `--threads` = all cores and `--memory 1907` (2 GB, prsgazer's default
  limit), on one score file made from an independent match (bench/peers_check.py; ID, A1 = ALT, one
  ALT-oriented weight column per score, REF-effect weights negated and Σ 2w added back to its SUM).
  Writing it is input preparation, not timed. `--reference-blas` adds Debian's plink2 as shipped.

Before timing, the environment's bytecode is compiled once (`ensure_bytecode`: where
PYTHONDONTWRITEBYTECODE is set, each prsgazer process would otherwise compile its imports from source),
and an untimed run with one scoring file fills numba's on-disk cache (`warm_compiled_code`: a copy's
first run compiles the decoder and kernels, ~6 s of CPU). "Cold" below means an empty prsgazer cache
dir (scoring files and variant table parsed), not a first run after installing.

Checks: every sum of prsgazer against plink2's (max |Δ| over samples and scores; prsgazer must agree within
1e-4, plink2 printing 6 significant digits), and against numpy (the .pgen's dosages read with pgenlib,
times the weights; computed once and kept) on three scores. The OS page cache is warmed before each
tool (the whole .pgen is read once); whether it fits in RAM is printed. The issue's goal is printed with
the verdict, for prsgazer cold and warm: at least 2× as fast as plink2 + OpenBLAS (wall), with a peak
RSS of at most 2 GB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402
import peers_check as pc  # noqa: E402
from bench_engine import measure_cmd_stats  # noqa: E402
from bench_peers import Row, Workload, cpu_model, numpy_checks, prsgazer_cli, run_plink2s, warm_page_cache  # noqa: E402
from bench_reference import bench_dir, ensure_scorefiles  # noqa: E402
from bn_panel import ensure_bn_dosage_panel  # noqa: E402

#: samples, variants, scores
FULL = (20_000, 300_000, 50)
QUICK = (2_000, 100_000, 10)
#: the issue's goal: prsgazer ≥ 2× plink2 + OpenBLAS's speed, peak RSS ≤ 2 GB (2e9 bytes, as plink2's --memory 1907)
SPEEDUP_GOAL = 2.0
RSS_GOAL_MIB = 2e9 / 2**20
#: prsgazer's sums must equal plink2's within this, per sample and score (plink2 prints 6 significant digits)
TOLERANCE = 1e-4


def score_layout(n_variants: int, n_scores: int) -> tuple[int, int, int, int]:
    """(log-spaced files, their largest size, genome-wide files, their size): batch300k's shape scaled."""
    n_gw = min(n_scores, max(1, round(0.06 * n_scores)))
    return n_scores - n_gw, max(10, n_variants // 5), n_gw, n_variants * 4 // 5


def prepare(d: Path, n: int, m: int, k: int) -> tuple[Path, list[Path]]:
    prefix = ensure_bn_dosage_panel(d, n, m)
    n_small, max_size, n_gw, gw = score_layout(m, k)
    return prefix, ensure_scorefiles(d, prefix, n_small, max_size, n_gw, gw)


def ensure_bytecode() -> str:
    """Byte-compile the environment and the package once (`compileall`, as `uv sync --compile-bytecode`
    would): where PYTHONDONTWRITEBYTECODE is set, as on the development VM, every prsgazer process would
    otherwise compile its ~900 imported modules from source (~1.8 s of CPU a run) — a cost no installed
    copy pays. Files already compiled are skipped."""
    import subprocess
    import sysconfig

    t = time.perf_counter()
    dirs = [sysconfig.get_paths()["purelib"], str(REPO / "src")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs], check=False, capture_output=True)
    return f"bytecode of {', '.join(dirs)} checked in {time.perf_counter() - t:.0f} s"


def warm_compiled_code(prefix: Path, scorefile: Path, run_dir: Path) -> str:
    """One untimed `prsgazer score` with one scoring file on the same .pgen, so that numba's on-disk cache
    holds the compiled code (the .pgen decoder, the kernels) before timing: a copy's first run compiles
    it (~6 s of CPU), later runs load it, as the bytecode. Returns a note with what the warm-up took."""
    cache = run_dir / "warmup_cache"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [prsgazer_cli(), "score", str(prefix), "-s", str(scorefile), "--out", str(run_dir / "warmup.tsv")]
    st = measure_cmd_stats(cmd, env={"PRSGAZER_CACHE_DIR": str(cache)})
    return f"compiled code warmed by an untimed run with {scorefile.name} ({st.wall:.1f} s, CPU {st.cpu:.1f} s)"


def page_cache_note(paths: list[Path]) -> str:
    size = sum(p.stat().st_size for p in paths)
    avail = next(
        (int(ln.split()[1]) * 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
         if ln.startswith("MemAvailable:")), 0)  # fmt: skip
    fits = "fits" if size < 0.8 * avail else "may not fit"
    return f"inputs {size / 1e9:.1f} GB; {avail / 1e9:.1f} GB available: the page cache {fits}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK[0]:,} × {QUICK[1]:,} × {QUICK[2]} scores")
    ap.add_argument("--samples", type=int, help=f"samples (default {FULL[0]:,})")
    ap.add_argument("--variants", type=int, help=f"variants (default {FULL[1]:,})")
    ap.add_argument("--scores", type=int, help=f"scoring files (default {FULL[2]})")
    ap.add_argument("--prepare", action="store_true", help="only generate the data (and install the peers)")
    ap.add_argument("--no-warm", action="store_true", help="skip prsgazer's warm run")
    ap.add_argument("--reference-blas", action="store_true", help="also Debian's plink2 (reference BLAS): slow")
    a = ap.parse_args()
    base = QUICK if a.quick else FULL
    n, m, k = a.samples or base[0], a.variants or base[1], a.scores or base[2]
    d = bench_dir()
    plinks = peers.plink2_peers()
    if not a.reference_blas:
        plinks = [p for p in plinks if "OpenBLAS" in p.label]
    prefix, files = prepare(d, n, m, k)
    if a.prepare:
        print(f"data ready: {prefix}.pgen, {len(files)} scoring files in {files[0].parent}")
        return
    t0 = time.perf_counter()
    wl = run(d, prefix, files, plinks, n=n, m=m, warm=not a.no_warm)
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"\n\nprsgazer vs plink2 on dosages, {when}: {cpu_model()}, {os.cpu_count()} cores "
          f"({time.perf_counter() - t0:.0f} s in all)")  # fmt: skip
    print(f"{peers.plink2_version()}; " + "; ".join(f"{p.label}: {p.blas}" for p in plinks))
    print("prsgazer/tool below 1: prsgazer is faster (wall, CPU) or smaller (peak RSS)")
    wl.print()
    ok = verdict(wl)
    name = f"dosage_results_{n}x{m}x{k}.json"
    (d / "runs").mkdir(exist_ok=True)
    result = {"date": when, "cores": os.cpu_count(), "cpu": cpu_model(), "plink2": peers.plink2_version(),
              "samples": n, "variants": m, "scores": k, "workload": asdict(wl)}  # fmt: skip
    for path in (d / name, d / "runs" / f"{name[:-5]}_{time.strftime('%Y%m%d-%H%M%S')}.json"):
        path.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nresults: {d / name}")
    if not ok:
        raise SystemExit("prsgazer's sums disagree with plink2's: the figures above are worthless")


def run(d: Path, prefix: Path, files: list[Path], plinks: list[peers.Plink2], *, n: int, m: int,
        warm: bool) -> Workload:  # fmt: skip
    run_dir = d / "runs" / f"dosage_{prefix.name}_{len(files)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"[dosage] preparing (independent match, plink2 score file, numpy check) in {run_dir}…", flush=True)
    match, psf, const, check = pc.pfile_comparison(prefix, files, run_dir)
    ref_np = cached_numpy_sums(prefix, match, check, run_dir)
    inputs = [Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam")] + files
    n_gw = score_layout(m, len(files))[2]
    compiled = ensure_bytecode()
    warmed = warm_compiled_code(prefix, sorted(files)[len(files) // 2], run_dir)
    wl = Workload(
        "dosage",
        f"cohort of imputed dosages: {n:,} samples × {m:,} variants (.pgen dosages), {len(files)} scores, "
        f"{match.n_rows:,} rows",
        [f"{prefix}.pgen ({Path(f'{prefix}.pgen').stat().st_size / 1e9:.1f} GB): Balding–Nichols frequencies, "
         "dosage r·g + (1 − r)·2p + noise (r ~ U(0.4, 1) per variant), no missing dosages",
         f"{len(files) - n_gw} files of 10…{score_layout(m, len(files))[1]:,} rows + {n_gw} genome-wide of "
         f"{score_layout(m, len(files))[3]:,}; effect allele REF or ALT at random; "
         f"{match.rows['vidx'].n_unique():,} distinct variants", page_cache_note(inputs), compiled, warmed],
        "prsgazer score (CLI), cold",
    )  # fmt: skip
    warm_page_cache([*inputs, psf])
    wl.start()
    out, cache = run_dir / "prsgazer.tsv", run_dir / "prsgazer_cache"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [prsgazer_cli(), "score", str(prefix), "--out", str(out)]
    for f in files:
        cmd += ["-s", str(f)]
    env = {"PRSGAZER_CACHE_DIR": str(cache)}
    st = measure_cmd_stats(cmd, env=env)
    ours = pc.prsgazer_tsv_sums(out)
    sources = pl.read_csv(out, separator="\t", columns=["dosage_source"])["dosage_source"].unique().to_list()
    wl.add(Row.of("prsgazer score (CLI), cold", st, f"empty cache dir; scored: {', '.join(sources)}",
                  pc.prsgazer_tsv_matched(out)))  # fmt: skip
    wl.load.append(os.getloadavg()[0])
    if warm:
        warm_page_cache(inputs)
        st = measure_cmd_stats(cmd, env=env)
        wl.add(Row.of("prsgazer score (CLI), warm", st, "scoring files and variant table parsed before",
                      pc.prsgazer_tsv_matched(out)).compare(ours, pc.prsgazer_tsv_sums(out)))  # fmt: skip
        wl.load.append(os.getloadavg()[0])
    warm_page_cache([*inputs, psf])
    note = f"score file {psf.stat().st_size / 1e9:.2f} GB, {len(match.names)} columns (from the independent match)"
    psums = run_plink2s(wl, plinks, ["--pfile", str(prefix)], psf, match, run_dir, ours, const, note=note)
    wl.load.append(os.getloadavg()[0])
    which = ", ".join(f"{s}: {match.counts[s]:,} rows" for s in check)
    numpy_checks(wl, ref_np, {"prsgazer": ours, **psums}, f"3 scores, {which}; the .pgen's dosages")
    return wl


def cached_numpy_sums(prefix: Path, match: pc.Match, scores: list[str], run_dir: Path) -> pl.DataFrame:
    """numpy's sums of `scores` from the .pgen's dosages, computed once per match (~3 min at full size)."""
    key = hashlib.sha256(f"{prefix.name}:{match.rows.hash_rows(seed=1).sum()}:{scores}".encode()).hexdigest()[:12]
    path = run_dir / f"numpy_sums_{key}.parquet"
    if path.exists():
        return pl.read_parquet(path)
    t = time.perf_counter()
    sums = pc.numpy_sums(Path(f"{prefix}.pgen"), match.rows, scores, pc.psam_iids(prefix), "zero", dosages=True)
    print(f"  numpy sums of {len(scores)} scores in {time.perf_counter() - t:.0f} s", flush=True)
    for old in run_dir.glob("numpy_sums_*.parquet"):
        old.unlink()
    sums.write_parquet(path)
    return sums


def verdict(wl: Workload) -> bool:
    """Print the issue's goal against the figures (prsgazer cold and warm against each plink2); False when
    prsgazer's sums disagree with plink2's."""
    ours = [r for r in wl.rows if not r.peer]
    peers_ = [r for r in wl.rows if r.peer]
    print("\n   issue 13 goal: prsgazer ≥ 2× plink2 + OpenBLAS's speed (wall), peak RSS ≤ 2 GB")
    ok = True
    for p in peers_:
        agree = p.diff_abs is not None and p.diff_abs <= TOLERANCE
        ok &= agree
        print(f"   - sums: {p.tool} {'agrees' if agree else 'DISAGREES'} with prsgazer (max |Δ| per sample "
              f"{p.diff_abs:.2e}, tolerance {TOLERANCE:g})")  # fmt: skip
        for r in ours:
            speed = p.wall / r.wall
            met = "met" if speed >= SPEEDUP_GOAL else "NOT met"
            print(f"   - {r.tool}: {speed:.2f}× the speed of {p.tool} (CPU {p.cpu / r.cpu:.2f}×): {met}")
    for r in ours:
        small = r.rss <= RSS_GOAL_MIB
        print(f"   - {r.tool}: peak RSS {r.rss:,.0f} MiB {'≤' if small else '>'} {RSS_GOAL_MIB:,.0f} MiB (2 GB): "
              f"{'met' if small else 'NOT met'}")  # fmt: skip
    return ok


if __name__ == "__main__":
    main()
