"""One scoring run end to end: genotypes + scoring files → per (sample, score) table with its match
summary, absent-site decision and warnings. See docs/engine.md ("A scoring run").

This is the composition the CLI, tasks and notebooks call; every step is also usable on its own
(`scorefile`, `genotypes`/`vcf`, `absent`, `match`, `score`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.cid import cid_of_file
from prsgazer.engine.common import small_pages
from prsgazer.engine.genotypes.absent import (
    AbsentSiteReport,
    Coverage,
    FastaReference,
    count_absent,
    decide_coverage,
    fill_absent_sites,
    load_reference,
)
from prsgazer.engine.genotypes.arrays import ArraySource
from prsgazer.engine.genotypes.build import BuildEvidence, check_build, resolve_target_build
from prsgazer.engine.genotypes.freq import frequencies_for, read_frequencies
from prsgazer.engine.genotypes.open import open_genotypes
from prsgazer.engine.genotypes.source import (
    DOSAGE_FIELDS,
    HARD_CALLS,
    GenotypeSource,
    QualityFilters,
)
from prsgazer.engine.scorefile import CacheWriter, ReaderOptions, ScoreCounts, ScoringFile, note_accessions
from prsgazer.engine.scorefile import read_scorefiles as read_all
from prsgazer.engine.scorefile.lifted import lift_cached
from prsgazer.engine.scorefile.liftover import chain_builds
from prsgazer.engine.scoring.index_cache import cached_index
from prsgazer.engine.scoring.match import MatchOptions, MatchResult, TargetIndex, match_variants
from prsgazer.engine.scoring.score import ScoreOptions, plan_weights, score_chunks, score_table
from prsgazer.errors import InputError
from prsgazer.fileio import output_path

#: Columns of OUT.tsv, in order.
OUT_COLUMNS = [
    "sample_id", "pgs_id", "sum", "avg", "denom", "n_matched", "n_variants", "overlap", "status",
    "n_missing", "n_imputed", "allele_ct", "named_allele_dosage_sum", "reason", "dosage_source",
]  # fmt: skip


class RunOptions(BaseModel):
    """Everything a run can be told (built by `prsgazer.ops.params.run_options` from the user's choices)."""

    model_config = ConfigDict(frozen=True)

    match: MatchOptions = Field(default_factory=MatchOptions)
    score: ScoreOptions = Field(default_factory=ScoreOptions)
    filters: QualityFilters = Field(default_factory=QualityFilters)
    build: str | None = Field(default=None, description="Declared genotype build (checked against detection).")
    coverage: Coverage | None = Field(default=None, description="Declared coverage of a VCF (absent-site policy).")
    reference: Path | None = Field(default=None, description="FASTA or variant table giving REF at absent sites.")
    ref_freq: Path | None = Field(default=None, description="Reference allele frequencies for imputation.")
    cache_dir: Path | None = None
    reader: ReaderOptions = Field(default_factory=ReaderOptions, description="Scoring-file reader (tuning).")
    chains: tuple[Path, ...] = Field(
        default=(), description="UCSC chain files (hg19ToHg38.over.chain.gz, …) to lift scoring files in another build."
    )
    dosage_fields: tuple[str, ...] = Field(
        default=DOSAGE_FIELDS,
        description="VCF FORMAT fields read as dosages, in order of preference (empty: hard calls only). "
        "`score.hard_calls` ignores every dosage, pgen ones too.",
    )
    only_rows: dict[str, list[int]] | None = Field(
        default=None,
        description="Score only these scoring rows (row_nr) of each listed score: a person re-scored on the "
        "variants a reference panel shares (engine.percentile).",
    )


class LiftReport(BaseModel):
    """A scoring file lifted to the genotypes' build: by which chain, and the rows that could not be."""

    scorefile: str
    cid: str
    chain: str
    chain_cid: str
    from_build: str
    to_build: str
    n_rows: int
    n_unlifted: int
    unlifted_by: dict[str, int] = Field(default_factory=dict)
    cache_cid: str | None = Field(default=None, description="CID of the lifted-file cache entry used or written.")


def _lift_to(
    build: str | None, files: list[ScoringFile], rows: pl.DataFrame, opt: RunOptions
) -> tuple[pl.DataFrame, dict[str, LiftReport]]:
    """Scoring files in another build than the genotypes, lifted with a chain of `opt.chains` that goes
    from theirs to the genotypes' (cached by scoring-file and chain CID); the others as they are."""
    if build is None or not opt.chains:
        return rows, {}
    chains = {chain_builds(c): Path(c) for c in opt.chains}
    frames: list[pl.DataFrame] = []
    lifts: dict[str, LiftReport] = {}
    for sf in files:
        chain = chains.get((sf.build, build)) if sf.build and sf.build != build else None
        if chain is None:
            frames.append(sf.variants)
            continue
        frame, unlifted, entry_cid = lift_cached(sf, chain, opt.cache_dir)
        frames.append(frame)
        by = dict(unlifted.group_by("reason").len().sort("len", descending=True).iter_rows())
        lifts[sf.cid] = LiftReport(
            scorefile=sf.path.name, cid=sf.cid, chain=chain.name, chain_cid=cid_of_file(chain),
            from_build=str(sf.build), to_build=build, n_rows=sf.variants.height, n_unlifted=unlifted.height,
            unlifted_by={str(k): int(v) for k, v in by.items()}, cache_cid=entry_cid,
        )  # fmt: skip
    if not lifts:
        return rows, {}
    return pl.concat(frames, rechunk=False), lifts


class ScorefileInfo(BaseModel):
    path: str
    cid: str
    build: str | None
    harmonised: bool
    counts: list[ScoreCounts]
    cache_cid: str | None = Field(default=None, description="CID of the parsed-file cache entry used or written.")


#: Added to a failed score's reason when absent sites were left unmatched for want of a declared coverage.
UNDECLARED_COVERAGE = (
    "this VCF lists variant sites only and its coverage is not declared, so the score's positions it does not "
    "list count as missing: if it is a whole genome, declare its coverage as wgs (the coverage option, or the "
    "stored VCF's coverage field) and score again"
)


class ScoreRun(BaseModel):
    """The result of `run_scoring`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    genotypes: str
    genotype_kind: str
    n_samples: int
    n_target_variants: int
    build: BuildEvidence
    scorefiles: list[ScorefileInfo]
    match: MatchResult
    absent: AbsentSiteReport
    imputation: str
    dosage_source: str = Field(
        default=HARD_CALLS,
        description="What was scored: 'hard calls', the VCF dosage field ('DS', 'HDS', 'GP'; several with their "
        "record counts) or 'pgen dosages'.",
    )
    warnings: list[str] = Field(default_factory=list)
    table: pl.DataFrame
    liftover: list[LiftReport] = Field(
        default_factory=list, description="Scoring files lifted to the genotypes' build, with their lost rows."
    )
    sample_ids: pl.DataFrame | None = Field(
        default=None, description="sample_id fid iid: the input's own family and individual ids."
    )
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per step.")
    derived: dict[str, str] = Field(
        default_factory=dict,
        description="CIDs of the derived cache entries the run read besides its scoring files: `genotypes_table` "
        "(a normalised VCF), `target_index` (its index for matching), `fasta_index` (the reference FASTA's index).",
    )

    @property
    def all_failed(self) -> bool:
        return not any(s.passed for s in self.match.summaries)


def read_scorefiles(
    paths: list[Path], cache_dir: Path | None, *, writer: CacheWriter | None = None, reader: ReaderOptions | None = None
) -> tuple[list[ScoringFile], pl.DataFrame]:
    """Parse every file; one frame with all rows. The same score id in two files is an error."""
    # two files parsed at once (a person's run has no memory limit to keep); `writer` is flushed by the caller
    files, frame = read_all(paths, cache_dir=cache_dir, writer=writer, workers=2, reader=reader)
    seen: dict[str, Path] = {}
    for sf in files:
        note_accessions(sf, seen)
    return files, frame


#: One genotype input, or several of the same samples (one per chromosome, say) scored as one.
Genotypes = str | Path | Sequence[str | Path]


#: `_open_target`'s result: the source, its index for matching, the index's cache CID, the kernels' loading.
_Opened = tuple[GenotypeSource, TargetIndex, str | None, Future[None] | None]


def _open_target(genotypes: Genotypes, opt: RunOptions, kernels_loader: ThreadPoolExecutor) -> _Opened:
    """The genotypes, opened and preloaded, and their index for matching: from the target-index cache
    when they are a cached normalised table (a VCF), with that cache entry's CID. A cohort's scoring
    kernels start loading on `kernels_loader` as soon as its size is known (the future to wait for)."""
    # a hard-calls run does not parse a VCF's dosage fields at all
    fields = () if opt.score.hard_calls else opt.dosage_fields
    source = open_genotypes(genotypes, cache_dir=opt.cache_dir, filters=opt.filters, dosage_fields=fields)
    loading = None
    try:
        if source.n_samples > opt.score.entry_path_max_samples and opt.score.sparse_additive:
            loading = kernels_loader.submit(load_kernels, opt.reader.wide_vectors)
        source.preload(dosages=not opt.score.hard_calls)
        if opt.cache_dir is not None and source.cache_cid is not None:
            return source, *cached_index(source.variants, opt.cache_dir, source.cache_cid), loading
        return source, TargetIndex(source.variants), None, loading
    except BaseException:
        source.close()
        raise


def load_kernels(wide_vectors: bool) -> None:
    """numba's start and the scoring kernels' first cache load (`kernels.load`, imported only here): about
    0.5 s, mostly holding the GIL, run on a helper thread while a run reads, indexes and matches, or a
    batch hashes its files (none of which needs them)."""
    from prsgazer.engine.scoring import kernels

    kernels.load(wide_vectors=wide_vectors)


def _close_when_opened(opening: Future[_Opened]) -> None:
    """Close the genotypes a failed run opened (when opening them failed, that error is the one raised)."""
    try:
        source = opening.result()[0]
    except Exception:  # noqa: BLE001 - nothing was opened; the caller raises its error
        return
    source.close()


def run_scoring(genotypes: Genotypes, scorefiles: list[str | Path], options: RunOptions | None = None) -> ScoreRun:
    """Score `genotypes` (one input, several files of the same samples, or a pgsc_calc samplesheet)
    against every score in `scorefiles`."""
    opt = options or RunOptions()
    if not scorefiles:
        raise InputError("no scoring file given", field="--scorefile")
    clock = Clock()
    small_pages()  # the target index and the matcher sort large arrays: huge-page faults doubled their time
    writer = CacheWriter()
    # The genotypes are opened and indexed for matching on a second thread while the scoring files
    # are read (parquet decoding and the index release the GIL; the readers' imports need it).
    # Later, the same thread finds the multi-allelic row flags scoring needs while the rows are matched.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-genotypes")
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-kernels")
    opening = pool.submit(_open_target, genotypes, opt, loader)
    try:
        files, rows = read_scorefiles([Path(p) for p in scorefiles], opt.cache_dir, writer=writer, reader=opt.reader)
        clock.lap("read scoring files")
        source, index, index_cid, kernels_loading = opening.result()
    except BaseException:
        _close_when_opened(opening)
        pool.shutdown(wait=True)
        loader.shutdown(wait=True)
        writer.close()
        raise
    if isinstance(source, ArraySource):  # an array's variants are the scoring rows' alleles at its sites
        source = source.for_rows(rows)
        index, index_cid = TargetIndex(source.variants), None
    flags = pool.submit(source.multiallelic_rows)  # computed once per source
    clock.lap("open genotypes (while reading)")
    warnings: list[str] = []
    try:
        where = Path(getattr(source, "source_path", None) or source.path)  # the file the user named
        build = resolve_target_build(source.build, opt.build, where)
        rows, lifts = _lift_to(build.build, files, rows, opt)
        if lifts:
            clock.lap("liftover")
        by_warning: dict[str, list[str]] = {}
        for sf in files:
            if sf.cid in lifts:
                continue
            for acc in sf.accessions:
                w = check_build(build, where, sf.build, sf.path, acc)
                if w:  # one warning per distinct text, naming every score it concerns
                    by_warning.setdefault(w.split(": ", 1)[1], []).append(acc)
        for text, accs in by_warning.items():
            shown = ", ".join(accs[:5]) + (f" and {len(accs) - 5} more" if len(accs) > 5 else "")
            warnings.append(f"{shown}: {text}")
        coverage, how = decide_coverage(source, opt.coverage)
        reference = load_reference(opt.reference, opt.cache_dir) if opt.reference else None
        derived = {"genotypes_table": source.cache_cid, "target_index": index_cid}
        if isinstance(reference, FastaReference):
            derived["fasta_index"] = reference.index_cid
        try:
            target, absent = fill_absent_sites(
                source, rows, coverage, how, reference, str(opt.reference) if opt.reference else None
            )
        finally:
            if isinstance(reference, FastaReference):
                reference.close()
        clock.lap("absent-site policy")
        match = match_variants(rows, target.variants, opt.match, index if target is source else None)
        if target is not source:  # absent sites were added: the index of the source was not used
            derived.pop("target_index", None)
        del index
        absent = count_absent(absent, match.unmatched)
        clock.lap("match")
        order = {a: i for i, a in enumerate(rows.get_column("accession").unique(maintain_order=True).to_list())}
        match.summaries.sort(key=lambda s: order.get(s.accession, len(order)))
        for s in match.summaries:
            if not s.passed and absent.coverage is Coverage.UNKNOWN and absent.n_absent_positions:
                s.reason = f"{s.reason}; {UNDECLARED_COVERAGE}"  # the likeliest cause, and its fix
            if not s.passed:
                warnings.append(f"{s.accession}: failed — {s.reason}")
        passed = match.passed
        ref_freq = None
        if opt.ref_freq is not None:
            ref_freq = frequencies_for(target.variants, read_frequencies(opt.ref_freq))
        weights = match.weights
        if opt.only_rows is not None:
            keep = pl.DataFrame(
                [(a, r) for a, rows_ in opt.only_rows.items() for r in rows_],
                schema={"accession": pl.String, "row_nr": pl.Int64},
                orient="row",
            )
            weights = weights.with_columns(pl.col("accession").cast(pl.String)).join(
                keep, on=["accession", "row_nr"], how="semi"
            )
            for s in match.summaries:
                if s.accession in opt.only_rows:
                    s.n_matched = len(set(opt.only_rows[s.accession]))
        plan = plan_weights(weights, passed)
        clock.lap("plan")
        flags.result()
        if kernels_loading is not None:
            kernels_loading.result()  # a failure to load them is raised here, before scoring
            clock.lap("load kernels (while matching)")
        totals = score_chunks(target, plan, options=opt.score, ref_alt_freq=ref_freq)
        clock.lap("score")
        writer.flush()  # the parsed-file cache, written while the run went on
        clock.lap("cache scoring files")
        scored = score_table(target, plan, totals)
        imputation = _describe_imputation(int(target.samples.get_column("founder").sum()), opt, ref_freq)
        dosage_source = opt.score.dosage_source(source)
        unused = _unused_dosages(source, opt)
        if unused:
            warnings.append(unused)
        samples = target.samples.get_column("sample_id").to_list()
        table = _out_table(scored, match, samples, plan.accessions).with_columns(
            pl.lit(dosage_source).alias("dosage_source")
        )
        return ScoreRun(
            genotypes=str(genotypes) if isinstance(genotypes, (str, Path)) else ", ".join(map(str, genotypes)),
            genotype_kind=source.kind if source.kind != "parquet" else "vcf",
            n_samples=source.n_samples,
            sample_ids=source.sample_ids(),
            n_target_variants=source.variants.height,
            build=build,
            liftover=list(lifts.values()),
            scorefiles=[
                ScorefileInfo(
                    path=str(sf.path),
                    cid=sf.cid,
                    build=sf.build,
                    harmonised=sf.harmonised,
                    counts=sf.counts(),
                    cache_cid=sf.cache_cid,
                )
                for sf in files
            ],
            match=match,
            absent=absent,
            imputation=imputation,
            dosage_source=dosage_source,
            warnings=warnings,
            table=table,
            timings=clock.laps,
            derived={k: v for k, v in derived.items() if v},
        )
    finally:
        pool.shutdown(wait=True)  # the flags' thread is done with the source before it is closed
        loader.shutdown(wait=True)
        writer.close()
        source.close()


class Clock:
    """Seconds per named step (a step lapped again adds up)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self.t, 3)
        self.t = now


def _describe_imputation(n_founders: int, opt: RunOptions, ref_freq: np.ndarray | None) -> str:
    if not opt.score.impute:
        return "off: missing calls contribute 0 and shrink DENOM"
    parts = []
    if ref_freq is not None:
        parts.append(f"reference frequencies from {opt.ref_freq} ({int(np.isfinite(ref_freq).sum())} variants)")
    if n_founders >= opt.score.min_founders_for_target_freq:
        parts.append(f"target frequencies from {n_founders} founders")
    elif ref_freq is None:
        return (
            f"off: {n_founders} founder(s) < {opt.score.min_founders_for_target_freq} and no reference "
            "frequencies — missing calls contribute 0 and shrink DENOM (counted in n_missing)"
        )
    return "mean imputation (2 × effect-allele frequency) with " + ", then ".join(parts)


def _unused_dosages(source: GenotypeSource, opt: RunOptions) -> str | None:
    """A note when the genotypes have dosages that the run does not score."""
    declared = list(getattr(source, "dosage_declared", []) or [])
    if source.has_dosages and opt.score.hard_calls:
        return f"hard calls scored (hard_calls): the {source.dosage_source} of the genotypes are not used"
    unread = [f for f in declared if f not in opt.dosage_fields or opt.score.hard_calls]
    if unread and not source.has_dosages:
        why = "hard_calls" if opt.score.hard_calls else f"dosage fields {list(opt.dosage_fields)}"
        return f"hard calls scored ({why}): the VCF's {'/'.join(unread)} dosages are not used"
    return None


def _out_table(scored: pl.DataFrame, match: MatchResult, samples: list[str], accessions: list[str]) -> pl.DataFrame:
    """One row per (sample, summarised score), samples in their order, scores in the summaries' order:
    `scored` (score_table's rows: sample-major over `accessions`) gathered by position, nulls for the
    scores that were not computed, and each score's summary (no joins on 1M-row string keys)."""
    summ = pl.DataFrame(
        {
            "pgs_id": [s.accession for s in match.summaries],
            "n_variants": [s.n_variants for s in match.summaries],
            "overlap": [s.overlap for s in match.summaries],
            "status": ["ok" if s.passed else "failed" for s in match.summaries],
            "reason": [s.reason for s in match.summaries],
            "n_matched_all": [s.n_matched for s in match.summaries],
        },
        schema={
            "pgs_id": pl.String, "n_variants": pl.Int64, "overlap": pl.Float64, "status": pl.String,
            "reason": pl.String, "n_matched_all": pl.Int64,
        },
    )  # fmt: skip
    n, k, s = len(samples), summ.height, len(accessions)
    where = {a: j for j, a in enumerate(accessions)}
    column = np.array([where.get(a, -1) for a in summ.get_column("pgs_id").to_list()], dtype=np.int64)
    rows = pl.Series((np.arange(n, dtype=np.int64)[:, None] * s + column[None, :]).ravel())
    rows = rows.set(pl.Series(np.tile(column < 0, n)), None)  # a score not computed: nulls
    per_score = summ.select(pl.all().gather(np.tile(np.arange(k), n)))
    sample_id = pl.Series("sample_id", samples, dtype=pl.String).gather(np.repeat(np.arange(n), k))
    out = pl.concat(
        [sample_id.to_frame(), per_score, scored.drop("sample_id", "pgs_id").select(pl.all().gather(rows))],
        how="horizontal",
    ).with_columns(pl.coalesce("n_matched", "n_matched_all").alias("n_matched"))
    return out.select(c for c in OUT_COLUMNS if c != "dosage_source")


def write_tsv(
    frame: pl.DataFrame, path: str | Path, *, inputs: Iterable[str | Path | None] = (), field: str | None = None
) -> None:
    """Write a table as TSV (NA for missing, full float precision) through the safe writer: atomic for a
    file, streamed to a FIFO or device, `-` for standard output; an output that is a directory or one of
    `inputs` is an `OutputError` (exit 2) naming `field`."""
    with output_path(path, inputs=inputs, field=field) as tmp:
        frame.write_csv(tmp, separator="\t", null_value="NA", float_precision=None)
