"""Reference-side benchmark (issue 4), side by side with plink2. Run: `uv run python bench/bench_reference.py`.

Workload: a simulated panel of 3,202 samples × 1,000,000 variants (5 superpopulations, msprime) and
500 scoring files whose sizes are log-spaced from 10 to 200,000 variants plus 5 genome-wide scores of
800,000 variants, drawn from the panel's variants. A third of msprime's SNPs are strand-ambiguous
(A/T, C/G), so the benchmark matches with `keep_ambiguous` (pgsc_calc's --keep_ambiguous) on both sides:
every row matches and the score sizes are exact. Data lives under `$PRSGAZER_CACHE_DIR/bench/`, else
`<user cache>/prsgazer/bench/` (never in the repository), and is reused (the panel takes ~20 min to
simulate once).

Measured, each in a fresh subprocess (wall time and its own peak RSS from /usr/bin/time -v), with the
1-minute load average before and after (the machine may be shared):
1. prsgazer `batch_score`, end to end (interpreter start and imports, hash, parse, match, score, write
   505 parquet results and manifests), cold (empty parsed-scoring-file and panel caches) and warm
   (scoring files parsed once before, as a reference pipeline scoring the same Catalog files against
   panels does; the cold run keeps them, `cache_scorefiles=True`, which a batch does not by default):
   scores/second.
2. plink2 `--score` on one combined file of the same matched variants (ALT as A1, one weight column per
   score, REF-effect weights re-expressed on ALT), all score columns at once with `--score-col-nums`,
   `--threads <cores>` and `--memory <same limit>`. Its time is the whole process: reading its score
   file and the pfile, scoring, writing the .sscore. Against it: prsgazer's whole run (which also
   parses and matches) and prsgazer's score + write laps (file writing on both sides). The sums are
   compared to plink2's printed precision.
   Debian's plink2 links the system `libblas.so.3`, the unoptimised reference BLAS unless OpenBLAS is
   installed (plink2 then takes ~6× longer here). For a fair comparison, give plink2 OpenBLAS, as the
   official builds have: `apt-get install libopenblas0-pthread`, or without touching the system,
   `apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb <bench dir>/openblas/root`
   (used automatically, as is the copy bench/peers.py unpacks under `<bench dir>/peers/`; `--plink2-lib DIR`
   sets plink2's LD_LIBRARY_PATH). The BLAS used is printed. bench/bench_peers.py runs this case against
   gnomon and plink2 + OpenBLAS side by side.
3. The same batch on a panel with twice the variants (the 1M copied once more at other positions,
   never matched): the chunks and the peak RSS stay the same but for the larger variant table.

Options: `--quick` (1,000 samples × 60,000 variants, 100 + 2 scores), `--skip-plink2`, `--skip-doubled`,
`--repeats N` (warm runs), `--memory-limit 2GB`, `--plink2-lib DIR`. Results are also written to
`<bench dir>/reference_results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_engine import measure, measure_cmd  # noqa: E402


def bench_dir() -> Path:
    """`$PRSGAZER_CACHE_DIR/bench`, else `<user cache>/prsgazer/bench` (never inside the repository)."""
    root = os.environ.get("PRSGAZER_CACHE_DIR")
    if root:
        d = Path(root).expanduser() / "bench"
    else:
        import platformdirs

        d = Path(platformdirs.user_cache_dir("prsgazer", appauthor=False)) / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ------------------------------------------------------------------------------------------------
# data


def ensure_panel(d: Path, n_samples: int, n_variants: int, seed: int = 42) -> Path:
    prefix = d / "panel" / f"panel_{n_samples}x{n_variants}_s{seed}"
    # the .pvar/.psam are written (atomically) after the .pgen is complete: a cut run leaves none
    if not all(Path(f"{prefix}{ext}").exists() for ext in (".pgen", ".pvar", ".psam")):
        print(f"simulating the panel {prefix.name} (msprime; ~17 min for 3,202 × 1M on this machine)…", flush=True)
        t = time.perf_counter()
        from prsgazer.synthetic.simulate import synthesize_panel

        synthesize_panel(prefix, n_samples, n_variants, seed=seed, genome_build="GRCh38")
        print(f"  simulated in {time.perf_counter() - t:.0f} s", flush=True)
    return prefix


def read_pvar_table(prefix: Path) -> pl.DataFrame:
    return pl.read_csv(f"{prefix}.pvar", separator="\t", comment_prefix="##", schema_overrides={"#CHROM": pl.String})


def ensure_scorefiles(
    d: Path, prefix: Path, n_scores: int, max_size: int, n_genome_wide: int, gw_size: int
) -> list[Path]:
    from prsgazer.synthetic.simulate import write_scorefile

    out = d / f"scores_{prefix.name}_{n_scores}x{max_size}_{n_genome_wide}x{gw_size}_all"
    out.mkdir(parents=True, exist_ok=True)
    sizes = [round(x) for x in np.geomspace(10, max_size, n_scores)] + [gw_size] * n_genome_wide
    paths = [out / f"PGS9{k:05d}.txt.gz" for k in range(len(sizes))]
    if all(p.exists() for p in paths):
        return paths
    print(f"writing {len(paths)} scoring files ({sum(sizes):,} rows)…", flush=True)
    pvar = read_pvar_table(prefix)
    for k, (p, n) in enumerate(zip(paths, sizes, strict=True)):
        if not p.exists():
            write_scorefile(pvar, p, pgs_id=f"PGS9{k:05d}", n_variants=n, seed=1000 + k, genome_build="GRCh38")
    return paths


def ensure_doubled(prefix: Path) -> Path:
    """The panel with its variants written twice (second copy at positions + 300,000,000: never matched)."""
    import pgenlib

    out = prefix.with_name(prefix.name + "_x2")
    if Path(f"{out}.pgen").exists():
        return out
    print(f"writing the doubled panel {out.name}…", flush=True)
    r = pgenlib.PgenReader(f"{prefix}.pgen".encode())
    n, m = r.get_raw_sample_ct(), r.get_variant_ct()
    w = pgenlib.PgenWriter(f"{out}.pgen.tmp".encode(), n, variant_ct=2 * m, nonref_flags=False)
    buf = np.empty((65536, n), dtype=np.int8)
    for _copy in range(2):
        for lo in range(0, m, 65536):
            hi = min(lo + 65536, m)
            r.read_range(lo, hi, buf[: hi - lo])
            w.append_biallelic_batch(np.ascontiguousarray(buf[: hi - lo]))
    w.close()
    r.close()
    os.replace(f"{out}.pgen.tmp", f"{out}.pgen")
    pvar = read_pvar_table(prefix)
    second = pvar.with_columns(pl.col("POS") + 300_000_000).with_columns(
        ID=pl.format("{}:{}:{}:{}", pl.col("#CHROM"), pl.col("POS"), pl.col("REF"), pl.col("ALT"))
    )
    pl.concat([pvar, second]).write_csv(f"{out}.pvar", separator="\t")
    shutil.copy(f"{prefix}.psam", f"{out}.psam")
    return out


# ------------------------------------------------------------------------------------------------
# runs

BATCH_CODE = """
import json, sys, time
from pathlib import Path
from prsgazer.engine.reference.panel import open_panel
from prsgazer.engine.scoring.batch import batch_score
from prsgazer.engine.scoring.match import MatchOptions
files = [Path(l) for l in Path({files!r}).read_text().split()]
t = time.perf_counter()
panel = open_panel({prefix!r}, cache_dir=Path({cache!r}))
r = batch_score(panel, files, out_dir=Path({out!r}), cache_dir=Path({cache!r}), memory_limit={limit!r},
                match_options=MatchOptions(keep_ambiguous=True), cache_scorefiles={keep!r})
wall = time.perf_counter() - t
print(json.dumps({{"wall": wall, "n_ok": r.n_ok, "n_failed": r.n_failed, "n_cached": r.n_cached,
                  "n_union": r.n_union_variants, "n_chunks": r.n_chunks, "timings": r.timings,
                  "chunk_variants": r.memory.chunk_variants if r.memory else None,
                  "n_dense": r.memory.n_dense if r.memory else None}}))
from prsgazer.cli import leave
leave(0)  # as the CLI ends (`prsgazer reference`): without the interpreter's ~0.25 s teardown of every module
"""


def run_batch(d: Path, prefix: Path, files: list[Path], limit: str, *, cold: bool, tag: str,
              cache_tag: str = "main") -> dict:  # fmt: skip
    out = d / "runs" / f"batch_{tag}"
    shutil.rmtree(out, ignore_errors=True)
    cache = d / "runs" / f"cache_{cache_tag}"
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    lst = d / "runs" / "files.txt"
    lst.parent.mkdir(parents=True, exist_ok=True)
    lst.write_text("\n".join(str(f) for f in files))
    # the parsed files are kept (PRSGAZER_BATCH_CACHE_SCOREFILES=true), as a pipeline scoring the same files
    # against several panels would: the warm runs read them
    code = BATCH_CODE.format(files=str(lst), prefix=str(prefix), cache=str(cache), out=str(out), limit=limit, keep=True)
    env = {"PRSGAZER_CACHE_DIR": str(cache)}
    load = os.getloadavg()[0]
    wall, rss, stdout = measure(code, env=env)
    res = json.loads(stdout.strip().splitlines()[-1])
    res.update(process_wall=wall, peak_rss_mib=rss, out_dir=str(out), load=[load, os.getloadavg()[0]])
    return res


def warm_panel(prefix: Path, cache: Path) -> None:
    """Open the panel once (its variant table and CIDs cached), so a measured run does not parse the .pvar."""
    from prsgazer.engine.reference.panel import open_panel

    open_panel(prefix, cache_dir=cache).cids()


def write_plink2_file(prefix: Path, files: list[Path], path: Path, cache: Path) -> tuple[list[str], dict[str, float]]:
    """Match with prsgazer, then one plink2 score file: ID, A1 (= ALT), one ALT-oriented weight column per
    score. Returns the score names and, per score, the constant Σ 2w over REF-effect rows."""
    from prsgazer.engine.reference.panel import open_panel
    from prsgazer.engine.scorefile import read_scorefiles
    from prsgazer.engine.scoring.match import MatchOptions, match_variants

    panel = open_panel(prefix, cache_dir=cache)
    parts, const, names = [], {}, []
    for lo in range(0, len(files), 50):
        _, rows = read_scorefiles(files[lo : lo + 50], cache_dir=cache)
        m = match_variants(rows, panel.variants, MatchOptions(keep_ambiguous=True))
        w = m.weights.filter(pl.col("score_passed")).with_columns(pl.col("accession").cast(pl.String))
        names += m.passed
        w = w.with_columns(
            pl.when(pl.col("effect_is_alt"))
            .then(pl.col("effect_weight"))
            .otherwise(-pl.col("effect_weight"))
            .alias("wa")
        )
        const.update(
            dict(
                w.filter(~pl.col("effect_is_alt"))
                .group_by("accession")
                .agg((2 * pl.col("effect_weight")).sum())
                .iter_rows()
            )
        )
        parts.append(w.select("vidx", "accession", "wa"))
    allw = pl.concat(parts).sort("vidx")
    vidx_all = allw["vidx"].to_numpy()
    col_all = allw["accession"].replace_strict({n: i for i, n in enumerate(names)}, return_dtype=pl.Int64).to_numpy()
    w_all = allw["wa"].to_numpy()
    vidx = np.unique(vidx_all)
    var = panel.variants[vidx]
    with open(path, "w") as fh:  # in pieces of 100,000 variants: a dense 1M × 505 table would take 4 GB
        fh.write("\t".join(["ID", "A1", *names]) + "\n")
        for lo in range(0, len(vidx), 100_000):
            hi = min(lo + 100_000, len(vidx))
            a, b = np.searchsorted(vidx_all, [vidx[lo], vidx[hi - 1] + 1])
            dense = np.zeros((hi - lo, len(names)))
            np.add.at(dense, (np.searchsorted(vidx[lo:hi], vidx_all[a:b]), col_all[a:b]), w_all[a:b])
            frame = pl.DataFrame({"ID": var["id"][lo:hi], "A1": var["alt"][lo:hi]}).hstack(
                pl.DataFrame(dense, schema=names, orient="row")
            )
            fh.write(frame.write_csv(separator="\t", include_header=False, float_precision=None))
    return names, const


#: Where `apt-get download libopenblas0-pthread && dpkg -x <deb> <bench dir>/openblas/root` puts OpenBLAS.
OPENBLAS_UNDER_BENCH = "openblas/root/usr/lib/x86_64-linux-gnu/openblas-pthread"


def plink2_env(lib: str | None) -> dict[str, str]:
    """LD_LIBRARY_PATH for plink2 only (an optimised BLAS for Debian's plink2, which links libblas.so.3)."""
    return {"LD_LIBRARY_PATH": lib} if lib else {}


def plink2_blas(lib: str | None) -> str:
    """The BLAS library plink2 loads (from ldd), e.g. .../openblas-pthread/libblas.so.3."""
    import subprocess

    exe = shutil.which("plink2") or "plink2"
    try:  # Debian's plink2 is a script choosing /usr/lib/plink2/plink2-<cpu>: ask ldd about the one it runs
        head = Path(exe).read_bytes()[:2]
        if head == b"#!":
            cands = sorted(Path("/usr/lib/plink2").glob("plink2-*"))
            exe = str(next((c for c in cands if c.name.endswith("avx2")), cands[0])) if cands else exe
        out = subprocess.run(["ldd", exe], capture_output=True, text=True, env={**os.environ, **plink2_env(lib)})
        line = next((ln for ln in out.stdout.splitlines() if "libblas" in ln), "")
        return line.split("=>")[-1].split("(")[0].strip() or "statically linked / unknown"
    except (OSError, StopIteration, IndexError):
        return "unknown"


def run_plink2(
    prefix: Path, scorefile: Path, n_scores: int, out: Path, threads: int, memory_mib: int, lib: str | None = None
) -> tuple[float, float]:
    """plink2 on the same cores and memory as prsgazer (`--threads`, `--memory` in MiB)."""
    cmd = ["plink2", "--threads", str(threads), "--memory", str(memory_mib), "--pfile", str(prefix),
           "--score", str(scorefile), "1", "2", "header-read", "cols=+scoresums",
           "--score-col-nums", f"3-{2 + n_scores}", "--out", str(out)]  # fmt: skip
    wall, rss, _ = measure_cmd(cmd, env=plink2_env(lib))
    return wall, rss


def compare(out_dir: Path, sscore: Path, names: list[str], const: dict[str, float]) -> dict:
    """Our sums (re-expressed on ALT, as plink2's) against plink2's printed ones (%g, 6 significant digits).

    - `max_diff_in_last_digit_units`: |ours − plink2| in units of plink2's last printed digit (≤ 0.5
      means ours rounds to within half a unit of what plink2 printed). Values printed as 0, or ~1e-9 of
      the score's largest, are measured against that floor (a sum that cancels to 0 has no digits).
    - `max_rel_diff_to_score_scale`: |ours − plink2| / the score's largest |sum| (printing: ≤ 5e-6).
    - `printed_differences`: values whose %.6g text differs — sums of 6-digit weights over few variants
      are often exact 7-digit decimals ending in 5, printed up or down by one unit by either side.
    """
    from prsgazer.engine.scoring.batch import read_result_meta

    ref = pl.read_csv(sscore, separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))
    worst_rel, worst_units, printed_diff, total = 0.0, 0.0, 0, 0
    by_acc = {read_result_meta(p)["accession"]: p for p in out_dir.glob("*.parquet")}
    for acc in names:
        mine = pl.read_parquet(by_acc[acc])["sum"].to_numpy() - const.get(acc, 0.0)  # ALT-oriented, as plink2's
        printed = ref[f"{acc}_SUM"]
        theirs = printed.cast(pl.Float64).to_numpy()
        scale = max(float(np.max(np.abs(theirs))), 1e-300)
        diff = np.abs(mine - theirs)
        worst_rel = max(worst_rel, float(np.max(diff)) / scale)
        unit = 10.0 ** (np.floor(np.log10(np.maximum(np.abs(theirs), 1e-9 * scale))) - 5)
        worst_units = max(worst_units, float(np.max(diff / unit)))
        total += len(mine)
        printed_diff += int(sum(f"{a:.6g}" != b for a, b in zip(mine, printed, strict=True)))
    return {
        "max_rel_diff_to_score_scale": worst_rel,
        "max_diff_in_last_digit_units": worst_units,
        "printed_differences": printed_diff,
        "values": total,
    }


# ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-plink2", action="store_true")
    ap.add_argument("--skip-doubled", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument(
        "--plink2-lib", default=None, help=f"LD_LIBRARY_PATH for plink2 (default: <bench dir>/{OPENBLAS_UNDER_BENCH})"
    )
    a = ap.parse_args()
    d = bench_dir()
    if a.plink2_lib is None:  # here, or where bench/peers.py unpacks it (<bench dir>/peers/openblas/…)
        a.plink2_lib = next(
            (str(p) for p in (d / OPENBLAS_UNDER_BENCH, d / "peers" / OPENBLAS_UNDER_BENCH) if p.is_dir()), None
        )
    if a.quick:
        n_samples, n_variants, n_scores, max_size, n_gw, gw = 1000, 60_000, 100, 12_000, 2, 48_000
    else:
        n_samples, n_variants, n_scores, max_size, n_gw, gw = 3202, 1_000_000, 500, 200_000, 5, 800_000
    prefix = ensure_panel(d, n_samples, n_variants)
    files = ensure_scorefiles(d, prefix, n_scores, max_size, n_gw, gw)
    n_total = len(files)
    results: dict = {"workload": {"samples": n_samples, "variants": n_variants, "scores": n_total,
                                  "limit": a.memory_limit}}  # fmt: skip

    cold = run_batch(d, prefix, files, a.memory_limit, cold=True, tag="main")
    warm = [run_batch(d, prefix, files, a.memory_limit, cold=False, tag="main") for _ in range(a.repeats)]
    best = min(warm, key=lambda r: r["process_wall"])
    results["prsgazer_cold"] = cold
    results["prsgazer_warm"] = warm
    print(f"prsgazer cold: {cold['process_wall']:.1f} s, peak {cold['peak_rss_mib']:.0f} MiB, {cold['timings']}")
    for w in warm:
        print(f"prsgazer warm: {w['process_wall']:.1f} s, peak {w['peak_rss_mib']:.0f} MiB, {w['timings']}")

    plink = None
    if not a.skip_plink2 and shutil.which("plink2"):
        sf = d / "runs" / f"plink2_{prefix.name}_{n_total}.tsv"
        names_file = sf.with_suffix(".json")
        if not sf.exists() or not names_file.exists():
            print("writing the combined plink2 score file…", flush=True)
            names, const = write_plink2_file(prefix, files, sf, d / "runs" / "cache_main")
            names_file.write_text(json.dumps({"names": names, "const": const}))
        info = json.loads(names_file.read_text())
        print(f"plink2 --score on {sf.stat().st_size / 1e9:.2f} GB, {len(info['names'])} columns…", flush=True)
        from prsgazer.engine.scoring.batch import parse_memory

        blas = plink2_blas(a.plink2_lib)
        print(f"plink2 BLAS: {blas}", flush=True)
        load = os.getloadavg()[0]
        wall, rss = run_plink2(prefix, sf, len(info["names"]), d / "runs" / "plink2_out", os.cpu_count() or 1,
                               max(1, parse_memory(a.memory_limit) // 2**20), a.plink2_lib)  # fmt: skip
        plink = {"wall": wall, "peak_rss_mib": rss, "file_gb": sf.stat().st_size / 1e9, "blas": blas,
                 "load": [load, os.getloadavg()[0]]}  # fmt: skip
        plink["agreement"] = compare(Path(best["out_dir"]), d / "runs" / "plink2_out.sscore", info["names"],
                                     info["const"])  # fmt: skip
        results["plink2"] = plink
        print(f"plink2: {wall:.1f} s, peak {rss:.0f} MiB; agreement {plink['agreement']}")

    doubled = None
    if not a.skip_doubled:
        p2 = ensure_doubled(prefix)
        warm_panel(p2, d / "runs" / "cache_main")
        doubled = run_batch(d, p2, files, a.memory_limit, cold=False, tag="x2")
        results["prsgazer_doubled"] = doubled
        print(f"prsgazer 2× variants: {doubled['process_wall']:.1f} s, peak {doubled['peak_rss_mib']:.0f} MiB")

    # ---- table
    tb = best["timings"]
    step_s = tb.get("score", 0.0) + tb.get("write results", 0.0)
    cw, bw = cold["process_wall"], best["process_wall"]
    n_rows = sum(round(x) for x in np.geomspace(10, max_size, n_scores)) + gw * n_gw
    loads = [x for r in [cold, *warm, *([plink] if plink else []), *([doubled] if doubled else [])] for x in r["load"]]
    rows = [
        ("workload", f"{n_total} scores", f"{n_samples:,} samples × {n_variants:,} variants, {n_rows:,} score rows",
         ""),
        ("machine", f"{os.cpu_count()} cores", f"1-min load average {min(loads):.1f}–{max(loads):.1f} during runs", ""),
        ("prsgazer end-to-end, cold parse", f"{cw:.1f} s", f"{n_total / cw:.1f} scores/s, peak "
         f"{cold['peak_rss_mib'] / 1024:.2f} GiB", ""),
        (f"prsgazer end-to-end, warm (best of {len(warm)})", f"{bw:.1f} s",
         f"{n_total / bw:.1f} scores/s, peak {best['peak_rss_mib'] / 1024:.2f} GiB", "≥ 20 scores/s"),
        ("  parse + match / score / write", f"{tb.get('parse + match', 0):.1f} s",
         f"{tb.get('score', 0):.1f} s / {tb.get('write results', 0):.1f} s "
         f"({best['n_chunks']} chunks × {best['chunk_variants']:,} variants)", ""),
        ("prsgazer peak RSS (cold, warm)", f"{max(cold['peak_rss_mib'], best['peak_rss_mib']) / 1024:.2f} GiB",
         f"memory limit {a.memory_limit}", "≤ 4 GB"),
    ]  # fmt: skip
    if plink:
        agree = plink["agreement"]
        rows += [
            ("plink2 --score, all columns at once", f"{plink['wall']:.1f} s",
             f"peak {plink['peak_rss_mib'] / 1024:.2f} GiB, BLAS {Path(plink['blas']).parent.name or plink['blas']}",
             ""),
            ("ratio plink2 / prsgazer end-to-end (warm)", f"{plink['wall'] / bw:.1f}×",
             "prsgazer: start, parse, match, score, write", "≥ 2×"),
            ("ratio plink2 / prsgazer score + write", f"{plink['wall'] / max(step_s, 1e-9):.1f}×",
             "files written on both sides", ""),
            ("agreement with plink2", f"≤ {agree['max_diff_in_last_digit_units']:.2f} last-digit units",
             f"{agree['printed_differences']:,} of {agree['values']:,} printed values differ (ties)", ""),
        ]  # fmt: skip
    if doubled:
        grow = (doubled["peak_rss_mib"] - best["peak_rss_mib"]) / 1024
        rows.append(("2× variants: peak RSS (warm)", f"{doubled['peak_rss_mib'] / 1024:.2f} GiB",
                     f"{grow:+.2f} GiB vs 1× (variant table); {doubled['n_chunks']} chunks × "
                     f"{doubled['chunk_variants']:,} ({doubled['process_wall']:.1f} s)", "same peak"))  # fmt: skip
    w0 = max(len(r[0]) for r in rows)
    print()
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:>14}  {r[2]:<62} {r[3]}")
    (d / "reference_results.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
