"""Engine benchmarks (issue 3 targets), side by side with plink2. Run: `uv run python bench/bench_engine.py`.

Data is generated once under the user cache dir (`<cache>/prsgazer/bench/`, never in the repository)
and reused. Each measured step runs in a fresh subprocess so its wall time and peak RSS are its own.

1. A single-sample whole-genome VCF.gz of 5,000,000 records: read + normalise (target ≤ 15 s, ≤ 2 GB).
2. That person against 100 scores totalling 3,000,000 weights, after normalisation (target ≤ 5 s).
3. A 2,504-sample × 100,000-variant pfile against 20 scores: prsgazer vs plink2 `--score` (ratio).

Options: `--quick` (smaller sizes, for a smoke run), `--only 1,2,3`, `--keep` (reuse outputs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
import polars as pl

HERE = Path(__file__).resolve().parent
GRCH38 = {
    "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259, "6": 170805979,
    "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422, "11": 135086622, "12": 133275309,
    "13": 114364328, "14": 107043718, "15": 101991189, "16": 90338345, "17": 83257441, "18": 80373285,
    "19": 58617616, "20": 64444167, "21": 46709983, "22": 50818468,
}  # fmt: skip


def bench_dir() -> Path:
    d = Path(platformdirs.user_cache_dir("prsgazer", appauthor=False)) / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def measure(code: str, *, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run Python `code` in a fresh interpreter: (wall seconds, peak RSS MiB, stdout)."""
    return measure_cmd([sys.executable, "-c", code], env=env)


@dataclass
class CmdStats:
    """One measured command: wall seconds, its peak RSS (MiB), its CPU seconds (user + system), output."""

    wall: float
    rss_mib: float
    cpu: float
    stdout: str
    stderr: str


def measure_cmd_stats(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> CmdStats:
    """Run a command under /usr/bin/time -v when available (its own peak RSS and CPU time, reported to a
    file so the command's stderr stays its own), else via rusage. Exits with the output on failure."""
    full_env = {**os.environ, **(env or {})}
    if Path("/usr/bin/time").exists():
        with tempfile.TemporaryDirectory() as tmp:
            stats = Path(tmp) / "time.txt"
            t = time.perf_counter()
            proc = subprocess.run(["/usr/bin/time", "-v", "-o", str(stats), *cmd], capture_output=True, text=True,
                                  env=full_env, cwd=cwd)  # fmt: skip
            wall = time.perf_counter() - t
            text = stats.read_text() if stats.exists() else ""
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
        field = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines())}
        rss = int(field["Maximum resident set size (kbytes)"]) / 1024
        cpu = float(field["User time (seconds)"]) + float(field["System time (seconds)"])
        return CmdStats(wall, rss, cpu, proc.stdout, proc.stderr)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=cwd)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return CmdStats(wall, max(before.ru_maxrss, after.ru_maxrss) / 1024, cpu, proc.stdout, proc.stderr)


def measure_cmd(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float, str]:
    """Run a command under /usr/bin/time -v when available (its own peak RSS), else via rusage."""
    r = measure_cmd_stats(cmd, env=env, cwd=cwd)
    return r.wall, r.rss_mib, r.stdout


# ------------------------------------------------------------------------------------------------
# data


def make_wgs_vcf(
    path: Path, n_records: int, seed: int = 1, lowqual_rate: float = 0.03, multiallelic_rate: float = 0.01
) -> None:
    """A GATK-like single-sample WGS VCF.gz: SNVs and indels, some multi-allelic and filtered records.

    With `lowqual_rate=0, multiallelic_rate=0` every record is PASS and biallelic, the rest unchanged
    (bench_peers: gnomon ignores FILTER and scores multi-allelic sites, prsgazer by default does neither)."""
    rng = np.random.default_rng(seed)
    lengths = np.array(list(GRCH38.values()), dtype=np.float64)
    per_chrom = np.floor(lengths / lengths.sum() * n_records).astype(np.int64)
    per_chrom[0] += n_records - per_chrom.sum()
    header = ["##fileformat=VCFv4.2", '##FILTER=<ID=PASS,Description="All filters passed">']
    header += [f"##contig=<ID=chr{c},length={ln}>" for c, ln in GRCH38.items()]
    header += [
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        "##reference=file:///ref/GRCh38_full_analysis_set_plus_decoy_hla.fa",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPERSON",
    ]
    bases = np.array(list("ACGT"))
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(("\n".join(header) + "\n").encode())
        for (chrom, length), n in zip(GRCH38.items(), per_chrom, strict=True):
            # same draws as choice(np.arange(10_000, length - 10_000)) without a 2 GB array per chromosome
            pos = np.sort(rng.choice(length - 20_000, n, replace=False).astype(np.int64) + 10_000)
            ref_i = rng.integers(0, 4, n)
            alt_i = (ref_i + rng.integers(1, 4, n)) % 4
            ref = bases[ref_i].astype(object)
            alt = bases[alt_i].astype(object)
            indel = rng.random(n) < 0.12
            alt[indel] = ref[indel] + bases[rng.integers(0, 4, int(indel.sum()))]
            multi = rng.random(n) < multiallelic_rate
            alt[multi] = alt[multi] + "," + bases[(alt_i[multi] + 1) % 4]
            gt = np.where(rng.random(n) < 0.6, "0/1", "1/1").astype(object)
            gt[multi] = "1/2"
            dp = rng.integers(8, 60, n)
            gq = rng.integers(5, 99, n)
            filt = np.where(rng.random(n) < lowqual_rate, "LowQual", "PASS")
            ids = np.where(rng.random(n) < 0.8, "rs" + rng.integers(1, 10**9, n).astype(str).astype(object), ".")
            frame = pl.DataFrame(
                {
                    "c": np.full(n, "chr" + chrom, dtype=object),
                    "p": pos,
                    "id": ids,
                    "r": ref,
                    "a": alt,
                    "q": (rng.random(n) * 1000).round(2),
                    "f": filt,
                    "i": ["DP=" + str(d) + ";MQ=60.00;QD=12.5;FS=0.000;SOR=0.693" for d in dp],
                    "fmt": np.full(n, "GT:AD:DP:GQ", dtype=object),
                    "s": [f"{g}:{d // 2},{d - d // 2}:{d}:{q}" for g, d, q in zip(gt, dp, gq, strict=True)],
                }
            )
            fh.write(frame.write_csv(separator="\t", include_header=False, quote_style="never").encode())


def make_scorefiles(vcf_sites: pl.DataFrame, out: Path, n_scores: int, n_rows: int, seed: int = 2) -> list[Path]:
    """PGS-format files whose rows sit mostly on the person's variant sites (some elsewhere)."""
    rng = np.random.default_rng(seed)
    ambiguous = pl.concat_str("ref", "alt").is_in(["AT", "TA", "CG", "GC"])
    snv = vcf_sites.filter(
        (pl.col("ref").str.len_chars() == 1) & (pl.col("alt").str.len_chars() == 1) & ~ambiguous
    ).unique(["chrom", "pos"], keep="none")  # strand-ambiguous and multi-allelic sites would be excluded
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for k in range(n_scores):
        p = out / f"PGS9{k:05d}.txt"
        paths.append(p)
        if p.exists():
            continue
        pick = np.sort(rng.choice(snv.height, n_rows, replace=False))
        sub = snv[pick]
        flip = rng.random(n_rows) < 0.5
        ea = np.where(flip, sub["ref"].to_numpy(), sub["alt"].to_numpy())
        oa = np.where(flip, sub["alt"].to_numpy(), sub["ref"].to_numpy())
        pos = sub["pos"].to_numpy().copy()
        pos[rng.random(n_rows) < 0.1] += 1  # 10 % absent from the person's VCF
        body = pl.DataFrame(
            {
                "rsID": sub["id"],
                "chr_name": sub["chrom"],
                "chr_position": pos,
                "effect_allele": ea,
                "other_allele": oa,
                "effect_weight": rng.normal(0, 0.01, n_rows).round(8),
            }
        ).write_csv(separator="\t")
        head = f"#format_version=2.0\n#pgs_id=PGS9{k:05d}\n#genome_build=GRCh38\n#variants_number={n_rows}\n"
        p.write_text(head + body)
    return paths


def make_cohort(
    d: Path, n_samples: int, n_variants: int, n_scores: int, seed: int = 3, missing_rate: float = 0.005
) -> tuple[Path, list[Path], Path]:
    """pfile + 20 PGS-format scorefiles + the equivalent plink2 multi-column scorefile.

    `missing_rate` of the calls are missing (bench_peers uses 0: gnomon counts a missing call as 0
    where prsgazer and plink2 mean-impute, so only complete data gives all three the same sums)."""
    import pgenlib

    prefix = d / "cohort"
    rng = np.random.default_rng(seed)
    bases = np.array(list("ACGT"))
    ref_i = rng.integers(0, 4, n_variants)
    alt_i = (ref_i + 2) % 4  # no strand-ambiguous pairs: every row scores in both tools
    pos = np.sort(rng.choice(240_000_000 - 10_000, n_variants, replace=False) + 10_000)  # = choice(arange(10_000, …))
    if not Path(str(prefix) + ".pgen").exists():
        p = rng.uniform(0.02, 0.5, n_variants)
        w = pgenlib.PgenWriter(bytes(str(prefix) + ".pgen", "utf-8"), n_samples, n_variants, False)
        for lo in range(0, n_variants, 5000):
            hi = min(lo + 5000, n_variants)
            g = (rng.random((hi - lo, n_samples)) < p[lo:hi, None]).astype(np.int8)
            g += (rng.random((hi - lo, n_samples)) < p[lo:hi, None]).astype(np.int8)
            g[rng.random(g.shape) < missing_rate] = -9
            w.append_biallelic_batch(g)
        w.close()
        pl.DataFrame(
            {
                "#CHROM": ["1"] * n_variants,
                "POS": pos,
                "ID": [f"v{i}" for i in range(n_variants)],
                "REF": bases[ref_i],
                "ALT": bases[alt_i],
            }
        ).write_csv(str(prefix) + ".pvar", separator="\t")
        Path(str(prefix) + ".psam").write_text("#IID\n" + "".join(f"S{i:05d}\n" for i in range(n_samples)))
    files = []
    plink_sf = d / "cohort.plink.score"
    weights = np.zeros((n_variants, n_scores))
    effect = np.where(rng.random(n_variants) < 0.5, bases[ref_i], bases[alt_i])
    other = np.where(effect == bases[ref_i], bases[alt_i], bases[ref_i])
    for k in range(n_scores):
        rows = np.sort(rng.choice(n_variants, n_variants // 2, replace=False))
        w = rng.normal(0, 0.05, rows.size).round(8)
        weights[rows, k] = w
        f = d / f"COH{k:02d}.txt"
        files.append(f)
        if not f.exists():
            body = pl.DataFrame(
                {
                    "chr_name": ["1"] * rows.size,
                    "chr_position": pos[rows],
                    "effect_allele": effect[rows],
                    "other_allele": other[rows],
                    "effect_weight": w,
                }
            ).write_csv(separator="\t")
            f.write_text(f"#pgs_id=COH{k:02d}\n#genome_build=GRCh37\n" + body)
    if not plink_sf.exists():
        cols = {"ID": [f"v{i}" for i in range(n_variants)], "A1": effect}
        cols.update({f"COH{k:02d}": weights[:, k] for k in range(n_scores)})
        pl.DataFrame(cols).write_csv(plink_sf, separator="\t")
    return prefix, files, plink_sf


# ------------------------------------------------------------------------------------------------
# benchmarks


def bench_wgs(d: Path, n_records: int, n_scores: int, n_rows: int, only: set[str]) -> dict:
    vcf = d / f"wgs_{n_records}.vcf.gz"
    if not vcf.exists():
        print(f"generating {vcf} ({n_records:,} records)…", flush=True)
        t = time.perf_counter()
        make_wgs_vcf(vcf, n_records)
        print(
            f"  generated in {time.perf_counter() - t:.1f} s, {vcf.stat().st_size / 2**20:.0f} MiB",
            flush=True,
        )
    norm = d / f"wgs_{n_records}.parquet"
    out: dict = {}
    if "1" in only or not norm.exists():
        norm.unlink(missing_ok=True)
        code = (
            "from prsgazer.engine.genotypes.vcf import normalize_vcf\n"
            f"s = normalize_vcf({str(vcf)!r}, {str(norm)!r})\n"
            "print(s.n_records, s.n_variant_rows, s.n_records_failing_filters)"
        )
        wall, rss, text = measure(code)
        out["normalise"] = {"seconds": wall, "peak_rss_mib": rss, "records": int(text.split()[0])}
        print(
            f"[1] read + normalise {int(text.split()[0]):,} records: {wall:.2f} s, peak RSS {rss:.0f} MiB "
            f"(targets ≤ 15 s, ≤ 2048 MiB)",
            flush=True,
        )
    if "2" in only:
        sites = pl.read_parquet(norm, columns=["chrom", "pos", "id", "ref", "alt"])
        files = make_scorefiles(sites, d / f"wgs_scores_{n_scores}x{n_rows}", n_scores, n_rows)
        del sites
        cache = d / "cache_wgs"
        shutil.rmtree(cache, ignore_errors=True)
        code = f"""
import json, time
from pathlib import Path
from prsgazer.engine.scoring.run import RunOptions, run_scoring
files = [Path(p) for p in {[str(f) for f in files]!r}]
t = time.perf_counter()
run = run_scoring({str(norm)!r}, files, RunOptions(cache_dir=Path({str(cache)!r})))
total = time.perf_counter() - t
s = run.match.summaries
print(json.dumps(dict(total=total, timings=run.timings, scores=sum(x.passed for x in s),
      weights=sum(x.n_variants for x in s), matched=sum(x.n_matched for x in s),
      absent=run.absent.describe())))
"""
        runs = [("cold: scoring files parsed", 1), ("warm: parsed-file cache", 3)]
        for label, repeat in runs:
            best = None
            for _ in range(repeat):
                wall, rss, text = measure(code)
                info = json.loads(text.strip().splitlines()[-1])
                if best is None or info["total"] < best[2]["total"]:
                    best = (wall, rss, info)
            assert best is not None
            wall, rss, info = best
            out.setdefault("score_person", []).append({"label": label, "wall": wall, "rss": rss, **info})
            steps = ", ".join(f"{k} {v:.2f}" for k, v in info["timings"].items())
            print(
                f"[2] person × {info['scores']} scores, {info['weights']:,} weights "
                f"({info['matched']:,} matched), {label} (best of {repeat}): {info['total']:.2f} s in "
                f"run_scoring ({steps}); {wall:.2f} s wall with interpreter start and imports; "
                f"peak RSS {rss:.0f} MiB (target ≤ 5 s)",
                flush=True,
            )
        print(f"    {info['absent']}", flush=True)
    return out


def bench_cohort(d: Path, n_samples: int, n_variants: int, n_scores: int) -> dict:
    d = d / f"cohort_{n_samples}x{n_variants}x{n_scores}"
    d.mkdir(exist_ok=True)
    prefix, files, plink_sf = make_cohort(d, n_samples, n_variants, n_scores)
    plink2 = shutil.which("plink2")
    out: dict = {}
    cache = d / "cache_cohort"
    shutil.rmtree(cache, ignore_errors=True)
    env = {"PRSGAZER_CACHE_DIR": str(cache)}
    args = [
        str(Path(sys.executable).parent / "prsgazer"),
        "score",
        str(prefix),
        "--out",
        str(d / "cohort.out.tsv"),
    ]
    for f in files:
        args += ["-s", str(f)]
    for label, repeat in (("cold", 1), ("warm", 3)):
        wall, rss = min(measure_cmd(args, env=env)[:2] for _ in range(repeat))
        out[f"prsgazer_cli_{label}"] = {"seconds": wall, "peak_rss_mib": rss}
        print(
            f"[3] prsgazer score (CLI, {label} cache, best of {repeat}): {wall:.2f} s, peak RSS {rss:.0f} MiB",
            flush=True,
        )
    code = f"""
import time
from pathlib import Path
from prsgazer.engine.scoring.run import RunOptions, run_scoring
t = time.perf_counter()
run = run_scoring({str(prefix)!r}, {[str(f) for f in files]!r}, RunOptions(cache_dir=Path({str(cache)!r})))
print(time.perf_counter() - t, *run.timings.values())
"""
    engine = min(float(measure(code)[2].split()[0]) for _ in range(3))
    out["prsgazer_engine_run_scoring"] = engine
    print(f"[3] prsgazer run_scoring in process (pfile → scores, best of 3): {engine:.2f} s", flush=True)
    if plink2 is None:
        print("[3] plink2 not installed: no ratio")
        return out
    cmd = [plink2, "--pfile", str(prefix), "--score", str(plink_sf), "1", "2", "header-read"]
    cmd += [
        "cols=+scoresums,+denom",
        "--score-col-nums",
        f"3-{n_scores + 2}",
        "--out",
        str(d / "cohort.plink2"),
    ]
    wall_p, rss_p = min(measure_cmd(cmd)[:2] for _ in range(3))
    out["plink2"] = {"seconds": wall_p, "peak_rss_mib": rss_p}
    cli = out["prsgazer_cli_warm"]["seconds"]
    print(
        f"[3] plink2 --score (best of 3): {wall_p:.2f} s, peak RSS {rss_p:.0f} MiB\n"
        f"[3] ratio plink2 / prsgazer: CLI end to end {wall_p / cli:.2f}×, engine in process "
        f"{wall_p / engine:.2f}× (≥ 1 means prsgazer is at least as fast)",
        flush=True,
    )
    # same numbers, to plink2's printed precision?
    ours = pl.read_csv(d / "cohort.out.tsv", separator="\t").filter(pl.col("pgs_id") == "COH00")
    ref = pl.read_csv(str(d / "cohort.plink2") + ".sscore", separator="\t", infer_schema=False)
    same = sum(f"{x:.6g}" == y for x, y in zip(ours["sum"], ref["COH00_SUM"], strict=True))
    out["same_printed_sum_COH00"] = f"{same}/{ours.height}"
    print(f"[3] COH00 SUM equal to plink2 at 6 significant digits: {same}/{ours.height} samples")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--only", default="1,2,3", help="which benchmarks (comma-separated: 1,2,3)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    d = bench_dir()
    print(f"benchmark data: {d}; {os.cpu_count()} CPU(s); python {sys.version.split()[0]}", flush=True)
    results: dict = {}
    if only & {"1", "2"}:
        if args.quick:
            results["wgs"] = bench_wgs(d, 200_000, 10, 20_000, only)
        else:
            results["wgs"] = bench_wgs(d, 5_000_000, 100, 30_000, only)
    if "3" in only:
        results["cohort"] = bench_cohort(d, 2504, 10_000 if args.quick else 100_000, 20)
    (d / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results: {d / 'results.json'}")


if __name__ == "__main__":
    main()
