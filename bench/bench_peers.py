"""prsgazer side by side with its strongest peers (issue 15). Run: `uv run python bench/bench_peers.py [--quick]`.

Peers (bench/peers.py installs them outside the project's dependencies, under `<bench dir>/peers/`):
gnomon (gnomon-pgs, Rust, in its own venv), plink2 + OpenBLAS (Debian's plink2 with LD_LIBRARY_PATH
pointing at an unpacked libopenblas0-pthread, checked with LD_DEBUG=libs), and Debian's plink2 as
shipped (reference BLAS). Every tool runs in its own subprocess on all cores, measured for wall time,
CPU time (user + system) and peak RSS with /usr/bin/time -v, in one run. One table per workload: each
tool's figures, the ratios prsgazer/tool (below 1: prsgazer is faster or smaller), the rows it matched,
and the largest difference of its sums from prsgazer's; then checks against numpy. The 1-minute load
average is printed at the start and end of each workload: on a shared machine, wall times stretch with
the load, CPU times much less.

Workloads (`--quick` shrinks each so that the whole harness runs in a couple of minutes):
- missing: how each tool treats missing calls (CINECA chr22: 2,504 samples, 829 variants, 96 missing
  calls), against numpy with a missing call → 0 and with mean imputation.
- batch300k: batch, cold: 3,202 samples × 300,000 variants (Balding–Nichols, bench/bn_panel.py, .pgen),
  203 PGS Catalog-format files (200 of 10…60,000 rows, 3 genome-wide of 240,000; half the rows with REF
  as the effect allele). prsgazer `batch_score` in a fresh process with an empty cache dir, then the
  rerun with every result stored; gnomon on a fresh copy of the score dir, then with its converted files
  kept; plink2 `--score` with every score as a column of one file.
- swapped: batch300k on the same panel with REF and ALT exchanged (genotypes 2 − g): the same information,
  ALT now the major allele at most sites. A tool whose work depends on which allele the .pgen counts
  shows it here (plink2 with the reference BLAS is left out).
- batch1m: the same on bench_reference.py's case (msprime panel 3,202 × 1,000,000, 505 files).
- person1: one person (a single-sample VCF of every panel site, 0/0 included) × one 51,209-row score,
  warm: `uv run prsgazer score`, the venv's `prsgazer score`, the operations layer in process
  (`prsgazer.ops.score.score_files`: first call and later calls), gnomon, plink2 (`--vcf`).
- person100: bench_engine.py [2]'s 5,000,000-record WGS VCF (here every record PASS and biallelic) ×
  100 scores / 3,000,000 weights, cold.
- cohort: bench_engine.py [3]: 2,504 samples × 100,000 variants × 20 scores (here no missing calls).

Fairness: every tool scores the same rows. The data has no missing calls (but in `missing`), no
strand-ambiguous pairs (but in batch1m, where prsgazer keeps them, as gnomon does), no filtered and no
multi-allelic VCF records. plink2 gets one score file made from an independent match (bench/peers_check.py;
writing it is input preparation, not timed). "Cold" means empty tool caches (prsgazer: a new
PRSGAZER_CACHE_DIR and out dir; gnomon: a fresh copy of its score dir); the OS page cache is warm for
every tool (inputs are read once before timing). Sums are compared with prsgazer's and with numpy's;
plink2 prints 6 significant digits, so it agrees to ~5e-6 relative.

Options: `--quick`, `--only missing,batch300k,…`, `--repeats N` (warm runs; median), `--cold-rounds N`
(batch workloads: N alternated cold rounds of prsgazer and gnomon, N plink2 runs; median), `--prepare` (only
generate the data), `--skip-reference-blas` (no Debian-BLAS plink2 on the batch workloads),
`--reference-blas-1m` (include it on batch1m, ~20 min), `--gnomon-version`. Results are also written to
`<bench dir>/peers_results[_quick].json` (the latest) and `<bench dir>/runs/peers_results_<date-time>.json`.
Data is generated once under `<bench dir>` and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402
import peers_check as pc  # noqa: E402
from bench_engine import CmdStats, make_cohort, make_scorefiles, make_wgs_vcf, measure_cmd_stats  # noqa: E402
from bench_reference import BATCH_CODE, bench_dir, ensure_panel, ensure_scorefiles  # noqa: E402
from bn_panel import ensure_bn_panel, swapped_panel  # noqa: E402

MEMORY = "2GB"
PLINK2_MEMORY = ["--memory", "1907"]  # MiB: the same 2 GB as prsgazer's default limit
PY = Path(sys.executable)

# ------------------------------------------------------------------------------------------------
# results


@dataclass
class Row:
    tool: str
    wall: float
    cpu: float | None  # None: not measurable (a call inside a process)
    rss: float
    note: str = ""
    matched: int | None = None
    diff_abs: float | None = None
    diff_rel: float | None = None
    compared: str = ""

    @classmethod
    def of(cls, tool: str, st: CmdStats, note: str = "", matched: int | None = None) -> Row:
        return cls(tool, st.wall, st.cpu, st.rss_mib, note, matched)

    @property
    def peer(self) -> bool:
        return self.tool.startswith(("gnomon", "plink2"))

    def compare(self, ref: pl.DataFrame, sums: pl.DataFrame) -> Row:
        self.diff_abs, self.diff_rel, self.compared = pc.agreement(ref, sums)
        return self


@dataclass
class Workload:
    key: str
    title: str
    detail: list[str]
    ref_tool: str
    rows: list[Row] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        cpu = f", CPU {row.cpu:.2f} s" if row.cpu is not None else ""
        print(f"  {row.tool}: {row.wall:.2f} s{cpu}, peak {row.rss:.0f} MiB", flush=True)
        return row

    def start(self) -> None:
        self.load.append(os.getloadavg()[0])
        print(f"\n[{self.key}] measuring (1-min load average {self.load[0]:.2f})…", flush=True)

    def print(self) -> None:
        ref = next((r for r in self.rows if r.tool == self.ref_tool), None)
        print(f"\n== {self.title}")
        for d in self.detail:
            print(f"   {d}")
        if self.load:
            print(
                f"   1-min load average {self.load[0]:.2f} at start, {self.load[-1]:.2f} at end; {os.cpu_count()} cores"
            )
        head = ["tool", "wall s", "CPU s", "peak MiB", "prsgazer/tool: wall", "CPU", "RSS", "matched rows"]
        w0 = max(len(head[0]), *(len(r.tool) for r in self.rows)) if self.rows else 4
        print(f"   {head[0]:<{w0}} {head[1]:>8} {head[2]:>8} {head[3]:>8} {head[4]:>20} {head[5]:>5} {head[6]:>5} "
              f"{head[7]:>12}  max |Δ| vs prsgazer (rel. to the score's scale)")  # fmt: skip
        for r in self.rows:
            ratios = ["", "", ""]
            if ref is not None and r.peer:
                pairs = ((ref.wall, r.wall), (ref.cpu, r.cpu), (ref.rss, r.rss))
                ratios = [f"{a / b:.2f}" if a is not None and b else "" for a, b in pairs]
            m = f"{r.matched:,}" if r.matched is not None else ""
            d = "(reference)" if r.tool == self.ref_tool else ""
            if r.diff_abs is not None:
                d = f"{r.diff_abs:.2e} ({r.diff_rel:.1e}) over {r.compared}"
            cpu = f"{r.cpu:.2f}" if r.cpu is not None else ""
            print(f"   {r.tool:<{w0}} {r.wall:>8.2f} {cpu:>8} {r.rss:>8.0f} {ratios[0]:>20} {ratios[1]:>5} "
                  f"{ratios[2]:>5} {m:>12}  {d}")  # fmt: skip
            if r.note:
                print(f"   {'':<{w0}}   {r.note}")
        for c in self.checks:
            print(f"   - {c}")


def cpu_model() -> str:
    try:
        line = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name"))
        return line.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return "unknown CPU"


def median_run(fn: Callable[[], CmdStats], n: int) -> tuple[CmdStats, str]:
    """Run fn n times: the median run (by wall time) and a note with the spread."""
    runs = sorted((fn() for _ in range(n)), key=lambda s: s.wall)
    walls = [s.wall for s in runs]
    note = f"median of {n}: {walls[0]:.2f}…{walls[-1]:.2f} s" if n > 1 else ""
    return runs[(n - 1) // 2], note


def warm_page_cache(paths: list[Path]) -> None:
    """Read every input once, so that no tool pays the first disk read."""
    for p in paths:
        if p.is_dir():
            warm_page_cache(sorted(p.iterdir()))
        elif p.exists():
            with open(p, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def numpy_checks(wl: Workload, ref: pl.DataFrame, sums: dict[str, pl.DataFrame], what: str) -> None:
    wl.checks.append(f"against numpy ({what}):")
    for label, s in sums.items():
        a, rel, n = pc.agreement(ref, s)
        wl.checks.append(f"  {label}: max |Δ| {a:.2e} (rel. {rel:.1e}) over {n}")


# ------------------------------------------------------------------------------------------------
# runners


def prsgazer_cli() -> str:
    return str(PY.parent / "prsgazer")


def run_prsgazer_batch(prefix: Path, files: list[Path], run_dir: Path, *, rerun: bool, keep_ambiguous: bool) -> Row:
    """batch_score in a fresh interpreter (bench_reference's code); cold: empty cache dir and out dir."""
    out, cache = run_dir / "prsgazer_out", run_dir / "prsgazer_cache"
    if not rerun:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    lst = run_dir / "files.txt"
    lst.write_text("\n".join(str(f) for f in files))
    code = BATCH_CODE.format(files=str(lst), prefix=str(prefix), cache=str(cache), out=str(out), limit=MEMORY,
                             keep=False)  # the default: a batch keeps its results, not the parsed files
    if not keep_ambiguous:
        code = code.replace("MatchOptions(keep_ambiguous=True)", "MatchOptions()")
    st = measure_cmd_stats([str(PY), "-c", code], env={"PRSGAZER_CACHE_DIR": str(cache)})
    res = json.loads(st.stdout.strip().splitlines()[-1])
    steps = ", ".join(f"{k} {v:.1f}" for k, v in res["timings"].items())
    note = (f"{res['n_ok']} ok, {res['n_cached']} cached, {res['n_failed']} failed; in batch_score "
            f"{res['wall']:.2f} s ({steps})")  # fmt: skip
    label = "prsgazer batch_score, rerun (all stored)" if rerun else "prsgazer batch_score, cold"
    return Row.of(label, st, note)


def _median_row(rows: list[Row]) -> Row:
    """The median of several runs of one command (by wall time), its note naming the spread."""
    ranked = sorted(rows, key=lambda r: r.wall)
    mid = ranked[(len(ranked) - 1) // 2]
    if len(ranked) > 1:
        mid.note = f"median of {len(ranked)} rounds: {ranked[0].wall:.2f}…{ranked[-1].wall:.2f} s; {mid.note}"
    return mid


def run_gnomon(g: peers.Gnomon, score: Path, genotypes: Path, run_dir: Path, build: str,
               label: str) -> tuple[Row, peers.GnomonRun]:  # fmt: skip
    r = peers.run_gnomon(g, score, genotypes, run_dir, build)
    note = f"in gnomon.score {r.in_call:.2f} s; {pc.gnomon_overlap(r.stats.stderr)}"
    if r.new_files:
        shown = ", ".join(r.new_files[:2]) + (f", … ({len(r.new_files)} files)" if len(r.new_files) > 2 else "")
        note += f"; wrote beside the scoring files: {shown}"
    return Row.of(label, r.stats, note), r


def plink2_score_args(sf: Path, n: int, out: Path, *, one_sample: bool = False) -> list[str]:
    """--score with every column. One sample: no-mean-imputation (plink2 refuses to impute from fewer than
    50 samples without --read-freq, as pgsc_calc knows; without missing calls the sums are the same)."""
    mods = ["no-mean-imputation"] if one_sample else []
    cols = f"3-{2 + n}" if n > 1 else "3"
    return ["--score", str(sf), "1", "2", "header-read", *mods, "cols=+scoresums", "--score-col-nums", cols,
            "--out", str(out)]  # fmt: skip


def run_plink2s(wl: Workload, plinks: list[peers.Plink2], inputs: list[str], psf: Path, m: pc.Match, run: Path,
                ours: pl.DataFrame, const: dict[str, float], *, repeats: int = 1, one_sample: bool = False,
                note: str = "") -> dict[str, pl.DataFrame]:  # fmt: skip
    """Each plink2 (median of `repeats`), its sums compared with prsgazer's."""
    sums = {}
    for p in plinks:
        out = run / f"plink2_{p.label.replace('+', '_')}"
        args = [*PLINK2_MEMORY, *inputs, *plink2_score_args(psf, len(m.names), out, one_sample=one_sample)]
        st, spread = median_run(lambda p=p, args=args: peers.run_plink2(p, args), repeats)
        sums[p.label] = pc.plink2_sums(Path(f"{out}.sscore"), m.names, const)
        text = "; ".join(x for x in (spread, f"BLAS {p.blas}", pc.plink2_processed(out), note) if x)
        wl.add(Row.of(p.label, st, text, m.n_rows).compare(ours, sums[p.label]))
    return sums


# ------------------------------------------------------------------------------------------------
# workloads


def wl_missing(d: Path, g: peers.Gnomon, plinks: list[peers.Plink2]) -> Workload:
    cin = REPO.parent / "shared" / "data" / "genomes" / "cineca" / "cineca_synthetic_subset"
    sf = REPO.parent / "shared" / "data" / "scorefiles" / "PGS001229_22.txt"
    wl = Workload("missing", "missing calls: CINECA chr22, 2,504 samples × PGS001229_22 (835 rows)",
                  ["matched on chromosome, position and allele pair with strand-ambiguous rows kept (prsgazer "
                   "--keep-ambiguous)", "numpy references: a missing call → 0, or → 2 × effect-allele frequency "
                   "among the called samples (mean imputation)"], "prsgazer score")  # fmt: skip
    if not Path(f"{cin}.pgen").exists():
        wl.checks.append(f"skipped: {cin}.pgen not found (../shared/data beside the repository)")
        return wl
    run = d / "runs" / "peers_missing"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    m = pc.independent_match(pc.read_score_rows([sf]), pc.pvar_target(cin))
    samples = pc.psam_iids(cin)
    ref0 = pc.numpy_sums(Path(f"{cin}.pgen"), m.rows, m.names, samples, "zero")
    refm = pc.numpy_sums(Path(f"{cin}.pgen"), m.rows, m.names, samples, "mean")
    import pgenlib

    r = pgenlib.PgenReader(f"{cin}.pgen".encode())
    geno = np.empty((m.rows.height, r.get_raw_sample_ct()), dtype=np.int8)
    r.read_list(np.sort(m.rows["vidx"].to_numpy()).astype(np.uint32), geno)
    r.close()
    wl.detail.append(f"{m.n_rows} rows matched; {int((geno < 0).sum())} missing calls among them")
    wl.start()
    out = run / "prsgazer.tsv"
    st = measure_cmd_stats([prsgazer_cli(), "score", str(cin), "-s", str(sf), "--keep-ambiguous", "--out", str(out)],
                           env={"PRSGAZER_CACHE_DIR": str(run / "cache")})  # fmt: skip
    ours = pc.prsgazer_tsv_sums(out)
    wl.add(Row.of("prsgazer score", st, "", pc.prsgazer_tsv_matched(out)))
    sums = {"prsgazer": ours}
    row, gr = run_gnomon(g, peers.fresh_score_dir([sf], run / "scores"), cin, run / "gnomon", "37", "gnomon")
    sums["gnomon"], n_miss = pc.gnomon_sums(gr.sscore, m.gnomon_n)
    row.note += f"; missing calls in its MISSING_PCT: {n_miss}"
    row.matched = m.gnomon_rows.height
    wl.add(row.compare(ours, sums["gnomon"]))
    psf = run / "plink2.tsv"
    const = pc.write_plink2_scores(m.rows, m.names, psf)
    sums |= run_plink2s(wl, plinks[:1], ["--pfile", str(cin)], psf, m, run, ours, const)
    wl.load.append(os.getloadavg()[0])
    for label, s in sums.items():
        z0, _, _ = pc.agreement(ref0, s)
        zm, _, _ = pc.agreement(refm, s)
        verdict = "missing → 0" if z0 < 1e-9 else "mean-imputed" if zm < 1e-4 else "neither"
        wl.checks.append(f"{label}: max |Δ| vs numpy missing → 0: {z0:.2e}; vs numpy mean-imputed: {zm:.2e} "
                         f"⇒ {verdict}")  # fmt: skip
    return wl


def wl_batch(d: Path, g: peers.Gnomon, plinks: list[peers.Plink2], *, key: str, title: str, detail: list[str],
             prefix: Path, files: list[Path], keep_ambiguous: bool, skip_ref_blas: bool,
             repeats: int, cold_rounds: int = 1) -> Workload:  # fmt: skip
    wl = Workload(key, title, detail, "prsgazer batch_score, cold")
    run = d / "runs" / f"peers_{key}_{prefix.name}_{len(files)}"
    run.mkdir(parents=True, exist_ok=True)
    print(f"\n[{key}] preparing (independent match, plink2 score file, numpy check)…", flush=True)
    m, psf, const, check = pc.pfile_comparison(prefix, files, run)
    ref_np = pc.numpy_sums(Path(f"{prefix}.pgen"), m.rows, check, pc.psam_iids(prefix), "zero")
    wl.detail.append(f"independent match: {m.n_rows:,} rows over {m.rows['vidx'].n_unique():,} distinct variants")
    warm_page_cache([Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam")] + files + [psf])
    wl.start()

    # cold runs in alternated rounds (prsgazer, then gnomon on a fresh copy of the scoring files): both
    # tools meet the same drift of a shared machine; each row is the median round, with the spread
    colds: list[Row] = []
    gnomon_colds: list[tuple[Row, peers.GnomonRun]] = []
    for _ in range(cold_rounds):
        colds.append(run_prsgazer_batch(prefix, files, run, rerun=False, keep_ambiguous=keep_ambiguous))
        if cold_rounds > 1:
            fresh = peers.fresh_score_dir(files, run / "gnomon_scores")
            gnomon_colds.append(run_gnomon(g, fresh, prefix, run / "gnomon", "38", f"gnomon {g.version}, cold"))
    cold = wl.add(_median_row(colds))
    ours = pc.prsgazer_batch_sums(run / "prsgazer_out")
    cold.matched = pc.prsgazer_batch_matched(run / "prsgazer_out")
    reruns = [run_prsgazer_batch(prefix, files, run, rerun=True, keep_ambiguous=keep_ambiguous) for _ in range(repeats)]
    rerun = sorted(reruns, key=lambda r: r.wall)[(repeats - 1) // 2]
    rerun.note = f"median of {repeats}: {min(r.wall for r in reruns):.2f}…{max(r.wall for r in reruns):.2f} s; " + (
        rerun.note
    )
    wl.add(rerun)

    score_dir = run / "gnomon_scores"
    if not gnomon_colds:
        score_dir = peers.fresh_score_dir(files, score_dir)
        gnomon_colds.append(run_gnomon(g, score_dir, prefix, run / "gnomon", "38", f"gnomon {g.version}, cold"))
    gnomon_colds.sort(key=lambda x: x[0].wall)
    row, gr = gnomon_colds[(len(gnomon_colds) - 1) // 2]
    if len(gnomon_colds) > 1:
        row.note = f"median of {len(gnomon_colds)} rounds: {gnomon_colds[0][0].wall:.2f}…" \
                   f"{gnomon_colds[-1][0].wall:.2f} s; {row.note}"
    gs, n_miss = pc.gnomon_sums(gr.sscore, m.gnomon_n)
    row.matched = m.gnomon_rows.height
    wl.add(row.compare(ours, gs))
    row2, gr2 = run_gnomon(g, score_dir, prefix, run / "gnomon", "38", f"gnomon {g.version}, converted files kept")
    row2.note, row2.matched = row2.note.split(";")[0], m.gnomon_rows.height
    wl.add(row2.compare(ours, pc.gnomon_sums(gr2.sscore, m.gnomon_n)[0]))

    use = [p for p in plinks if not (skip_ref_blas and "OpenBLAS" not in p.label)]
    note = f"score file {psf.stat().st_size / 1e9:.2f} GB, {len(m.names)} columns (made from the independent match)"
    psums = run_plink2s(wl, use, ["--pfile", str(prefix)], psf, m, run, ours, const, repeats=cold_rounds, note=note)
    if len(use) < len(plinks):
        wl.checks.append(
            "plink2 with the reference BLAS not run here (--skip-reference-blas; by default not on "
            "swapped, nor on batch1m without --reference-blas-1m: ~6× plink2 + OpenBLAS there)"
        )
    wl.load.append(os.getloadavg()[0])
    which = ", ".join(f"{s}: {m.counts[s]:,} rows" for s in check)
    numpy_checks(wl, ref_np, {"prsgazer": ours, "gnomon": gs, **psums}, f"3 scores, {which}")
    wl.checks.append(f"missing calls: none in the panel (gnomon's MISSING_PCT: {n_miss})")
    wl.checks += m.differences()
    return wl


def write_full_vcf(prefix: Path, sample_index: int, out: Path) -> Path:
    """One sample of a pfile as a VCF.gz listing every site (0/0 included), IDs chr:pos:ref:alt."""
    import gzip

    from prsgazer.synthetic.simulate import read_pfile_sample

    if out.exists():
        return out
    pvar = pc.read_pvar(prefix)
    sid = pc.psam_iids(prefix)[sample_index]
    dos = read_pfile_sample(prefix, sample_index)
    gt = np.array(["0/0", "0/1", "1/1"], dtype=object)[np.clip(dos, 0, 2)]
    gt[dos < 0] = "./."
    header = ["##fileformat=VCFv4.2", "##source=bench_peers (one sample of a synthetic panel)",
              *(f"##contig=<ID={c}>" for c in pvar["#CHROM"].unique(maintain_order=True)),
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sid}"]  # fmt: skip
    body = pvar.select("#CHROM", "POS", "ID", "REF", "ALT", pl.lit("50").alias("Q"), pl.lit("PASS").alias("F"),
                       pl.lit(".").alias("I"), pl.lit("GT").alias("FMT"), pl.Series("S", gt.tolist()))  # fmt: skip
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
print(json.dumps({{"import": t_imp, "calls": calls, "sum": run.table["sum"][0]}}))
"""


def wl_person1(d: Path, g: peers.Gnomon, plinks: list[peers.Plink2], *, prefix: Path, n_rows: int,
               repeats: int) -> Workload:  # fmt: skip
    from prsgazer.synthetic.simulate import write_scorefile

    run = d / "runs" / f"peers_person1_{prefix.name}_{n_rows}"
    (run / "score").mkdir(parents=True, exist_ok=True)
    vcf = write_full_vcf(prefix, 0, run / "person.vcf.gz")
    sf = run / "score" / "PGS999999.txt.gz"
    if not sf.exists():
        write_scorefile(pc.read_pvar(prefix), sf, pgs_id="PGS999999", n_variants=n_rows, seed=99)
    target = pc.pvar_target(prefix)
    m = pc.independent_match(pc.read_score_rows([sf]), target)
    sid = pc.psam_iids(prefix)[0]
    ref_np = pc.one_sample_numpy_sums(Path(f"{prefix}.pgen"), 0, sid, m.rows)
    psf = run / "plink2_score.tsv"
    const = pc.write_plink2_scores(m.rows, m.names, psf)
    wl = Workload("person1", f"one person × one large score, warm: a single-sample VCF of {target.height:,} sites × "
                  f"{n_rows:,} rows", [f"{vcf} (every site, 0/0 included: every tool sees the same calls)",
                  "warm: prsgazer's cache dir and gnomon's converted score file kept from an earlier run; plink2 "
                  "keeps nothing (imports the VCF every time)"], "uv run prsgazer score")  # fmt: skip
    warm_page_cache([vcf, sf, psf])
    env = {"PRSGAZER_CACHE_DIR": str(run / "prsgazer_cache")}
    out = run / "prsgazer.tsv"
    args = ["score", str(vcf), "-s", str(sf), "--out", str(out)]
    uv_run = [shutil.which("uv") or "uv", "run", "prsgazer", *args]
    wl.start()

    shutil.rmtree(run / "prsgazer_cache", ignore_errors=True)
    cold = Row.of("uv run prsgazer score, cold", measure_cmd_stats(uv_run, env=env, cwd=REPO),
                  "empty cache dir: parses the score, reads the VCF")  # fmt: skip
    st, spread = median_run(lambda: measure_cmd_stats(uv_run, env=env, cwd=REPO), repeats)
    ours = pc.prsgazer_tsv_sums(out)
    wl.add(Row.of("uv run prsgazer score", st, spread, pc.prsgazer_tsv_matched(out)))
    wl.add(cold)
    st, spread = median_run(lambda: measure_cmd_stats([prsgazer_cli(), *args], env=env), repeats)
    wl.add(Row.of(".venv/bin/prsgazer score", st, spread + " (the same, without `uv run`)"))
    st = measure_cmd_stats([str(PY), "-c", OPS_CODE.format(n=max(repeats, 3), vcf=str(vcf), score=str(sf))], env=env)
    ops = json.loads(st.stdout.strip().splitlines()[-1])
    first, later = ops["calls"][0], statistics.median(ops["calls"][1:])
    wl.add(Row("ops.score_files, first call", first, None, st.rss_mib,
               f"in one process: imports {ops['import']:.2f} s before it; whole process {st.wall:.2f} s"))  # fmt: skip
    wl.add(Row("ops.score_files, later calls", later, None, st.rss_mib,
               f"median of the {len(ops['calls']) - 1} calls after the first, same process"))  # fmt: skip
    wl.checks.append(f"ops.score_files sum {ops['sum']!r} vs the CLI's {float(ours['sum'][0])!r}")

    gdir = run / "gnomon_score"
    if not gdir.exists():
        peers.fresh_score_dir([sf], gdir)
    peers.run_gnomon(g, gdir / sf.name, vcf, run / "gnomon", "38")  # converts once: warm from here on
    runs = sorted((run_gnomon(g, gdir / sf.name, vcf, run / "gnomon", "38", f"gnomon {g.version}")
                   for _ in range(repeats)), key=lambda x: x[0].wall)  # fmt: skip
    row, gr = runs[(repeats - 1) // 2]
    row.note = f"median of {repeats}: {runs[0][0].wall:.2f}…{runs[-1][0].wall:.2f} s; {row.note}"
    gs, _ = pc.gnomon_sums(gr.sscore, m.gnomon_n)
    row.matched = m.gnomon_rows.height
    wl.add(row.compare(ours, gs))
    psums = run_plink2s(wl, plinks, ["--vcf", str(vcf)], psf, m, run, ours, const, repeats=repeats,
                        one_sample=True, note="--vcf: imports the VCF; score file ID/A1/weight")  # fmt: skip
    wl.load.append(os.getloadavg()[0])
    numpy_checks(wl, ref_np, {"prsgazer": ours, "gnomon": gs, **psums}, "the panel's genotypes of that person")
    return wl


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


def data_person100(d: Path, n_records: int, n_scores: int, n_rows: int) -> tuple[Path, Path, list[Path]]:
    """bench_engine's WGS VCF with every record PASS and biallelic, normalised once, and its scoring files."""
    vcf = d / f"wgs_{n_records}_peers.vcf.gz"
    if not vcf.exists():
        print(f"generating {vcf.name} (bench_engine's WGS VCF, every record PASS and biallelic)…", flush=True)
        tmp = vcf.with_name(vcf.name + ".tmp.vcf.gz")
        make_wgs_vcf(tmp, n_records, lowqual_rate=0.0, multiallelic_rate=0.0)
        os.replace(tmp, vcf)
    norm = d / f"wgs_{n_records}_peers.parquet"
    if not norm.exists():
        from prsgazer.engine.genotypes.vcf import normalize_vcf

        normalize_vcf(str(vcf), str(norm.with_suffix(".tmp.parquet")))
        os.replace(norm.with_suffix(".tmp.parquet"), norm)
    sites = pl.read_parquet(norm, columns=["chrom", "pos", "id", "ref", "alt"])
    return vcf, norm, make_scorefiles(sites, d / f"wgs_peers_scores_{n_scores}x{n_rows}", n_scores, n_rows)


def wl_person100(d: Path, g: peers.Gnomon, plinks: list[peers.Plink2], *, n_records: int, n_scores: int,
                 n_rows: int) -> Workload:  # fmt: skip
    vcf, norm, files = data_person100(d, n_records, n_scores, n_rows)
    run = d / "runs" / f"peers_person100_{n_records}_{n_scores}x{n_rows}"
    run.mkdir(parents=True, exist_ok=True)
    print("\n[person100] preparing (independent match, plink2 score file, numpy check)…", flush=True)
    target = pc.vcf_target(vcf, run / "vcf_sites.parquet")
    rows = pc.read_score_rows(files)
    m = pc.independent_match(rows, target)
    ref_np = pc.vcf_numpy_sums(m.rows, target, "PERSON")
    ref_np_gnomon = pc.vcf_numpy_sums(m.gnomon_rows, target, "PERSON")
    psf, const = pc.cached_plink2_scores(m.rows, m.names, run)
    wl = Workload("person100", f"person × {n_scores} scores / {rows.height:,} weights, cold: a {n_records:,}-record "
                  "WGS VCF (bench_engine.py [2])",
                  [f"{vcf.name}: bench_engine's generator with every record PASS and biallelic (gnomon and plink2 "
                   "ignore FILTER; gnomon scores multi-allelic sites, prsgazer by default does not)",
                   "variant sites only; 10 % of the score rows sit at positions absent from the VCF: unmatched in "
                   "every tool (prsgazer gets no --reference to give REF at absent sites)"],
                  "prsgazer score (CLI, from the VCF), cold")  # fmt: skip
    del rows, target
    warm_page_cache([vcf, norm, psf, *files])
    wl.start()
    out, cache = run / "prsgazer.tsv", run / "prsgazer_cache"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [prsgazer_cli(), "score", str(vcf), "--out", str(out)]
    for f in files:
        cmd += ["-s", str(f)]
    st = measure_cmd_stats(cmd, env={"PRSGAZER_CACHE_DIR": str(cache)})
    ours = pc.prsgazer_tsv_sums(out)
    note = f"empty cache dir: reads the VCF, parses the {len(files)} files"
    wl.add(Row.of("prsgazer score (CLI, from the VCF), cold", st, note, pc.prsgazer_tsv_matched(out)))
    lst = run / "files.txt"
    lst.write_text("\n".join(str(f) for f in files))
    cache2, out2 = run / "prsgazer_cache_engine", run / "prsgazer_engine.tsv"
    shutil.rmtree(cache2, ignore_errors=True)
    code = PERSON100_CODE.format(lst=str(lst), geno=str(norm), cache=str(cache2), out=str(out2))
    st = measure_cmd_stats([str(PY), "-c", code])
    info = json.loads(st.stdout.strip().splitlines()[-1])
    steps = ", ".join(f"{k} {v:.2f}" for k, v in info["timings"].items())
    note = f"bench_engine [2]: the VCF normalised beforehand; in run_scoring {info['wall']:.2f} s ({steps})"
    row = Row.of("prsgazer run_scoring from the parquet, cold", st, note)
    wl.add(row.compare(ours, pl.read_csv(out2, separator="\t").rename({"pgs_id": "score"})))

    score_dir = peers.fresh_score_dir(files, run / "gnomon_scores")
    row, gr = run_gnomon(g, score_dir, vcf, run / "gnomon", "38", f"gnomon {g.version}, cold")
    gs, _ = pc.gnomon_sums(gr.sscore, m.gnomon_n)
    row.matched = m.gnomon_rows.height
    wl.add(row.compare(ours, gs))
    row2, gr2 = run_gnomon(g, score_dir, vcf, run / "gnomon", "38", f"gnomon {g.version}, converted files kept")
    row2.note, row2.matched = row2.note.split(";")[0], m.gnomon_rows.height
    wl.add(row2.compare(ours, pc.gnomon_sums(gr2.sscore, m.gnomon_n)[0]))
    inputs = ["--vcf", str(vcf), "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000"]
    note = f"--vcf: imports the VCF; score file {psf.stat().st_size / 1e9:.2f} GB, {len(m.names)} columns"
    psums = run_plink2s(wl, plinks, inputs, psf, m, run, ours, const, one_sample=True, note=note)
    wl.load.append(os.getloadavg()[0])
    numpy_checks(wl, ref_np, {"prsgazer": ours, "gnomon": gs, **psums}, f"the VCF's calls, all {len(m.names)} scores")
    if m.differences():
        a, rel, _ = pc.agreement(ref_np_gnomon, gs)
        wl.checks += [*m.differences(), f"gnomon against numpy on gnomon's rows: max |Δ| {a:.2e} (rel. {rel:.1e})"]
    return wl


def data_cohort(d: Path, n_samples: int, n_variants: int, n_scores: int) -> tuple[Path, list[Path]]:
    """bench_engine's cohort without missing calls (its own copy has 0.5 %)."""
    cdir = d / f"cohort_{n_samples}x{n_variants}x{n_scores}_nomiss"
    cdir.mkdir(exist_ok=True)
    prefix, files, _ = make_cohort(cdir, n_samples, n_variants, n_scores, missing_rate=0.0)
    return prefix, files


def wl_cohort(d: Path, g: peers.Gnomon, plinks: list[peers.Plink2], *, n_samples: int, n_variants: int,
              n_scores: int, repeats: int) -> Workload:  # fmt: skip
    prefix, files = data_cohort(d, n_samples, n_variants, n_scores)
    run = prefix.parent / "peers"
    run.mkdir(exist_ok=True)
    m, psf, const, _ = pc.pfile_comparison(prefix, files, run)
    ref_np = pc.numpy_sums(Path(f"{prefix}.pgen"), m.rows, m.names[:3], pc.psam_iids(prefix), "zero")
    wl = Workload("cohort", f"cohort: {n_samples:,} samples × {n_variants:,} variants × {n_scores} scores "
                  "(bench_engine.py [3])", [f"{prefix}.pgen, without missing calls here (bench_engine's copy has "
                  "0.5 %); prsgazer through the venv's CLI, as bench_engine [3]"],
                  "prsgazer score (CLI), warm")  # fmt: skip
    warm_page_cache([Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam")] + files + [psf])
    wl.start()
    cache, out = run / "prsgazer_cache", run / "prsgazer.tsv"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [prsgazer_cli(), "score", str(prefix), "--out", str(out)]
    for f in files:
        cmd += ["-s", str(f)]
    env = {"PRSGAZER_CACHE_DIR": str(cache)}
    cold = Row.of("prsgazer score (CLI), cold", measure_cmd_stats(cmd, env=env), "empty cache dir")
    cold_sums = pc.prsgazer_tsv_sums(out)
    st, spread = median_run(lambda: measure_cmd_stats(cmd, env=env), repeats)
    ours = pc.prsgazer_tsv_sums(out)
    wl.add(
        Row.of("prsgazer score (CLI), warm", st, spread + "; scoring files parsed before", pc.prsgazer_tsv_matched(out))
    )
    wl.add(cold.compare(ours, cold_sums))
    score_dir = peers.fresh_score_dir(files, run / "gnomon_scores")
    row, gr = run_gnomon(g, score_dir, prefix, run / "gnomon", "37", f"gnomon {g.version}, cold")
    gs, _ = pc.gnomon_sums(gr.sscore, m.gnomon_n)
    row.matched = m.gnomon_rows.height
    wl.add(row.compare(ours, gs))
    runs = sorted((run_gnomon(g, score_dir, prefix, run / "gnomon", "37", f"gnomon {g.version}, converted files kept")
                   for _ in range(repeats)), key=lambda x: x[0].wall)  # fmt: skip
    row2, gr2 = runs[(repeats - 1) // 2]
    row2.note, row2.matched = (
        f"median of {repeats}: {runs[0][0].wall:.2f}…{runs[-1][0].wall:.2f} s",
        m.gnomon_rows.height,
    )
    wl.add(row2.compare(ours, pc.gnomon_sums(gr2.sscore, m.gnomon_n)[0]))
    psums = run_plink2s(wl, plinks, ["--pfile", str(prefix)], psf, m, run, ours, const, repeats=repeats)
    wl.load.append(os.getloadavg()[0])
    numpy_checks(wl, ref_np, {"prsgazer": ours, "gnomon": gs, **psums}, "3 scores")
    return wl


# ------------------------------------------------------------------------------------------------

ALL = ["missing", "batch300k", "swapped", "batch1m", "person1", "person100", "cohort"]

#: sizes per workload: (full, quick)
SIZES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    # samples, variants, scores, their largest size, genome-wide scores, their size
    "batch300k": ((3202, 300_000, 200, 60_000, 3, 240_000), (1000, 30_000, 50, 6_000, 2, 24_000)),
    "swapped": ((3202, 300_000, 200, 60_000, 3, 240_000), (1000, 30_000, 50, 6_000, 2, 24_000)),
    "batch1m": ((3202, 1_000_000, 500, 200_000, 5, 800_000), (1000, 60_000, 100, 12_000, 2, 48_000)),
    # panel samples, panel variants, score rows
    "person1": ((3202, 300_000, 51_209), (1000, 30_000, 5_000)),
    # VCF records, scores, rows per score
    "person100": ((5_000_000, 100, 30_000), (200_000, 10, 20_000)),
    # samples, variants, scores
    "cohort": ((2504, 100_000, 20), (2504, 10_000, 20)),
}


def batch_data(d: Path, key: str, size: tuple[int, ...]) -> tuple[Path, list[Path]]:
    """The panel and scoring files of a batch workload (`swapped`: batch300k's files on its swapped panel)."""
    ns, nv, nsc, mx, ngw, gw = size
    prefix = ensure_panel(d, ns, nv) if key == "batch1m" else ensure_bn_panel(d, ns, nv)
    files = ensure_scorefiles(d, prefix, nsc, mx, ngw, gw)
    return (swapped_panel(prefix) if key == "swapped" else prefix), files


def prepare(d: Path, key: str, size: tuple[int, ...]) -> None:
    """Generate (once) the data of a workload."""
    if key in ("batch300k", "swapped", "batch1m"):
        batch_data(d, key, size)
    elif key == "person1":
        ensure_bn_panel(d, size[0], size[1])
    elif key == "person100":
        data_person100(d, *size)
    elif key == "cohort":
        data_cohort(d, *size)


def run_workload(d: Path, key: str, size: tuple[int, ...], g: peers.Gnomon, plinks: list[peers.Plink2],
                 repeats: int, skip_ref_blas: bool, cold_rounds: int = 1) -> Workload:  # fmt: skip
    if key == "missing":
        return wl_missing(d, g, plinks)
    if key in ("batch300k", "swapped", "batch1m"):
        ns, nv, nsc, mx, ngw, gw = size
        prefix, files = batch_data(d, key, size)
        if key == "swapped":
            title = (f"batch, cold, batch300k with REF and ALT exchanged in the panel (ALT the major allele at "
                     f"~85 % of sites; the same genotypes and {len(files)} scoring files)")  # fmt: skip
            kind = "shows how each tool's cost depends on which allele the .pgen counts"
        elif key == "batch300k":
            title = (
                f"batch, cold: {ns:,} × {nv:,} Balding–Nichols panel (5 superpopulations), {len(files)} scoring files"
            )
            kind = "effect allele REF or ALT at random; no strand-ambiguous SNPs"
        else:
            title = (
                f"batch, cold: {ns:,} × {nv:,} msprime panel, {len(files)} scoring files (bench_reference.py's case)"
            )
            kind = "~1/6 of the SNPs strand-ambiguous: prsgazer keep_ambiguous, as gnomon keeps them"
        detail = [f"{nsc} files of 10…{mx:,} rows (log-spaced) + {ngw} genome-wide of {gw:,}; {kind}", f"{prefix}.pgen"]
        return wl_batch(d, g, plinks, key=key, title=title, detail=detail, prefix=prefix, files=files,
                        keep_ambiguous=key == "batch1m", skip_ref_blas=skip_ref_blas, repeats=repeats,
                        cold_rounds=cold_rounds)  # fmt: skip
    if key == "person1":
        prefix = ensure_bn_panel(d, size[0], size[1])
        return wl_person1(d, g, plinks, prefix=prefix, n_rows=size[2], repeats=max(repeats, 5))
    if key == "person100":
        return wl_person100(d, g, plinks, n_records=size[0], n_scores=size[1], n_rows=size[2])
    return wl_cohort(d, g, plinks, n_samples=size[0], n_variants=size[1], n_scores=size[2], repeats=repeats)


def set_memory_limit(text: str) -> None:
    """The batch workloads' memory limit: prsgazer's, and plink2's --memory (MiB) the same, at least the
    640 MiB plink2 accepts."""
    from prsgazer.engine.scoring.batch import parse_memory

    global MEMORY, PLINK2_MEMORY
    MEMORY = text
    PLINK2_MEMORY = ["--memory", str(max(640, parse_memory(text) // 2**20))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the harness in a couple of minutes")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--repeats", type=int, default=None, help="warm runs per tool (median; default 3, quick 2)")
    ap.add_argument("--prepare", action="store_true", help="only generate the data (and install the peers)")
    ap.add_argument("--skip-reference-blas", action="store_true", help="no Debian-BLAS plink2 on the batch workloads")
    ap.add_argument("--reference-blas-1m", action="store_true",
                    help="also run Debian-BLAS plink2 on batch1m (~6× plink2 + OpenBLAS: ~20 min)")  # fmt: skip
    ap.add_argument("--cold-rounds", type=int, default=1,
                    help="batch workloads: cold runs of prsgazer and gnomon in alternated rounds, and as many "
                    "plink2 runs (median; the VM's drift makes one cold run a ±15 %% figure)")  # fmt: skip
    ap.add_argument("--gnomon-version", default=peers.GNOMON_VERSION)
    ap.add_argument("--memory-limit", default=MEMORY,
                    help="batch workloads: prsgazer's memory limit (PRSGAZER_MEMORY_LIMIT) and plink2's --memory "
                    "(default %(default)s)")  # fmt: skip
    a = ap.parse_args()
    set_memory_limit(a.memory_limit)
    only = [w.strip() for w in a.only.split(",") if w.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}; choose from {ALL}")
    repeats = a.repeats or (2 if a.quick else 3)
    d = bench_dir()
    g = peers.ensure_gnomon(a.gnomon_version)
    plinks = peers.plink2_peers()
    sizes = {k: v[1] if a.quick else v[0] for k, v in SIZES.items()}
    if a.prepare:
        for key in only:
            if key in sizes:
                prepare(d, key, sizes[key])
        print(f"data ready under {d}")
        return
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    print(f"bench dir {d}; {cpu_model()}, {os.cpu_count()} cores; load average {load0[0]:.2f} {load0[1]:.2f} "
          f"{load0[2]:.2f}")  # fmt: skip
    print(f"gnomon {g.version} ({g.python}); {peers.plink2_version()}; batch memory limit {MEMORY} "
          f"(plink2 {' '.join(PLINK2_MEMORY)})")  # fmt: skip
    for p in plinks:
        print(f"  {p.label}: loads {p.blas}")
    wls = []
    for key in only:
        long_1m = key == "batch1m" and not a.quick and not a.reference_blas_1m
        skip = a.skip_reference_blas or key == "swapped" or long_1m
        wls.append(run_workload(d, key, sizes.get(key, ()), g, plinks, repeats, skip, max(1, a.cold_rounds)))
    load1 = os.getloadavg()
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"\n\nprsgazer vs peers, {when}: {cpu_model()}, {os.cpu_count()} cores, 1-min load average "
          f"{load0[0]:.2f} at start, {load1[0]:.2f} at end ({time.perf_counter() - t0:.0f} s in all)")  # fmt: skip
    print(f"gnomon {g.version}; {peers.plink2_version()}; " + "; ".join(f"{p.label}: {p.blas}" for p in plinks))
    print("prsgazer/tool below 1: prsgazer is faster (wall, CPU) or smaller (peak RSS)")
    for w in wls:
        w.print()
    out = d / ("peers_results_quick.json" if a.quick else "peers_results.json")  # the latest; and one per run:
    (d / "runs").mkdir(exist_ok=True)
    keep = d / "runs" / f"peers_results{'_quick' if a.quick else ''}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "load": [load0[0], load1[0]], "cores": os.cpu_count(),
              "cpu": cpu_model(),
              "gnomon": g.version, "plink2": peers.plink2_version(), "workloads": [asdict(w) for w in wls]}  # fmt: skip
    for path in (out, keep):
        path.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nresults: {out} (and {keep.name})")


if __name__ == "__main__":
    main()
