"""prsgazer side by side with its strongest peers (issue 15). Run: `uv run python bench/bench_peers.py [--quick]`.

Peers (installed by bench/peers.py outside the project's dependencies, under `<user cache>/prsgazer/bench/peers/`):
gnomon (gnomon-pgs, Rust, in its own venv), plink2 + OpenBLAS (Debian's plink2 with
`LD_LIBRARY_PATH` pointing at an unpacked libopenblas0-pthread, verified with LD_DEBUG=libs), and
Debian's plink2 as shipped (reference BLAS). Every tool runs in its own subprocess, measured for wall
time and peak RSS (/usr/bin/time -v), on all cores, in one run; one table per workload with the ratios
prsgazer/tool (below 1: prsgazer is faster / smaller), the rows each tool matched, and the largest
difference of its sums from prsgazer's. The load average is printed at the start and end of each workload.

Workloads (full size; `--quick` shrinks each so the whole harness runs in a few minutes):
- missing: how each tool treats missing calls (CINECA chr22, 2,504 samples, 829 variants, 96 missing
  calls), each tool's sums against numpy with missing → 0 and with mean imputation.
- batch300k: batch, cold: a 3,202-sample × 300,000-variant Balding–Nichols panel (.pgen, bench/bn_panel.py),
  203 PGS Catalog-format files (200 log-spaced 10…60,000 rows, 3 genome-wide of 240,000; half the rows
  with REF as the effect allele). prsgazer `batch_score` in a fresh process with an empty cache dir,
  then the rerun with every result stored; gnomon on a fresh copy of the score dir, then again with
  its converted files kept; plink2 `--score` with all scores as columns of one file.
- batch1m: the same on bench_reference.py's case: msprime panel 3,202 × 1,000,000, 505 files.
- person1: one person (a single-sample VCF of every panel site, 0/0 included) × one 51,209-row score,
  warm: `uv run prsgazer score`, the venv's `prsgazer score`, the operations layer in process
  (`prsgazer.ops.score.score_files`: first call and later calls), gnomon, plink2 (`--vcf`).
- person100: bench_engine.py [2]: a 5,000,000-record WGS VCF × 100 scores / 3,000,000 weights, cold
  (every record PASS here: gnomon and plink2 ignore FILTER where prsgazer drops failing calls).
- cohort: bench_engine.py [3]: 2,504 samples × 100,000 variants × 20 scores (no missing calls here).

Fairness: the data has no missing calls (but in `missing`) and no strand-ambiguous pairs (but in
batch1m, where prsgazer runs with keep_ambiguous, as gnomon keeps them), so all tools score the same
rows; plink2 gets a score file made from an independent match (chromosome, position, allele pair:
its input preparation is not timed), ALT as A1 with REF-effect weights negated and Σ 2w added back.
"Cold" means empty tool caches (prsgazer: new PRSGAZER_CACHE_DIR and out dir; gnomon: a fresh copy of
its score dir). The OS page cache is warm for every tool (inputs are read once before timing).

Options: `--quick`, `--only missing,batch300k,…`, `--repeats N` (warm runs, median), `--skip-reference-blas`
(no Debian-BLAS plink2 on the batch workloads, where it takes minutes), `--gnomon-version`. Results also go
to `<bench dir>/peers_results[_quick].json`. Data is generated once under `<bench dir>` and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402
from bench_engine import make_cohort, make_scorefiles, make_wgs_vcf, measure, measure_cmd  # noqa: E402
from bench_reference import BATCH_CODE, bench_dir, ensure_panel, ensure_scorefiles, read_pvar_table  # noqa: E402
from bn_panel import ensure_bn_panel  # noqa: E402

MEMORY = "2GB"
PLINK2_MEMORY_MIB = 1907  # the same 2 GB


# ------------------------------------------------------------------------------------------------
# results


@dataclass
class Row:
    tool: str
    wall: float
    rss: float
    note: str = ""
    matched: int | None = None
    diff_abs: float | None = None
    diff_rel: float | None = None
    compared: str = ""
    runs: list[float] = field(default_factory=list)

    @property
    def peer(self) -> bool:
        return self.tool.startswith(("gnomon", "plink2"))


@dataclass
class Workload:
    key: str
    title: str
    detail: list[str]
    ref_tool: str = ""
    rows: list[Row] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {row.tool}: {row.wall:.2f} s, peak {row.rss:.0f} MiB {row.note}", flush=True)
        return row

    def print(self) -> None:
        ref = next((r for r in self.rows if r.tool == self.ref_tool), None)
        print(f"\n== {self.title}")
        for d in self.detail:
            print(f"   {d}")
        print(f"   1-min load average {self.load[0]:.2f} at start, {self.load[-1]:.2f} at end; {os.cpu_count()} cores")
        head = (
            "tool",
            "wall s",
            "peak MiB",
            "prsgazer/tool wall",
            "prsgazer/tool RSS",
            "matched rows",
            "max |Δ| vs prsgazer (rel. to score scale)",
        )
        w0 = max(len(head[0]), *(len(r.tool) for r in self.rows))
        print(f"   {head[0]:<{w0}}  {head[1]:>8}  {head[2]:>8}  {head[3]:>18}  {head[4]:>17}  {head[5]:>12}  {head[6]}")
        for r in self.rows:
            rw = f"{ref.wall / r.wall:.2f}" if ref and r.peer and r.wall > 0 else ""
            rr = f"{ref.rss / r.rss:.2f}" if ref and r.peer and r.rss > 0 else ""
            m = f"{r.matched:,}" if r.matched is not None else ""
            if r.diff_abs is None:
                d = "(reference)" if r.tool == self.ref_tool else ""
            else:
                d = f"{r.diff_abs:.2e} ({r.diff_rel:.1e}) {r.compared}"
            print(f"   {r.tool:<{w0}}  {r.wall:>8.2f}  {r.rss:>8.0f}  {rw:>18}  {rr:>17}  {m:>12}  {d}")
            if r.note:
                print(f"   {'':<{w0}}    {r.note}")
        for c in self.checks:
            print(f"   - {c}")


def timed_runs(fn, n: int) -> tuple[float, float, list[float], object]:
    """Run fn() n times ((wall, rss, extra) each): median wall, the matching run's RSS, all walls, last extra."""
    res = [fn() for _ in range(n)]
    walls = [r[0] for r in res]
    med = statistics.median(walls)
    best = min(res, key=lambda r: abs(r[0] - med))
    return med, best[1], walls, res[-1][2]


def spread(walls: list[float]) -> str:
    return f"median of {len(walls)}: {min(walls):.2f}…{max(walls):.2f} s" if len(walls) > 1 else ""


def warm_page_cache(paths: list[Path]) -> None:
    """Read every input once, so no tool pays the first disk read."""
    for p in paths:
        if p.is_dir():
            warm_page_cache(sorted(p.iterdir()))
        elif p.exists():
            with open(p, "rb") as fh:
                while fh.read(1 << 24):
                    pass


# ------------------------------------------------------------------------------------------------
# scoring files, an independent match, plink2 score files, numpy sums


def read_score_rows(paths: list[Path]) -> pl.DataFrame:
    """All rows of PGS Catalog-format files: score, chrom, pos, ea, oa, w (harmonised columns preferred)."""
    parts = []
    for p in paths:
        name = None
        import gzip

        opener = gzip.open if p.name.endswith(".gz") else open
        with opener(p, "rt") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                if line.startswith("#pgs_id="):
                    name = line.strip().split("=", 1)[1]
        t = pl.read_csv(p, separator="\t", comment_prefix="#", infer_schema=False)
        chrom, pos = ("hm_chr", "hm_pos") if "hm_chr" in t.columns else ("chr_name", "chr_position")
        parts.append(
            t.select(
                pl.lit(name or p.name.split(".")[0]).alias("score"),
                pl.col(chrom).str.replace("^chr", "").alias("chrom"),
                pl.col(pos).cast(pl.Int64).alias("pos"),
                pl.col("effect_allele").alias("ea"),
                pl.col("other_allele").alias("oa"),
                pl.col("effect_weight").cast(pl.Float64).alias("w"),
            )
        )
    return pl.concat(parts)


@dataclass
class Match:
    """An independent match: `rows` under pgsc_calc's rule (a variant matched by two rows of one score
    is dropped from it: prsgazer does so; plink2 would refuse the duplicate ID), with their counts per
    score, and per score the distinct variants of all matches (what gnomon counts: it sums such rows)."""

    rows: pl.DataFrame
    counts: dict[str, int]
    gnomon_n: dict[str, int]
    n_duplicate_rows: int
    all_rows: pl.DataFrame

    def duplicates_note(self) -> str:
        return (
            (
                f"{self.n_duplicate_rows} rows matched a variant that another row of the same score also "
                "matched: prsgazer (pgsc_calc's rule), the numpy check and plink2's file leave both out, "
                "gnomon adds them and counts the variant once"
            )
            if self.n_duplicate_rows
            else ""
        )


def independent_match(rows: pl.DataFrame, target: pl.DataFrame) -> Match:
    """Rows whose chromosome, position and allele pair (either orientation) are a target variant.

    target: vidx, chrom, pos, id, ref, alt. Rows: score, vidx, id, alt, w, effect_is_alt.
    """
    j = rows.join(target, on=["chrom", "pos"], how="inner")
    j = j.filter(
        ((pl.col("ea") == pl.col("alt")) & (pl.col("oa") == pl.col("ref")))
        | ((pl.col("ea") == pl.col("ref")) & (pl.col("oa") == pl.col("alt")))
    )
    j = j.select("score", "vidx", "id", "alt", "w", (pl.col("ea") == pl.col("alt")).alias("effect_is_alt"))
    dup = j.select(pl.len().over("score", "vidx") > 1).to_series()
    kept = j.filter(~dup)
    return Match(
        rows=kept,
        counts=dict(kept.group_by("score").len().iter_rows()),
        gnomon_n=dict(j.unique(["score", "vidx"]).group_by("score").len().iter_rows()),
        n_duplicate_rows=int(dup.sum()),
        all_rows=j,
    )


def write_plink2_scores(m: pl.DataFrame, names: list[str], path: Path) -> dict[str, float]:
    """One plink2 score file (ID, A1 = ALT, one column per score; REF-effect weights negated); returns,
    per score, Σ 2w over its REF-effect rows, to add to plink2's SUM. Zeros are written as 0."""
    col = {n: i for i, n in enumerate(names)}
    m = m.sort("vidx")
    vidx_all = m["vidx"].to_numpy()
    c_all = m["score"].replace_strict(col, return_dtype=pl.Int64).to_numpy()
    w_all = np.where(m["effect_is_alt"].to_numpy(), 1.0, -1.0) * m["w"].to_numpy()
    const = dict(m.filter(~pl.col("effect_is_alt")).group_by("score").agg((2 * pl.col("w")).sum()).iter_rows())
    first = m.unique("vidx", keep="first", maintain_order=True)
    vidx, ids, alts = first["vidx"].to_numpy(), first["id"], first["alt"]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write("\t".join(["ID", "A1", *names]) + "\n")
        step = max(1, 20_000_000 // max(len(names), 1))
        for lo in range(0, len(vidx), step):
            hi = min(lo + step, len(vidx))
            a, b = np.searchsorted(vidx_all, [vidx[lo], vidx[hi - 1] + 1])
            dense = np.zeros((hi - lo, len(names)))
            np.add.at(dense, (np.searchsorted(vidx[lo:hi], vidx_all[a:b]), c_all[a:b]), w_all[a:b])
            frame = pl.DataFrame(dense, schema=names, orient="row").select(
                pl.when(pl.col(n) == 0).then(pl.lit("0")).otherwise(pl.col(n).cast(pl.String)).alias(n) for n in names
            )
            frame = pl.DataFrame({"ID": ids[lo:hi], "A1": alts[lo:hi]}).hstack(frame)
            fh.write(frame.write_csv(separator="\t", include_header=False, quote_style="never"))
    os.replace(tmp, path)
    return const


def cached_plink2_scores(m: pl.DataFrame, names: list[str], run: Path) -> tuple[Path, dict[str, float]]:
    """write_plink2_scores once per distinct match (keyed by its content): big files are reused."""
    import hashlib

    key = hashlib.sha256(f"{m.height}:{m.hash_rows(seed=1).sum()}:{names}".encode()).hexdigest()[:12]
    psf, meta = run / f"plink2_scores_{key}.tsv", run / f"plink2_scores_{key}.json"
    if not psf.exists() or not meta.exists():
        for old in run.glob("plink2_scores*"):
            old.unlink()
        meta.write_text(json.dumps(write_plink2_scores(m, names, psf)))
    return psf, json.loads(meta.read_text())


def numpy_sums(pgen: Path, m: pl.DataFrame, scores: list[str], sample_ids: list[str], missing: str) -> pl.DataFrame:
    """Σ w × effect-allele dosage per sample, straight from the .pgen (pgenlib), for `scores`.

    missing: "zero" (a missing call contributes 0) or "mean" (2 × effect-allele frequency among the
    samples with a call at that variant).
    """
    import pgenlib

    sub = m.filter(pl.col("score").is_in(scores)).sort("vidx")
    r = pgenlib.PgenReader(str(pgen).encode())
    n = r.get_raw_sample_ct()
    out = {s: np.zeros(n) for s in scores}
    try:
        for lo in range(0, sub.height, 50_000):
            part = sub[lo : lo + 50_000]
            v = part["vidx"].to_numpy().astype(np.uint32)
            uniq, inv = np.unique(v, return_inverse=True)
            g = np.empty((len(uniq), n), dtype=np.int8)
            r.read_list(uniq, g)
            g = g[inv].astype(np.float64)
            miss = g < 0
            alt = part["effect_is_alt"].to_numpy()
            d = np.where(alt[:, None], g, 2 - g)
            if missing == "mean":
                called = (~miss).sum(1)
                mean = np.where(miss, 0, d).sum(1) / np.maximum(called, 1)
                d = np.where(miss, mean[:, None], d)
            else:
                d[miss] = 0
            w = part["w"].to_numpy()
            sc = part["score"].to_numpy()
            for s in np.unique(sc):
                k = sc == s
                out[s] += w[k] @ d[k]
    finally:
        r.close()
    return pl.concat(pl.DataFrame({"sample_id": sample_ids, "score": s, "sum": out[s]}) for s in scores)  # long


def psam_iids(prefix: Path) -> list[str]:
    t = pl.read_csv(f"{prefix}.psam", separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))
    return t["IID"].to_list()


def agreement(ref: pl.DataFrame, other: pl.DataFrame) -> tuple[float, float, str]:
    """max |Δ|, max |Δ| / the score's largest |sum| over samples, and how many values were compared."""
    j = ref.join(other, on=["sample_id", "score"], how="inner", suffix="_o")
    scale = ref.group_by("score").agg(pl.col("sum").abs().max().alias("scale"))
    j = j.join(scale, on="score").with_columns(d=(pl.col("sum") - pl.col("sum_o")).abs())
    rel = (j["d"] / j["scale"].clip(lower_bound=1e-300)).max()
    note = f"{j.height:,} values" + ("" if j.height == ref.height else f" of {ref.height:,}!")
    return float(j["d"].max() or 0.0), float(rel or 0.0), note


def compare_into(row: Row, ref: pl.DataFrame, sums: pl.DataFrame) -> None:
    row.diff_abs, row.diff_rel, row.compared = agreement(ref, sums)


# ------------------------------------------------------------------------------------------------
# reading each tool's sums (long: sample_id, score, sum)


def prsgazer_batch_sums(out_dir: Path) -> pl.DataFrame:
    from prsgazer.engine.scoring.batch import read_result_meta

    parts = []
    for p in sorted(out_dir.glob("*.parquet")):
        acc = read_result_meta(p)["accession"]
        parts.append(pl.read_parquet(p, columns=["sample_id", "sum"]).with_columns(score=pl.lit(acc)))
    return pl.concat(parts).select("sample_id", "score", "sum")


def prsgazer_batch_matched(out_dir: Path) -> int:
    """Rows prsgazer matched, over every score (from each result's match summary)."""
    from prsgazer.engine.scoring.batch import read_result_meta

    return sum(int(read_result_meta(p)["summary"]["n_matched"]) for p in out_dir.glob("*.parquet"))


def prsgazer_tsv_matched(path: Path) -> int:
    t = pl.read_csv(path, separator="\t", infer_schema_length=0).unique("pgs_id")
    return int(t["n_matched"].cast(pl.Int64).sum())


def log_count(text: str, pattern: str) -> str:
    import re

    found = re.search(pattern, text)
    return f"{int(found.group(1)):,}" if found else "?"


def prsgazer_tsv_sums(path: Path) -> pl.DataFrame:
    t = pl.read_csv(path, separator="\t", infer_schema_length=0)
    return t.select(pl.col("sample_id"), pl.col("pgs_id").alias("score"), pl.col("sum").cast(pl.Float64))


def gnomon_sums(sscore: Path, counts: dict[str, int]) -> tuple[pl.DataFrame, int]:
    wide, n_missing = peers.read_gnomon_sums(sscore, counts)
    return wide.unpivot(index="sample_id", variable_name="score", value_name="sum"), n_missing


def plink2_sums(sscore: Path, names: list[str], const: dict[str, float]) -> pl.DataFrame:
    t = pl.read_csv(sscore, separator="\t", infer_schema_length=0).rename(lambda c: c.lstrip("#"))
    return pl.concat(
        t.select(
            pl.col("IID").alias("sample_id"),
            pl.lit(n).alias("score"),
            (pl.col(f"{n}_SUM").cast(pl.Float64) + const.get(n, 0.0)).alias("sum"),
        )
        for n in names
    )


# ------------------------------------------------------------------------------------------------
# runners


def run_prsgazer_batch(prefix: Path, files: list[Path], run_dir: Path, cache: Path, *, rerun: bool) -> Row:
    out = run_dir / "prsgazer_out"
    if not rerun:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    lst = run_dir / "files.txt"
    lst.write_text("\n".join(str(f) for f in files))
    code = BATCH_CODE.format(files=str(lst), prefix=str(prefix), cache=str(cache), out=str(out), limit=MEMORY)
    wall, rss, stdout = measure(code, env={"PRSGAZER_CACHE_DIR": str(cache)})
    res = json.loads(stdout.strip().splitlines()[-1])
    label = "prsgazer batch_score, rerun (all stored)" if rerun else "prsgazer batch_score, cold"
    steps = ", ".join(f"{k} {v:.1f}" for k, v in res["timings"].items())
    counts = f"{res['n_ok']} ok, {res['n_cached']} cached, {res['n_failed']} failed"
    note = f"{counts}; in process {res['wall']:.2f} s ({steps})"
    return Row(label, wall, rss, note)


def run_gnomon_timed(
    g: peers.Gnomon, score: Path, genotypes: Path, run_dir: Path, build: str, label: str
) -> tuple[Row, peers.GnomonRun]:
    r = peers.run_gnomon(g, score, genotypes, run_dir, build)
    union = log_count(r.log, r"(\d+) overlapping (?:score )?variants")
    note = f"in gnomon.score {r.in_call:.2f} s; its log: {union} overlapping variants"
    if r.new_files:
        shown = ", ".join(r.new_files[:2]) + (f", … ({len(r.new_files)} files)" if len(r.new_files) > 2 else "")
        note += f"; wrote beside the scoring files: {shown}"
    return Row(label, r.wall, r.peak_rss_mib, note), r


def plink2_processed(out: Path) -> str:
    """What plink2's log says it scored (variants in the union of the score columns)."""
    log = Path(f"{out}.log")
    text = log.read_text() if log.exists() else ""
    processed = log_count(text, r"--score: (\d+) variants processed")
    return f"its log: {processed} variants processed"


def plink2_score_args(sf: Path, n: int, out: Path, *, one_sample: bool = False) -> list[str]:
    """--score on all columns; one sample: no-mean-imputation (plink2 refuses to impute from < 50 samples
    without --read-freq, as pgsc_calc knows; with no missing calls the sums are the same)."""
    mods = ["no-mean-imputation"] if one_sample else []
    return [
        "--score",
        str(sf),
        "1",
        "2",
        "header-read",
        *mods,
        "cols=+scoresums",
        "--score-col-nums",
        f"3-{2 + n}" if n > 1 else "3",
        "--out",
        str(out),
    ]


# ------------------------------------------------------------------------------------------------
# workloads


def wl_missing(d: Path, g: peers.Gnomon, plinks: list[peers.Plink2]) -> Workload:
    cin = REPO.parent / "shared" / "data" / "genomes" / "cineca" / "cineca_synthetic_subset"
    sf = REPO.parent / "shared" / "data" / "scorefiles" / "PGS001229_22.txt"
    wl = Workload(
        "missing",
        "missing calls: CINECA chr22, 2,504 samples × PGS001229_22 (835 rows)",
        [
            "matched on chromosome, position and allele pair, strand-ambiguous rows kept (prsgazer "
            "--keep-ambiguous): 829 variants",
            "numpy references: a missing call → 0, or → 2 × "
            "effect-allele frequency among the called samples (mean imputation)",
        ],
        "prsgazer score",
    )
    if not Path(f"{cin}.pgen").exists():
        wl.checks.append(f"skipped: {cin}.pgen not found (../shared/data)")
        return wl
    wl.load.append(os.getloadavg()[0])
    run = d / "runs" / "missing"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    target = (
        read_pvar_table(cin)
        .with_row_index("vidx")
        .select(
            "vidx",
            pl.col("#CHROM").alias("chrom"),
            pl.col("POS").alias("pos"),
            pl.col("ID").alias("id"),
            pl.col("REF").alias("ref"),
            pl.col("ALT").alias("alt"),
        )
    )
    mt = independent_match(read_score_rows([sf]), target)
    m, counts = mt.rows, mt.counts
    names = sorted(counts)
    samples = psam_iids(cin)
    ref0 = numpy_sums(Path(f"{cin}.pgen"), m, names, samples, "zero")
    refm = numpy_sums(Path(f"{cin}.pgen"), m, names, samples, "mean")
    import pgenlib

    r = pgenlib.PgenReader(f"{cin}.pgen".encode())
    uniq = np.unique(m["vidx"].to_numpy()).astype(np.uint32)
    geno = np.empty((len(uniq), r.get_raw_sample_ct()), dtype=np.int8)
    r.read_list(uniq, geno)
    r.close()
    wl.detail.append(f"{int((geno < 0).sum())} missing calls among the matched variants")

    out = run / "prsgazer.tsv"
    cmd = [
        str(Path(sys.executable).parent / "prsgazer"),
        "score",
        str(cin),
        "-s",
        str(sf),
        "--keep-ambiguous",
        "--out",
        str(out),
    ]
    wall, rss, _ = measure_cmd(cmd, env={"PRSGAZER_CACHE_DIR": str(run / "cache")})
    sums = {"prsgazer score": (wl.add(Row("prsgazer score", wall, rss)), prsgazer_tsv_sums(out))}
    score_dir = peers.fresh_score_dir([sf], run / "scores")
    row, gr = run_gnomon_timed(g, score_dir, cin, run / "gnomon", "37", "gnomon")
    gs, n_miss = gnomon_sums(gr.sscore, mt.gnomon_n)
    row.note += f"; missing calls it reported: {n_miss}"
    sums["gnomon"] = (wl.add(row), gs)
    p = plinks[0]
    psf = run / "plink2.tsv"
    const = write_plink2_scores(m, names, psf)
    wall, rss = peers.run_plink2(
        p,
        ["--memory", str(PLINK2_MEMORY_MIB), "--pfile", str(cin), *plink2_score_args(psf, len(names), run / "plink2")],
    )
    sums[p.label] = (
        wl.add(Row(p.label, wall, rss, plink2_processed(run / "plink2"))),
        plink2_sums(run / "plink2.sscore", names, const),
    )
    for label, (row, s) in sums.items():
        row.matched = prsgazer_tsv_matched(out) if label == "prsgazer score" else sum(counts.values())
        if label != "prsgazer score":
            compare_into(row, sums["prsgazer score"][1], s)
        z0, _, _ = agreement(ref0, s)
        zm, _, _ = agreement(refm, s)
        verdict = "missing → 0" if z0 < 1e-9 else "mean-imputed" if zm < 1e-4 else "neither"
        wl.checks.append(f"{label}: max |Δ| vs numpy missing→0 {z0:.2e}, vs numpy mean-imputed {zm:.2e}: {verdict}")
    wl.load.append(os.getloadavg()[0])
    return wl


def wl_batch(
    d: Path,
    g: peers.Gnomon,
    plinks: list[peers.Plink2],
    *,
    key: str,
    title: str,
    detail: list[str],
    prefix: Path,
    files: list[Path],
    skip_ref_blas: bool,
    repeats: int,
) -> Workload:
    wl = Workload(key, title, detail, "prsgazer batch_score, cold")
    run = d / "runs" / f"peers_{key}_{prefix.name}_{len(files)}"
    run.mkdir(parents=True, exist_ok=True)
    print(f"\n[{key}] preparing (independent match, plink2 score file)…", flush=True)
    target = (
        read_pvar_table(prefix)
        .with_row_index("vidx")
        .select(
            "vidx",
            pl.col("#CHROM").cast(pl.String).alias("chrom"),
            pl.col("POS").alias("pos"),
            pl.col("ID").alias("id"),
            pl.col("REF").alias("ref"),
            pl.col("ALT").alias("alt"),
        )
    )
    mt = independent_match(read_score_rows(files), target)
    del target
    m, counts = mt.rows, mt.counts
    names = sorted(counts)
    psf, const = cached_plink2_scores(m, names, run)
    samples = psam_iids(prefix)
    sizes = sorted(counts.items(), key=lambda kv: kv[1])
    check_scores = [sizes[0][0], sizes[len(sizes) // 2][0], sizes[-1][0]]
    ref_np = numpy_sums(Path(f"{prefix}.pgen"), m, check_scores, samples, "zero")
    n_rows = sum(counts.values())
    wl.detail.append(
        f"independent match: {n_rows:,} rows over {m['vidx'].n_unique():,} distinct variants; the numpy check, "
        "gnomon's and plink2's sums are recovered with it"
    )
    warm_page_cache([Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam")] + files + [psf])
    wl.load.append(os.getloadavg()[0])
    print(f"[{key}] measuring (1-min load {wl.load[0]:.2f})…", flush=True)

    cache = run / "prsgazer_cache"
    cold = wl.add(run_prsgazer_batch(prefix, files, run, cache, rerun=False))
    ours = prsgazer_batch_sums(run / "prsgazer_out")
    cold.matched = prsgazer_batch_matched(run / "prsgazer_out")
    rr = timed_runs(
        lambda: (lambda r: (r.wall, r.rss, r))(run_prsgazer_batch(prefix, files, run, cache, rerun=True)), repeats
    )
    rerun = rr[3]
    rerun.wall, rerun.rss = rr[0], rr[1]
    rerun.note = f"{spread(rr[2])}; {rerun.note}".lstrip("; ")
    wl.add(rerun)

    score_dir = peers.fresh_score_dir(files, run / "gnomon_scores")
    row, gr = run_gnomon_timed(g, score_dir, prefix, run / "gnomon", "38", f"gnomon {g.version}, cold")
    gs, n_miss = gnomon_sums(gr.sscore, mt.gnomon_n)
    row.matched = n_rows
    compare_into(row, ours, gs)
    wl.add(row)
    row2, gr2 = run_gnomon_timed(
        g, score_dir, prefix, run / "gnomon", "38", f"gnomon {g.version}, converted files kept"
    )
    row2.note = row2.note.split(";")[0]
    row2.matched = n_rows
    compare_into(row2, ours, gnomon_sums(gr2.sscore, mt.gnomon_n)[0])
    wl.add(row2)

    plink_sums = {}
    for p in plinks:
        if skip_ref_blas and "OpenBLAS" not in p.label:
            continue
        out = run / f"plink2_{p.label.replace('+', '_')}"
        wall, rss = peers.run_plink2(
            p, ["--memory", str(PLINK2_MEMORY_MIB), "--pfile", str(prefix), *plink2_score_args(psf, len(names), out)]
        )
        ps = plink2_sums(Path(f"{out}.sscore"), names, const)
        row = Row(
            p.label,
            wall,
            rss,
            f"BLAS {p.blas}; {plink2_processed(out)}; score file {psf.stat().st_size / 1e9:.2f} GB, "
            f"{len(names)} columns (not timed: made from the independent match)",
            n_rows,
        )
        compare_into(row, ours, ps)
        plink_sums[p.label] = ps
        wl.add(row)
    wl.load.append(os.getloadavg()[0])

    which = ", ".join(f"{s}: {counts[s]:,} rows" for s in check_scores)
    wl.checks.append(f"independent numpy sums on {len(check_scores)} scores ({which}):")
    for label, s in [("prsgazer", ours), ("gnomon", gs), *plink_sums.items()]:
        a, rel, _ = agreement(ref_np, s)
        wl.checks.append(f"  {label}: max |Δ| {a:.2e} (rel. {rel:.1e})")
    wl.checks.append(f"missing calls: none in the panel (gnomon reported {n_miss})")
    if mt.n_duplicate_rows:
        wl.checks.append(mt.duplicates_note())
    return wl


def write_full_vcf(prefix: Path, sample_index: int, out: Path) -> Path:
    """One sample of a pfile as a VCF.gz listing every site (0/0 included), IDs chr:pos:ref:alt."""
    import gzip

    from prsgazer.synthetic.simulate import read_pfile_sample

    if out.exists():
        return out
    pvar = read_pvar_table(prefix)
    sid = pl.read_csv(f"{prefix}.psam", separator="\t")["#IID"][sample_index]
    dos = read_pfile_sample(prefix, sample_index)
    gt = np.array(["0/0", "0/1", "1/1"], dtype=object)[np.clip(dos, 0, 2)]
    gt[dos < 0] = "./."
    header = [
        "##fileformat=VCFv4.2",
        "##source=bench_peers (one sample of a synthetic panel)",
        *(f"##contig=<ID={c}>" for c in pvar["#CHROM"].unique(maintain_order=True)),
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sid}",
    ]
    body = pvar.select(
        "#CHROM",
        "POS",
        "ID",
        "REF",
        "ALT",
        pl.lit("50").alias("Q"),
        pl.lit("PASS").alias("F"),
        pl.lit(".").alias("I"),
        pl.lit("GT").alias("FMT"),
        pl.Series("S", gt.tolist()),
    )
    tmp = out.with_name(out.name + ".tmp")
    with gzip.open(tmp, "wb", compresslevel=5) as fh:
        fh.write(("\n".join(header) + "\n").encode())
        fh.write(body.write_csv(separator="\t", include_header=False, quote_style="never").encode())
    os.replace(tmp, out)
    return out


OPS_CODE = """
import json, time
t0 = time.perf_counter()
from prsgazer.ops.params import ScoreParams, Tuning
from prsgazer.ops.score import score_files
t_imp = time.perf_counter() - t0
params, tuning = ScoreParams.create(), Tuning.from_settings()
calls = []
for _ in range({n}):
    t = time.perf_counter()
    run, _ = score_files({vcf!r}, [{score!r}], params, tuning)
    calls.append(time.perf_counter() - t)
print(json.dumps({{"import": t_imp, "calls": calls}}))
"""


def wl_person1(
    d: Path, g: peers.Gnomon, plinks: list[peers.Plink2], *, prefix: Path, n_rows: int, repeats: int
) -> Workload:
    run = d / "runs" / f"peers_person1_{prefix.name}_{n_rows}"
    run.mkdir(parents=True, exist_ok=True)
    vcf = write_full_vcf(prefix, 0, run / "person.vcf.gz")
    from prsgazer.synthetic.simulate import write_scorefile

    sdir = run / "score"
    sdir.mkdir(exist_ok=True)
    sf = sdir / "PGS999999.txt.gz"
    if not sf.exists():
        write_scorefile(
            read_pvar_table(prefix), sf, pgs_id="PGS999999", n_variants=n_rows, seed=99, genome_build="GRCh38"
        )
    n_sites = read_pvar_table(prefix).height
    wl = Workload(
        "person1",
        f"one person × one large score, warm: a single-sample VCF of {n_sites:,} sites × {n_rows:,} rows",
        [
            f"{vcf} (every site, 0/0 included: all tools see the same calls)",
            "warm: prsgazer's cache dir and gnomon's converted score file kept from an earlier run; "
            "plink2 has no cache (imports the VCF each time)",
        ],
        "uv run prsgazer score",
    )
    target = (
        read_pvar_table(prefix)
        .with_row_index("vidx")
        .select(
            "vidx",
            pl.col("#CHROM").cast(pl.String).alias("chrom"),
            pl.col("POS").alias("pos"),
            pl.col("ID").alias("id"),
            pl.col("REF").alias("ref"),
            pl.col("ALT").alias("alt"),
        )
    )
    mt = independent_match(read_score_rows([sf]), target)
    m, counts = mt.rows, mt.counts
    names = sorted(counts)
    sid = psam_iids(prefix)
    import pgenlib  # numpy check on the panel's sample 0

    r = pgenlib.PgenReader(f"{prefix}.pgen".encode(), sample_subset=np.array([0], dtype=np.uint32))
    mm = m.sort("vidx")
    gg = np.empty((mm.height, 1), dtype=np.int8)
    r.read_list(mm["vidx"].to_numpy().astype(np.uint32), gg)
    r.close()
    dd = np.where(mm["effect_is_alt"].to_numpy(), gg[:, 0], 2 - gg[:, 0]).astype(np.float64)
    ref_np = pl.DataFrame({"sample_id": [sid[0]], "score": [names[0]], "sum": [float(mm["w"].to_numpy() @ dd)]})
    psf = run / "plink2_score.tsv"
    const = write_plink2_scores(m, names, psf)
    warm_page_cache([vcf, sf, psf])
    cache = run / "prsgazer_cache"
    env = {"PRSGAZER_CACHE_DIR": str(cache)}
    out = run / "prsgazer.tsv"
    args = ["score", str(vcf), "-s", str(sf), "--out", str(out)]
    uv = shutil.which("uv") or "uv"
    wl.load.append(os.getloadavg()[0])
    print(f"\n[person1] measuring (1-min load {wl.load[0]:.2f})…", flush=True)

    shutil.rmtree(cache, ignore_errors=True)
    wall, rss, _ = measure_cmd([uv, "run", "prsgazer", *args], env=env, cwd=REPO)
    cold = Row("uv run prsgazer score, cold", wall, rss, "empty cache dir: parses the score, normalises the VCF")
    med, rss, walls, _ = timed_runs(
        lambda: (*measure_cmd([uv, "run", "prsgazer", *args], env=env, cwd=REPO)[:2], None), repeats
    )
    wl.add(Row("uv run prsgazer score", med, rss, spread(walls), prsgazer_tsv_matched(out)))
    wl.add(cold)
    ours = prsgazer_tsv_sums(out)
    exe = str(Path(sys.executable).parent / "prsgazer")
    med, rss, walls, _ = timed_runs(lambda: (*measure_cmd([exe, *args], env=env)[:2], None), repeats)
    wl.add(Row(".venv/bin/prsgazer score", med, rss, spread(walls) + " (no `uv run`)", prsgazer_tsv_matched(out)))
    n_calls = max(repeats, 3)
    wall, rss, text = measure(OPS_CODE.format(n=n_calls, vcf=str(vcf), score=str(sf)), env=env)
    ops = json.loads(text.strip().splitlines()[-1])
    later = statistics.median(ops["calls"][1:])
    wl.add(
        Row(
            "ops.score_files, first call",
            ops["calls"][0],
            rss,
            f"in process, after imports ({ops['import']:.2f} s); whole process {wall:.2f} s",
        )
    )
    wl.add(
        Row("ops.score_files, later calls", later, rss, f"median of {len(ops['calls']) - 1} calls in the same process")
    )

    gdir = run / "gnomon_score"
    if not gdir.exists():
        peers.fresh_score_dir([sf], gdir)
    peers.run_gnomon(g, gdir / sf.name, vcf, run / "gnomon", "38")  # converts once: warm from here on
    res = [
        run_gnomon_timed(g, gdir / sf.name, vcf, run / "gnomon", "38", f"gnomon {g.version}") for _ in range(repeats)
    ]
    walls = [x[0].wall for x in res]
    row, gr = sorted(res, key=lambda x: x[0].wall)[len(res) // 2]
    row.note = f"{spread(walls)}; {row.note}"
    gs, _ = gnomon_sums(gr.sscore, mt.gnomon_n)
    row.matched = sum(counts.values())
    compare_into(row, ours, gs)
    wl.add(row)
    psums = {}
    for p in plinks:
        pout = run / f"plink2_{p.label.replace('+', '_')}"

        def once(p: peers.Plink2 = p, pout: Path = pout) -> tuple[float, float, None]:
            return (
                *peers.run_plink2(
                    p,
                    [
                        "--memory",
                        str(PLINK2_MEMORY_MIB),
                        "--vcf",
                        str(vcf),
                        *plink2_score_args(psf, len(names), pout, one_sample=True),
                    ],
                ),
                None,
            )

        med, rss, walls, _ = timed_runs(once, repeats)
        prow = Row(
            p.label,
            med,
            rss,
            f"{spread(walls)}; --vcf (imports the VCF), score file of ID/A1/weight; {plink2_processed(pout)}",
            sum(counts.values()),
        )
        psums[p.label] = plink2_sums(Path(f"{pout}.sscore"), names, const)
        compare_into(prow, ours, psums[p.label])
        wl.add(prow)
    wl.load.append(os.getloadavg()[0])
    for label, s in [("prsgazer", ours), ("gnomon", gs), *psums.items()]:
        a, rel, _ = agreement(ref_np, s)
        wl.checks.append(f"{label} vs numpy on the panel's genotypes: |Δ| {a:.2e} (rel. {rel:.1e})")
    return wl


def vcf_target(vcf: Path, cache: Path) -> pl.DataFrame:
    """vidx, chrom, pos, id, ref, alt, dosage of a single-sample VCF (read once with polars, kept as parquet)."""
    if not cache.exists():
        t = pl.read_csv(vcf, separator="\t", comment_prefix="##", infer_schema=False, columns=[0, 1, 3, 4, 9])
        t = t.rename(dict(zip(t.columns, ["chrom", "pos", "ref", "alt", "s"], strict=True)))
        gt = pl.col("s").str.split(":").list.first()
        t = t.with_row_index("vidx").select(
            "vidx",
            pl.col("chrom").str.replace("^chr", ""),
            pl.col("pos").cast(pl.Int64),
            "ref",
            "alt",
            pl.when(gt.is_in(["0/0", "0|0"]))
            .then(0)
            .when(gt.is_in(["0/1", "1/0", "0|1", "1|0"]))
            .then(1)
            .when(gt.is_in(["1/1", "1|1"]))
            .then(2)
            .otherwise(None)
            .cast(pl.Int8)
            .alias("dosage"),
        )
        t = t.with_columns(
            id=pl.format("{}:{}:{}:{}", "chrom", "pos", "ref", pl.col("alt").str.split(",").list.first())
        )
        t.write_parquet(cache)
    return pl.read_parquet(cache)


def vcf_numpy_sums(m: pl.DataFrame, target: pl.DataFrame) -> pl.DataFrame:
    """Σ w × effect-allele dosage per score, from the single-sample VCF's calls as read by vcf_target."""
    mm = m.join(target.select("vidx", "dosage"), on="vidx")
    g = mm["dosage"].to_numpy().astype(np.float64)
    dd = np.where(mm["effect_is_alt"].to_numpy(), g, 2 - g)
    return (
        mm.with_columns(c=pl.Series(dd) * pl.col("w"))
        .group_by("score")
        .agg(pl.col("c").sum().alias("sum"))
        .with_columns(sample_id=pl.lit("PERSON"))
        .select("sample_id", "score", "sum")
    )


PERSON100_CODE = """
import json, time
from pathlib import Path
from prsgazer.engine.scoring.run import RunOptions, run_scoring
files = [Path(p) for p in Path({lst!r}).read_text().split()]
t = time.perf_counter()
run = run_scoring({geno!r}, files, RunOptions(cache_dir=Path({cache!r})))
wall = time.perf_counter() - t
run.table.select("sample_id", "pgs_id", "sum").write_csv({out!r}, separator="\\t")
print(json.dumps({{"wall": wall, "timings": run.timings}}))
"""


def wl_person100(
    d: Path, g: peers.Gnomon, plinks: list[peers.Plink2], *, n_records: int, n_scores: int, n_rows: int, repeats: int
) -> Workload:
    vcf = d / f"wgs_{n_records}_peers.vcf.gz"
    if not vcf.exists():
        print(f"generating {vcf.name} (bench_engine's WGS VCF, every record PASS and biallelic)…", flush=True)
        make_wgs_vcf(vcf.with_name(vcf.name + ".tmp.vcf.gz"), n_records, lowqual_rate=0.0, multiallelic_rate=0.0)
        os.replace(vcf.with_name(vcf.name + ".tmp.vcf.gz"), vcf)
    norm = d / f"wgs_{n_records}_peers.parquet"
    if not norm.exists():
        from prsgazer.engine.genotypes.vcf import normalize_vcf

        normalize_vcf(str(vcf), str(norm.with_suffix(".tmp.parquet")))
        os.replace(norm.with_suffix(".tmp.parquet"), norm)
    sites = pl.read_parquet(norm, columns=["chrom", "pos", "id", "ref", "alt"])
    files = make_scorefiles(sites, d / f"wgs_peers_scores_{n_scores}x{n_rows}", n_scores, n_rows)
    del sites
    run = d / "runs" / f"peers_person100_{n_records}_{n_scores}x{n_rows}"
    run.mkdir(parents=True, exist_ok=True)
    target = vcf_target(vcf, run / "vcf_sites.parquet")
    rows = read_score_rows(files)
    n_weights = rows.height
    mt = independent_match(rows, target)
    del rows
    m, counts = mt.rows, mt.counts
    names = sorted(counts)
    ref_np = vcf_numpy_sums(m, target)
    ref_np_dups = vcf_numpy_sums(mt.all_rows, target)
    psf, const = cached_plink2_scores(m, names, run)
    del target
    wl = Workload(
        "person100",
        f"person × {n_scores} scores / {n_weights:,} weights, cold: a {n_records:,}-record "
        "WGS VCF (bench_engine.py [2])",
        [
            f"{vcf.name}: bench_engine's generator with every record PASS and biallelic (gnomon and "
            "plink2 ignore FILTER; gnomon scores multi-allelic sites, prsgazer by default does not)",
            "variant sites only; 10 % of score rows sit at positions absent from the VCF: unmatched in every tool",
            "prsgazer: absent sites stay unmatched (WGS detected, but no --reference to give REF)",
        ],
        "prsgazer score (CLI, from the VCF), cold",
    )
    warm_page_cache([vcf, norm, psf, *files])
    wl.load.append(os.getloadavg()[0])
    print(f"\n[person100] measuring (1-min load {wl.load[0]:.2f})…", flush=True)
    n_m = sum(counts.values())
    cache = run / "prsgazer_cache"
    out = run / "prsgazer.tsv"
    shutil.rmtree(cache, ignore_errors=True)
    exe = str(Path(sys.executable).parent / "prsgazer")
    cmd = [exe, "score", str(vcf), "--out", str(out)]
    for f in files:
        cmd += ["-s", str(f)]
    wall, rss, _ = measure_cmd(cmd, env={"PRSGAZER_CACHE_DIR": str(cache)})
    wl.add(
        Row(
            "prsgazer score (CLI, from the VCF), cold",
            wall,
            rss,
            f"empty cache: normalises the VCF, parses {len(files)} files",
            prsgazer_tsv_matched(out),
        )
    )
    ours = prsgazer_tsv_sums(out)
    lst = run / "files.txt"
    lst.write_text("\n".join(str(f) for f in files))
    cache2 = run / "prsgazer_cache_engine"
    shutil.rmtree(cache2, ignore_errors=True)
    out2 = run / "prsgazer_engine.tsv"
    wall, rss, text = measure(PERSON100_CODE.format(lst=str(lst), geno=str(norm), cache=str(cache2), out=str(out2)))
    info = json.loads(text.strip().splitlines()[-1])
    steps = ", ".join(f"{k} {v:.2f}" for k, v in info["timings"].items())
    row = Row(
        "prsgazer run_scoring from the parquet, cold",
        wall,
        rss,
        f"bench_engine [2]: VCF normalised beforehand; in run_scoring {info['wall']:.2f} s ({steps})",
    )
    compare_into(row, ours, pl.read_csv(out2, separator="\t").rename({"pgs_id": "score"}))
    wl.add(row)

    score_dir = peers.fresh_score_dir(files, run / "gnomon_scores")
    row, gr = run_gnomon_timed(g, score_dir, vcf, run / "gnomon", "38", f"gnomon {g.version}, cold")
    gs, _ = gnomon_sums(gr.sscore, mt.gnomon_n)
    row.matched = n_m
    compare_into(row, ours, gs)
    wl.add(row)
    row2, gr2 = run_gnomon_timed(g, score_dir, vcf, run / "gnomon", "38", f"gnomon {g.version}, converted files kept")
    row2.note = row2.note.split(";")[0]
    row2.matched = n_m
    compare_into(row2, ours, gnomon_sums(gr2.sscore, mt.gnomon_n)[0])
    wl.add(row2)
    psums = {}
    for p in plinks:
        pout = run / f"plink2_{p.label.replace('+', '_')}"
        wall, rss = peers.run_plink2(
            p,
            [
                "--memory",
                str(PLINK2_MEMORY_MIB),
                "--vcf",
                str(vcf),
                "--set-all-var-ids",
                "@:#:$r:$a",
                "--new-id-max-allele-len",
                "1000",
                *plink2_score_args(psf, len(names), pout, one_sample=True),
            ],
        )
        prow = Row(
            p.label,
            wall,
            rss,
            f"--vcf (imports the VCF); {plink2_processed(pout)}; one score file of {len(names)} columns, "
            f"{psf.stat().st_size / 1e9:.2f} GB (not timed)",
            n_m,
        )
        psums[p.label] = plink2_sums(Path(f"{pout}.sscore"), names, const)
        compare_into(prow, ours, psums[p.label])
        wl.add(prow)
    wl.load.append(os.getloadavg()[0])
    for label, s in [("prsgazer", ours), ("gnomon", gs), *psums.items()]:
        a, rel, _ = agreement(ref_np, s)
        wl.checks.append(f"{label} vs numpy on the VCF's calls (all {len(names)} scores): |Δ| {a:.2e} (rel. {rel:.1e})")
    if mt.n_duplicate_rows:
        a, rel, _ = agreement(ref_np_dups, gs)
        wl.checks.append(mt.duplicates_note())
        wl.checks.append(f"gnomon vs numpy with those rows added: |Δ| {a:.2e} (rel. {rel:.1e})")
    return wl


def wl_cohort(
    d: Path,
    g: peers.Gnomon,
    plinks: list[peers.Plink2],
    *,
    n_samples: int,
    n_variants: int,
    n_scores: int,
    repeats: int,
) -> Workload:
    cdir = d / f"cohort_{n_samples}x{n_variants}x{n_scores}_nomiss"
    cdir.mkdir(exist_ok=True)
    prefix, files, _ = make_cohort(cdir, n_samples, n_variants, n_scores, missing_rate=0.0)
    run = cdir / "peers"
    run.mkdir(exist_ok=True)
    target = (
        read_pvar_table(prefix)
        .with_row_index("vidx")
        .select(
            "vidx",
            pl.col("#CHROM").cast(pl.String).alias("chrom"),
            pl.col("POS").alias("pos"),
            pl.col("ID").alias("id"),
            pl.col("REF").alias("ref"),
            pl.col("ALT").alias("alt"),
        )
    )
    mt = independent_match(read_score_rows(files), target)
    m, counts = mt.rows, mt.counts
    names = sorted(counts)
    n_m = sum(counts.values())
    samples = psam_iids(prefix)
    ref_np = numpy_sums(Path(f"{prefix}.pgen"), m, names[:3], samples, "zero")
    psf = run / "plink2_scores.tsv"
    const = write_plink2_scores(m, names, psf)
    wl = Workload(
        "cohort",
        f"cohort: {n_samples:,} samples × {n_variants:,} variants × {n_scores} scores (bench_engine.py [3])",
        [
            f"{prefix} (.pgen), no missing calls here (bench_engine's copy has 0.5 %)",
            "prsgazer through the venv's CLI, as bench_engine [3]",
        ],
        "prsgazer score (CLI), warm",
    )
    warm_page_cache([Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam")] + files + [psf])
    wl.load.append(os.getloadavg()[0])
    print(f"\n[cohort] measuring (1-min load {wl.load[0]:.2f})…", flush=True)
    cache = run / "prsgazer_cache"
    shutil.rmtree(cache, ignore_errors=True)
    out = run / "prsgazer.tsv"
    cmd = [str(Path(sys.executable).parent / "prsgazer"), "score", str(prefix), "--out", str(out)]
    for f in files:
        cmd += ["-s", str(f)]
    env = {"PRSGAZER_CACHE_DIR": str(cache)}
    wall, rss, _ = measure_cmd(cmd, env=env)
    cold = Row("prsgazer score (CLI), cold", wall, rss, "empty cache dir", prsgazer_tsv_matched(out))
    cold_sums = prsgazer_tsv_sums(out)
    med, rss, walls, _ = timed_runs(lambda: (*measure_cmd(cmd, env=env)[:2], None), repeats)
    note = spread(walls) + "; parsed scoring files cached"
    wl.add(Row("prsgazer score (CLI), warm", med, rss, note, prsgazer_tsv_matched(out)))
    ours = prsgazer_tsv_sums(out)
    compare_into(cold, ours, cold_sums)
    wl.add(cold)
    score_dir = peers.fresh_score_dir(files, run / "gnomon_scores")
    row, gr = run_gnomon_timed(g, score_dir, prefix, run / "gnomon", "37", f"gnomon {g.version}, cold")
    gs, _ = gnomon_sums(gr.sscore, mt.gnomon_n)
    row.matched = n_m
    compare_into(row, ours, gs)
    wl.add(row)
    res = [
        run_gnomon_timed(g, score_dir, prefix, run / "gnomon", "37", f"gnomon {g.version}, converted files kept")
        for _ in range(repeats)
    ]
    walls = [x[0].wall for x in res]
    row2, gr2 = sorted(res, key=lambda x: x[0].wall)[len(res) // 2]
    row2.note = spread(walls)
    row2.matched = n_m
    compare_into(row2, ours, gnomon_sums(gr2.sscore, mt.gnomon_n)[0])
    wl.add(row2)
    psums = {}
    for p in plinks:
        pout = run / f"plink2_{p.label.replace('+', '_')}"

        def once(p: peers.Plink2 = p, pout: Path = pout) -> tuple[float, float, None]:
            return (
                *peers.run_plink2(
                    p,
                    [
                        "--memory",
                        str(PLINK2_MEMORY_MIB),
                        "--pfile",
                        str(prefix),
                        *plink2_score_args(psf, len(names), pout),
                    ],
                ),
                None,
            )

        med, rss, walls, _ = timed_runs(once, repeats)
        prow = Row(p.label, med, rss, f"{spread(walls)}; BLAS {p.blas}; {plink2_processed(pout)}", n_m)
        psums[p.label] = plink2_sums(Path(f"{pout}.sscore"), names, const)
        compare_into(prow, ours, psums[p.label])
        wl.add(prow)
    wl.load.append(os.getloadavg()[0])
    for label, s in [("prsgazer", ours), ("gnomon", gs), *psums.items()]:
        a, rel, _ = agreement(ref_np, s)
        wl.checks.append(f"{label} vs numpy (3 scores): |Δ| {a:.2e} (rel. {rel:.1e})")
    return wl


# ------------------------------------------------------------------------------------------------


ALL = ["missing", "batch300k", "batch1m", "person1", "person100", "cohort"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the harness in a few minutes")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--repeats", type=int, default=None, help="warm runs per tool (median; default 3, quick 2)")
    ap.add_argument("--skip-reference-blas", action="store_true", help="no Debian-BLAS plink2 on the batch workloads")
    ap.add_argument("--gnomon-version", default=peers.GNOMON_VERSION)
    a = ap.parse_args()
    only = [w.strip() for w in a.only.split(",") if w.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}; choose from {ALL}")
    repeats = a.repeats or (2 if a.quick else 3)
    d = bench_dir()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    g = peers.ensure_gnomon(a.gnomon_version)
    plinks = peers.plink2_peers()
    print(f"bench dir {d}; {os.cpu_count()} cores; load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"gnomon {g.version} ({g.python}); {peers.plink2_version()}")
    for p in plinks:
        print(f"  {p.label}: loads {p.blas}")
    q = a.quick
    wls: list[Workload] = []
    for key in only:
        if key == "missing":
            wls.append(wl_missing(d, g, plinks))
        elif key == "batch300k":
            ns, nv, nsc, mx, ngw, gw = (
                (1000, 30_000, 50, 6_000, 2, 24_000) if q else (3202, 300_000, 200, 60_000, 3, 240_000)
            )
            prefix = ensure_bn_panel(d, ns, nv)
            files = ensure_scorefiles(d, prefix, nsc, mx, ngw, gw)
            wls.append(
                wl_batch(
                    d,
                    g,
                    plinks,
                    key=key,
                    prefix=prefix,
                    files=files,
                    skip_ref_blas=a.skip_reference_blas,
                    repeats=repeats,
                    title=f"batch, cold: {ns:,} samples × {nv:,} variants (Balding–Nichols, "
                    f"5 superpopulations), {len(files)} scoring files",
                    detail=[
                        f"{nsc} files of 10…{mx:,} rows (log-spaced) + {ngw} genome-wide of {gw:,}; "
                        "effect allele REF or ALT at random",
                        f"{prefix}.pgen",
                    ],
                )
            )
        elif key == "batch1m":
            ns, nv, nsc, mx, ngw, gw = (
                (1000, 60_000, 100, 12_000, 2, 48_000) if q else (3202, 1_000_000, 500, 200_000, 5, 800_000)
            )
            prefix = ensure_panel(d, ns, nv)
            files = ensure_scorefiles(d, prefix, nsc, mx, ngw, gw)
            wls.append(
                wl_batch(
                    d,
                    g,
                    plinks,
                    key=key,
                    prefix=prefix,
                    files=files,
                    skip_ref_blas=a.skip_reference_blas,
                    repeats=repeats,
                    title=f"batch, cold: {ns:,} × {nv:,} msprime panel, {len(files)} "
                    "scoring files (bench_reference.py's case)",
                    detail=[
                        f"{nsc} files of 10…{mx:,} rows + {ngw} genome-wide of {gw:,}; ~1/6 of the SNPs "
                        "strand-ambiguous: prsgazer keep_ambiguous, as gnomon",
                        f"{prefix}.pgen",
                    ],
                )
            )
        elif key == "person1":
            prefix = ensure_bn_panel(d, 1000, 30_000) if q else ensure_bn_panel(d, 3202, 300_000)
            wls.append(
                wl_person1(
                    d, g, plinks, prefix=prefix, n_rows=5_000 if q else 51_209, repeats=max(repeats, 3 if q else 5)
                )
            )
        elif key == "person100":
            nr, nsc, nrow = (200_000, 10, 20_000) if q else (5_000_000, 100, 30_000)
            wls.append(wl_person100(d, g, plinks, n_records=nr, n_scores=nsc, n_rows=nrow, repeats=repeats))
        elif key == "cohort":
            wls.append(
                wl_cohort(
                    d, g, plinks, n_samples=2504, n_variants=10_000 if q else 100_000, n_scores=20, repeats=repeats
                )
            )
    load1 = os.getloadavg()
    print(
        f"\n\nprsgazer vs peers — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average "
        f"{load0[0]:.2f} at start, {load1[0]:.2f} at end ({time.perf_counter() - t0:.0f} s in all)"
    )
    print(f"gnomon {g.version}; {peers.plink2_version()}; " + "; ".join(f"{p.label}: {p.blas}" for p in plinks))
    print("prsgazer/tool below 1: prsgazer is faster (wall) or smaller (peak RSS)")
    for w in wls:
        w.print()
    out = d / ("peers_results_quick.json" if q else "peers_results.json")
    out.write_text(
        json.dumps(
            {
                "load": [load0[0], load1[0]],
                "cores": os.cpu_count(),
                "gnomon": g.version,
                "plink2": peers.plink2_version(),
                "workloads": [asdict(w) for w in wls],
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
