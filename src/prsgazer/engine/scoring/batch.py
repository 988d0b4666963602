"""Batch scoring: many scoring files against one reference panel in one pass over its genotypes.
See docs/reference.md ("Batch scoring", "Memory model", "Resumability").

`batch_score(panel, scorefiles, out_dir=…)`:

1. Every scoring file gets a key from the panel's CIDs (.pgen/.pvar/.psam), the file's CID, the
   match and score options and the engine's source version. A file whose manifest `<out_dir>/<file key>.json`
   exists and whose per-score parquet results all validate (readable, one row per panel sample, the
   expected columns, the expected key in their metadata) is *cached* and not recomputed.
2. The rest are parsed and matched against the panel variant table with the engine's rules
   (`match_variants`, several files at once, in groups bounded by the memory limit; two groups are
   matched at once on two threads while the next is read).
3. Additive scores are scored together over the union of their matched variants, read chunk by
   chunk (chunk size from the memory limit), each variant read once for all scores. Per chunk, scores
   dense enough use one BLAS product (ALT counts × weight block), the others a compiled sparse
   kernel (numba) over their own entries; missing calls are corrected exactly as the engine does
   (mean imputation from the panel's founders, else contribute 0 and shrink DENOM). Scores with
   dominant / recessive / per-dosage rows go through the engine's general path (`score_chunks`).
4. Each passed score's per-sample table is written as `<out_dir>/<score key>.parquet` (atomic),
   then the file's manifest. Outcomes: ok / failed (with reason) / cached, with run totals.

A file's manifest is sealed with the CID of its bytes, its results listed in the seal as companions
(`prsgazer.sealed`); the manifest also names each result's CID and the derived inputs it was computed
from (the parsed-file cache entry, the panel's site table). A result is encoded and hashed in memory
and written once (no seal file of its own, no read-back). A result or manifest whose bytes changed
is discarded and computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.cid import cid_of_bytes, cid_of_file
from prsgazer.engine import compiled
from prsgazer.engine.common import release_free_memory, small_pages
from prsgazer.engine.genotypes.sites import with_site_sums
from prsgazer.engine.genotypes.source import GenotypeSource
from prsgazer.engine.scorefile import (
    CacheWriter,
    ReaderOptions,
    ScoringFile,
    entry_path,
    note_accessions,
    read_scorefiles,
)
from prsgazer.engine.scoring.additive import ProgressFn, Totals, accumulate
from prsgazer.engine.scoring.additive import prepare as prepare_entries
from prsgazer.engine.scoring.match import MatchOptions, ScoreMatchSummary, TargetIndex, match_variants, summarize
from prsgazer.engine.scoring.run import Clock, load_kernels
from prsgazer.engine.scoring.score import ScoreOptions, plan_weights, score_chunks, score_table
from prsgazer.engine.version import source_version
from prsgazer.errors import InputError
from prsgazer.fileio import write_bytes
from prsgazer.logs import logger
from prsgazer.sealed import discard, read_verified_bytes, write_sealed_bytes

#: Columns of a per-score result parquet (named_allele_dosage_sum only with dosage_sum=True).
RESULT_COLUMNS = ["sample_id", "sum", "avg", "denom", "n_matched", "allele_ct", "n_missing", "n_imputed"]
_META_KEY = "prsgazer.batch"

_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------------
# memory limit


def parse_memory(text: str | int | float) -> int:
    """'2GB', '512MiB', '1.5G', '800M', 3000000000 → bytes (decimal and binary units; case-insensitive)."""
    if isinstance(text, (int, float)):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?)(b?)\s*", str(text).lower())
    if not m:
        raise InputError(
            f"cannot read memory size {text!r}", field="PRSGAZER_MEMORY_LIMIT", hint="e.g. 2GB, 1500MiB, 800M"
        )
    value, unit, binary, _ = m.groups()
    base = 1024 if binary else 1000
    power = " kmgt".index(unit or " ")
    return int(float(value) * base**power)


class MemoryPlan(BaseModel):
    """How the memory limit is spent: fixed parts, then the genotype chunk size."""

    limit: int
    fixed: int = Field(description="Variant table, weight entries, accumulators (bytes).")
    per_variant: int = Field(description="Bytes per variant of a chunk (int8 + float64 + prefetch, weight block).")
    chunk_variants: int
    match_rows: int = Field(description="Scoring rows matched per group.")
    score_groups: int = Field(default=1, description="Passes over the panel (scores split so accumulators fit).")
    match_passes: int = Field(
        default=1, description="Rounds of matching then scoring (files split so their entries fit the limit)."
    )
    n_dense: int = Field(default=0, description="Scores multiplied with BLAS (the rest: sparse kernel).")


_MIN_CHUNK = 64
_MAX_CHUNK = 1 << 16
#: Bytes a scoring row costs at the peak of matching its group: parsed frame ~160 and the matcher ~300
#: (peak RSS over the panel baseline: 390 B/row for a group of 1.2M rows, 455 for 3.2M, against a
#: 1M-variant panel), plus the next group, read meanwhile (~160), and a margin for the allocator.
_MATCH_ROW_BYTES = 700
#: Bytes of a parsed scoring row (its frame, the part of `_MATCH_ROW_BYTES` a file read ahead takes).
_PARSED_ROW_BYTES = 160
#: Rows per matched group at most: larger groups take memory (and page faults) and are no faster in wall
#: time (203 files, 2.1M rows: 1.8–2.0 s in groups of 200k or 400k rows, 2.3 s in groups of 1.1M; 200k
#: rows: 30–50 MB less peak RSS). Each matcher call has ~15 ms of fixed cost (polars query set-up), so
#: on 14.2M rows 88 groups take ~1 s more thread time than 17 groups of 1.1M, which the files read
#: meanwhile on the read-ahead thread hide (bench_reference warm: the same wall time either way).
_MAX_MATCH_ROWS = 200_000
#: Rows per matched group at least, however little room the memory limit leaves: with ~15 ms of fixed
#: cost per matcher call, groups of 1,000 rows made batch1m (14.2M rows) take 157 s under a 600 MB limit.
_MIN_MATCH_ROWS = 50_000
#: Bytes a matched row costs while its round is scored: its entry (panel row, score, weight, allele
#: flag: 17 B), its union position and order while `prepare` sorts (8 B) and its value per ALT copy
#: (8 B) in `accumulate`, and a margin.
_ENTRY_BYTES = 40
#: Rows a round matches at least before it is scored, however little room the limit leaves (each round
#: reads the panel's rows its scores use once more).
_MIN_ROUND_ROWS = 1_000_000
#: Groups matched at once (each planned at _MATCH_ROW_BYTES per row: groups are that much smaller). One:
#: the matcher runs on polars' threads already, and the next group is read meanwhile. Two took 20-40 MB
#: more peak RSS on batch300k (615-636 MiB against 590-601) and 150-200 MB more on batch1m, for the same
#: wall time within drift (batch1m cold 13.15, 11.34 s against 12.82, 11.85 s; docs/benchmarks.md).
_MATCH_THREADS = 1
#: Bytes of the process before any work (interpreter, numpy/polars/numba code): batch1m's process held
#: 430 MiB with its 1M-variant panel open and indexed (`_PANEL_VARIANT_BYTES` each) before matching.
_BASELINE = 250 * 1024 * 1024
#: Bytes of a panel variant while a batch matches: its site table and the matcher's index of it.
_PANEL_VARIANT_BYTES = 200


class MemoryBudget:
    """One memory limit shared by every batch of a process (`PRSGAZER_MEMORY_LIMIT` is the process's,
    not each batch's): a batch holds the budget — the whole limit, the process baseline counted once —
    while it parses, matches, scores and writes, and concurrent batches wait their turn. Created by
    the caller (the operations layer keeps one per process) and passed in explicitly; `batch_score`
    without one makes its own, for that call alone.
    """

    def __init__(self, limit: int | str) -> None:
        self.limit = parse_memory(limit)
        self._held = False
        self._cond = threading.Condition()
        self.waits = 0  # batches that had to wait for another (a figure for tests and benchmarks)

    @contextlib.contextmanager
    def reserve(self) -> Iterator[int]:
        """Wait until no other batch holds the budget, hold it, and yield the limit to plan with (bytes)."""
        with self._cond:
            if self._held:
                self.waits += 1
            while self._held:
                self._cond.wait()
            self._held = True
        try:
            yield self.limit
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()


def plan_memory(limit: int, *, n_samples: int, n_panel_variants: int, n_entries: int, n_scores: int,
                n_dense: int, dosage_sum: bool, dosages: bool = False,
                max_cells: int = 8_000_000) -> MemoryPlan:  # fmt: skip
    """Chunk size (variants) so that the whole batch stays within `limit` bytes, and a chunk holds at most
    `max_cells` genotypes (`ScoreOptions.max_block_cells`): the limit is a ceiling, not a target. Larger
    chunks are slower, not faster: their buffers fall out of the CPU caches and every fresh page costs a
    fault (on the 2-core bench VM, 3,202 samples × 300k variants read in 65,536-variant chunks took 1.6 s,
    in 8,192-variant ones 0.27 s)."""
    acc = n_scores * n_samples * (8 + 4 + 4) * (2 if dosage_sum else 1)
    # entries: index, score, weight, allele flag, and the sorted copies made while ordering them
    fixed = _BASELINE + n_panel_variants * 96 + n_entries * 64 + acc
    # per chunk variant: int8 genotypes (+ the prefetched next chunk), int8 cleaned copy — float32
    # dosages and pgenlib's read of them instead, with `dosages` —, float64 for the BLAS product when
    # some scores are dense, the dense weight block
    cells = (4 + 4 + 4) if dosages else (1 + 1 + 1)
    per_variant = n_samples * cells + (n_samples * 8 + n_dense * 8 * (2 if dosage_sum else 1) if n_dense else 0)
    room = limit - fixed
    most = min(_MAX_CHUNK, max(_MIN_CHUNK, max_cells // max(n_samples, 1)))
    chunk = int(min(most, max(_MIN_CHUNK, room // max(per_variant, 1))))
    match_rows = _MatchRoom(limit, n_panel_variants).group_rows()
    return MemoryPlan(limit=limit, fixed=fixed, per_variant=per_variant, chunk_variants=chunk, match_rows=match_rows)


class _MatchRoom:
    """What the limit leaves a batch's matching: `free` bytes beside the process and the panel's sites,
    shared by the entries of the rows matched so far in this round (`_ENTRY_BYTES` each, counted from
    the rows: matched rows are at most as many) and the group being matched (`_MATCH_ROW_BYTES` a row).
    A round ends before the group that would leave less than a smallest group's room (and has matched
    at least `_MIN_ROUND_ROWS`): its entries are scored and its results written, then the next round
    starts with none. Counted from rows alone, so rounds do not depend on timing."""

    def __init__(self, limit: int, n_panel_variants: int) -> None:
        self.free = limit - _BASELINE - n_panel_variants * _PANEL_VARIANT_BYTES
        self.rows = 0  # rows given to matching in this round
        budget = (self.free - _MIN_MATCH_ROWS * _MATCH_ROW_BYTES * _MATCH_THREADS) // _ENTRY_BYTES
        self.round_rows = int(max(_MIN_ROUND_ROWS, budget))

    def left(self) -> int:
        """Rows the limit leaves room to match at once beside this round's entries."""
        return int((self.free - self.rows * _ENTRY_BYTES) // (_MATCH_ROW_BYTES * _MATCH_THREADS))

    def group_rows(self) -> int:
        """Rows of the next group at most."""
        return int(max(_MIN_MATCH_ROWS, min(_MAX_MATCH_ROWS, self.left())))

    def take(self, rows: int) -> bool:
        """Count `rows` about to be matched; True when a new round starts with them."""
        new = 0 < self.rows and self.rows + rows > self.round_rows
        self.rows = rows if new else self.rows + rows
        return new


# --------------------------------------------------------------------------------------------------
# results


class ScoreOutcome(BaseModel):
    """One score's fate in a batch."""

    accession: str
    scorefile: str
    scorefile_cid: str
    status: Literal["ok", "failed", "cached"]
    reason: str | None = None
    key: str | None = Field(default=None, description="Result key (file name stem of the parquet).")
    result_path: str | None = None
    result_cid: str | None = Field(default=None, description="CID of the result parquet's bytes (as sealed).")
    summary: ScoreMatchSummary | None = None
    derived: dict[str, str] = Field(
        default_factory=dict,
        description="CIDs of the derived cache entries the result was computed from: `scorefile_cache` (the "
        "parsed scoring file), `panel_sites` (the panel's variant table).",
    )


class BatchResult(BaseModel):
    """Outcomes per score and run totals."""

    outcomes: list[ScoreOutcome]
    n_total: int
    n_ok: int
    n_failed: int
    n_cached: int
    n_samples: int
    n_union_variants: int = 0
    n_chunks: int = 0
    memory: MemoryPlan | None = None
    timings: dict[str, float] = Field(default_factory=dict)

    def outcome(self, accession: str) -> ScoreOutcome:
        return next(o for o in self.outcomes if o.accession == accession)

    @classmethod
    def combine(cls, parts: list[BatchResult]) -> BatchResult:
        """One result of several batches run one after the other (outcomes in order, totals summed)."""
        timings: dict[str, float] = {}
        for p in parts:
            for k, v in p.timings.items():
                timings[k] = round(timings.get(k, 0.0) + v, 3)
        outcomes = [o for p in parts for o in p.outcomes]
        return cls(
            outcomes=outcomes,
            n_total=sum(p.n_total for p in parts),
            n_ok=sum(p.n_ok for p in parts),
            n_failed=sum(p.n_failed for p in parts),
            n_cached=sum(p.n_cached for p in parts),
            n_samples=parts[0].n_samples if parts else 0,
            n_union_variants=max((p.n_union_variants for p in parts), default=0),
            n_chunks=sum(p.n_chunks for p in parts),
            memory=next((p.memory for p in reversed(parts) if p.memory is not None), None),
            timings=timings,
        )

    def scores(self, accession: str) -> pl.DataFrame:
        """The per-sample table of one ok or cached score."""
        o = self.outcome(accession)
        if o.result_path is None:
            raise InputError(f"score {accession} has no result: {o.reason}", field="accession")
        return pl.read_parquet(o.result_path)

    def table(self) -> pl.DataFrame:
        """All ok/cached scores as one long table (pgs_id + RESULT_COLUMNS)."""
        parts = [
            pl.read_parquet(o.result_path).with_columns(pl.lit(o.accession).alias("pgs_id"))
            for o in self.outcomes
            if o.result_path
        ]
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()


def read_result_meta(path: Path) -> dict:
    """The metadata a result parquet carries (key, accession, panel and scoring-file CIDs, summary)."""
    return json.loads(pl.read_parquet_metadata(path)[_META_KEY])


def _options_key(match_options: MatchOptions, score_options: ScoreOptions, dosage_sum: bool,
                 panel_dosages: bool = False) -> dict:  # fmt: skip
    # chunk sizes do not change results: keep them out of the key; nor does `hard_calls` on a panel
    # without dosages (the keys of such panels are those of before dosages were read)
    s = score_options.model_dump(exclude={"max_block_cells", "entry_path_max_samples", "hard_calls"})
    key = {"match": match_options.model_dump(), "score": s, "dosage_sum": dosage_sum}
    if panel_dosages:
        key["genotypes"] = "hard calls" if score_options.hard_calls else "dosages"
    return key


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _samples_digest(sample_ids: list[str]) -> str:
    """A short digest of the samples, in order: a result records it, so a cached one is checked
    against the panel's samples without reading its rows."""
    return hashlib.sha256("\n".join(sample_ids).encode()).hexdigest()[:32]


def _validate(path: Path, key: str, samples: str, columns: list[str], cid: str | None) -> bool:
    """A cached result is usable: its bytes hash to the CID its (verified) manifest names, and its key,
    samples (`_samples_digest`) and columns fit. Only the file's footer is read besides the hash."""
    try:
        got = cid_of_file(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        logger.warning(f"batch result {path} cannot be read ({exc}): discarded, it will be recomputed")
        discard(path)
        return False
    if got != cid:
        logger.warning(f"batch result {path} is not the one its manifest names: discarded, it will be recomputed")
        discard(path)
        return False
    try:
        meta = read_result_meta(path)
        return (
            meta.get("key") == key
            and meta.get("samples") == samples
            and list(pl.read_parquet_schema(path)) == columns
        )
    except Exception:  # noqa: BLE001 - any unreadable / partial file is simply recomputed
        return False


def _write_parquet(frame: pl.DataFrame, path: Path, meta: dict) -> str:
    """Write a result (encoded and hashed in memory, written atomically); returns its CID. Its manifest,
    written after it, names the CID and lists the file in its seal (`_write_manifest`)."""
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", metadata={_META_KEY: json.dumps(meta, default=str)})
    data = buf.getvalue()
    write_bytes(path, data, durable=False)  # a cache: atomic, not fsynced
    return cid_of_bytes(data)


def _write_manifest(obj: dict, path: Path, results: dict[Path, str]) -> str:
    """Write a file's manifest, sealed with its results (path → CID) as companions."""
    return write_sealed_bytes(path, json.dumps(obj, indent=1, default=str).encode(), list(results.items()))


# --------------------------------------------------------------------------------------------------
# the batch


class _FileJob(BaseModel):
    path: Path
    cid: str
    key: str


def batch_score(
    panel: GenotypeSource,
    scorefiles: list[Path] | list[str],
    *,
    out_dir: Path,
    match_options: MatchOptions | None = None,
    score_options: ScoreOptions | None = None,
    memory_limit: int | str | None = None,
    progress: ProgressFn | None = None,
    cache_dir: Path | None = None,
    dosage_sum: bool = False,
    dense_fraction: float = 0.5,
    dense_min_scores: int = 32,
    panel_cids: dict[str, str] | None = None,
    reader: ReaderOptions | None = None,
    budget: MemoryBudget | None = None,
    cache_scorefiles: bool = False,
) -> BatchResult:
    """Score every scoring file against `panel`; results under `out_dir`, resumable.

    Args:
        panel: any GenotypeSource (an `engine.panel.Panel`, or a plain pfile source with `panel_cids`).
        scorefiles: scoring files (one or several scores each).
        out_dir: where per-score parquet results and per-file manifests live.
        memory_limit: bytes or '2GB' (default: PRSGAZER_MEMORY_LIMIT's default, 2 GB); ignored with a `budget`.
        progress: called as progress(stage, done, total) for 'match' and 'score'.
        cache_dir: parsed scoring-file cache (engine.scorefile): entries found there are read.
        cache_scorefiles: also write an entry for each file parsed. Off by default: a batch keeps its
            results (a rerun reads those, not the scoring files), and with the compiled reader a file is
            parsed again in about the time its entry takes to write once (batch300k: 0.43 s of 3.1 s
            cold, 34 MB of entries for 2.1M rows).
        dosage_sum: also compute named_allele_dosage_sum (doubles the product work).
        dense_fraction: scores covering more than this fraction of the union of variants are
            multiplied with BLAS (when there are at least `dense_min_scores` of them: the chunk's
            float64 conversion pays off only for many columns); the others use the sparse kernel.
        panel_cids: identity of the panel for result keys (default: `panel.cids()`).
        budget: the process's shared memory budget (concurrent batches take turns within it);
            default: one of `memory_limit` for this call.
    """
    clock = Clock()
    mopt = match_options or MatchOptions()
    sopt = score_options or ScoreOptions()
    # the scoring kernels load numba anyway: the compiled reader costs little more
    reader_opt = reader or ReaderOptions(mode="compiled")
    limit = parse_memory(memory_limit if memory_limit is not None else "2GB")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in scorefiles]
    if not paths:
        raise InputError("no scoring file given", field="--scorefile")
    cids_fn = getattr(panel, "cids", None) if panel_cids is None else None
    if panel_cids is None and cids_fn is None:
        raise InputError("batch_score needs panel_cids for a genotype source that is not a Panel", field="panel")
    sample_ids = panel.samples.get_column("sample_id").to_list()
    samples = _samples_digest(sample_ids)
    columns = RESULT_COLUMNS + (["named_allele_dosage_sum"] if dosage_sum else [])
    opts = _options_key(mopt, sopt, dosage_sum, panel.has_dosages)

    jobs: list[_FileJob] = []
    for p in paths:
        if not p.exists():
            raise InputError("scoring file does not exist", file=p)
    # A batch whose out dir holds no results yet computes: numba's start and code generator (~0.45 s,
    # mostly holding the GIL) load on a helper thread while the files are hashed (sha256 releases it),
    # and the panel's files too when their CIDs are not remembered in the cache dir yet (a cold cache
    # hashes the .pgen: 0.12 s for batch300k's, 0.27 s for batch1m's, before the load began otherwise).
    # Otherwise they load only once the stored results show something to compute (a rerun needs none).
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-kernels")
    loading = None if any(out_dir.glob("*.json")) else loader.submit(load_kernels, reader_opt.wide_vectors)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # sha256 releases the GIL
            hashing_panel = pool.submit(cids_fn) if cids_fn is not None else None
            file_cids = list(pool.map(cid_of_file, paths))
            if hashing_panel is not None:
                panel_cids = hashing_panel.result().model_dump()
    finally:
        loader.shutdown(wait=False)  # the load goes on; `loading.result()` below waits for it
    assert panel_cids is not None
    for p, cid in zip(paths, file_cids, strict=True):
        key = _hash({"panel": panel_cids, "scorefile": cid, "options": opts, "version": source_version()})
        jobs.append(_FileJob(path=p, cid=cid, key=key))
    clock.lap("hash inputs")

    outcomes: dict[int, list[ScoreOutcome]] = {}
    todo: list[int] = []
    for i, job in enumerate(jobs):
        cached = _cached_outcomes(job, out_dir, samples, columns)
        if cached is None:
            todo.append(i)
        else:
            outcomes[i] = cached
    clock.lap("check cache")
    reader_opt = _batch_reader(reader_opt, [jobs[i] for i in todo], cache_dir)

    n_union = n_chunks = 0
    mem = None
    if todo:
        if loading is not None:
            loading.result()  # a failure to load them is the batch's error
        else:
            compiled.start(wide_vectors=reader_opt.wide_vectors)  # numba: only when there is something to compute
        small_pages()
        clock.lap("load compiled code" if loading is None else "load compiled code (while hashing)")
        with (budget or MemoryBudget(limit)).reserve() as planned:
            clock.lap("wait for memory")
            b = _Batch(
                panel=panel, out_dir=out_dir, sample_ids=sample_ids, samples=samples, columns=columns, mopt=mopt,
                sopt=sopt,
                limit=planned, progress=progress, cache_dir=cache_dir, dosage_sum=dosage_sum,
                dense_fraction=dense_fraction, dense_min_scores=dense_min_scores, panel_cids=panel_cids, opts=opts,
                clock=clock, reader=reader_opt, cache_scorefiles=cache_scorefiles,
            )  # fmt: skip
            n_union, n_chunks, mem = _compute(b, [jobs[i] for i in todo], outcomes, todo)
    flat = [o for i in range(len(jobs)) for o in outcomes.get(i, [])]
    return BatchResult(
        outcomes=flat,
        n_total=len(flat),
        n_ok=sum(o.status == "ok" for o in flat),
        n_failed=sum(o.status == "failed" for o in flat),
        n_cached=sum(o.status == "cached" for o in flat),
        n_samples=len(sample_ids),
        n_union_variants=n_union,
        n_chunks=n_chunks,
        memory=mem,
        timings=clock.laps,
    )


def _batch_reader(opt: ReaderOptions, jobs: list[_FileJob], cache_dir: Path | None) -> ReaderOptions:
    """`opt` with 'auto' decided once for the whole batch: the files are read a few at a time, and
    each read alone would fall below `compiled_min_bytes` (the polars parser: 2-3x slower on 2.1M rows)
    although the batch as a whole repays the compiled reader. Files with a parsed-cache entry are
    not parsed, so not counted."""
    if opt.mode != "auto":
        return opt
    to_parse = [j.path for j in jobs if (e := entry_path(cache_dir, j.cid)) is None or not e.exists()]
    mode = "compiled" if to_parse and opt.wants_compiled(to_parse) else "polars"
    return opt.model_copy(update={"mode": mode})


def _cached_outcomes(
    job: _FileJob, out_dir: Path, samples: str, columns: list[str]
) -> list[ScoreOutcome] | None:
    data = read_verified_bytes(out_dir / f"{job.key}.json", what="batch manifest")
    if data is None:
        return None
    try:
        info = json.loads(data)
    except ValueError:
        return None
    if info.get("key") != job.key:
        return None
    derived = {k: v for k, v in (info.get("derived") or {}).items() if isinstance(v, str)}
    out = []
    for item in info.get("scores", []):
        summary = ScoreMatchSummary.model_validate(item["summary"]) if item.get("summary") else None
        if item["status"] == "failed":
            return None  # failures are cheap to redo and may pass with other data: recompute the file
        path = out_dir / f"{item['key']}.parquet"
        if not _validate(path, item["key"], samples, columns, item.get("cid")):
            logger.info(f"result {path.name} of {item['accession']} is missing, corrupt or stale: recomputing")
            return None
        out.append(
            ScoreOutcome(
                accession=item["accession"],
                scorefile=str(job.path),
                scorefile_cid=job.cid,
                status="cached",
                key=item["key"],
                result_path=str(path),
                result_cid=item["cid"],
                summary=summary,
                derived=derived,
            )
        )
    return out or None


@dataclass
class _Batch:
    """What every step of one batch computation shares (the settings of `batch_score`)."""

    panel: GenotypeSource
    out_dir: Path
    sample_ids: list[str]
    samples: str  # _samples_digest(sample_ids)
    columns: list[str]
    mopt: MatchOptions
    sopt: ScoreOptions
    limit: int
    progress: ProgressFn | None
    cache_dir: Path | None
    dosage_sum: bool
    dense_fraction: float
    dense_min_scores: int
    panel_cids: dict[str, str]
    opts: dict
    clock: Clock
    reader: ReaderOptions
    cache_scorefiles: bool
    files_done: int = 0  # files matched so far (for progress, over every round)


@dataclass
class _AllMatched:
    """Every file's match: summaries per score, score ids per file, the additive entries as arrays
    (`score` indexes `accessions`) and the matched rows of scores with non-additive rows."""

    summaries: dict[str, ScoreMatchSummary]
    file_accessions: dict[int, list[str]]
    accessions: list[str]
    entries: list[np.ndarray]  # vidx, score, w, is_alt
    general: list[pl.DataFrame]
    general_acc: list[str]
    plan: MemoryPlan
    entry_cids: dict[str, str]  # scoring-file CID → CID of its parsed-file cache entry


def _compute(
    b: _Batch, jobs: list[_FileJob], outcomes: dict[int, list[ScoreOutcome]], todo: list[int]
) -> tuple[int, int, MemoryPlan]:
    """Parse, match, score and write the results of `jobs` (outcomes[todo[j]] for job j), in rounds
    whose entries fit the memory limit (`_MatchRoom`): each round's results are written before the
    next round's files are matched."""
    target = b.panel.variants
    index = TargetIndex(target)  # the panel's side of matching, shared by every group of every round
    room = _MatchRoom(b.limit, target.height)
    entry_cids: dict[str, str] = {}
    seen: dict[str, Path] = {}  # score id → its file, over every round (one id in two files is an error)
    items = _read_ahead(
        _match_groups(jobs, room, b.cache_dir, b.reader, entry_cids, b.cache_scorefiles, index)
    )  # fmt: skip
    n_union = n_chunks = rounds = 0
    mem: MemoryPlan | None = None
    try:
        while True:
            m, more = _parse_and_match(b, len(jobs), items, index, entry_cids, seen)
            rounds += 1
            b.clock.lap("parse + match")
            totals, u, c, mem = _score_all_additive(b, m)
            n_union, n_chunks = max(n_union, u), n_chunks + c
            b.clock.lap("score")
            gen_tables: dict[str, pl.DataFrame] = {}
            if m.general_acc:
                plan = plan_weights(pl.concat(m.general), m.general_acc)
                table = score_table(b.panel, plan, score_chunks(b.panel, plan, options=b.sopt))
                for acc in m.general_acc:
                    gen_tables[acc] = table.filter(pl.col("pgs_id") == acc).drop("pgs_id")
                b.clock.lap("score (general path)")
            _write_results(b, jobs, m, totals, gen_tables, outcomes, todo)
            b.clock.lap("write results")
            if not more:
                break
    finally:
        items.close()
    assert mem is not None
    mem.match_passes = rounds
    return n_union, n_chunks, mem


def _parse_and_match(
    b: _Batch, n_jobs: int, items: Iterator[_Group | _NextRound | _Pause], index: TargetIndex,
    entry_cids: dict[str, str],
    seen: dict[str, Path],
) -> tuple[_AllMatched, bool]:  # fmt: skip
    """Match the groups of one round (`items` up to the next `_NEXT_ROUND`) against the panel; and
    whether another round follows."""
    target = b.panel.variants
    pre = plan_memory(b.limit, n_samples=b.panel.n_samples, n_panel_variants=target.height, n_entries=0,
                      n_scores=0, n_dense=0, dosage_sum=b.dosage_sum)  # fmt: skip
    accessions: list[str] = []  # global score index → accession
    parts: tuple[list[np.ndarray], ...] = ([], [], [], [])  # vidx, score, w, is_alt
    general: list[pl.DataFrame] = []  # matched rows of scores with non-additive rows
    general_acc: list[str] = []
    summaries: dict[str, ScoreMatchSummary] = {}
    file_accessions: dict[int, list[str]] = {}

    def collect(group: list[int], m: _Matched) -> None:
        for sm in m.summaries:
            summaries[sm.accession] = sm
        if m.general is not None:
            general.append(m.general)
            general_acc.extend(m.general_acc)
        if m.add_acc:
            base = len(accessions)
            accessions.extend(m.add_acc)
            for part, a in zip(parts, (m.vidx, m.score + np.int32(base), m.w, m.is_alt), strict=True):
                part.append(a)
        b.files_done += len(group)
        if b.progress:
            b.progress("match", b.files_done, n_jobs)

    # Groups are matched on a pool thread (`_MATCH_THREADS` at once) while the next one is read;
    # results are taken in group order, so score indices do not depend on timing. After each, the C
    # heap's free pages go back to the OS (what matching freed sits behind the entries kept). A file
    # larger than a group comes as slices of its positions: each slice is matched alone and the file
    # is kept once its last slice is in (`_combine_slices`).
    inflight: list[tuple[list[int], Slice | None, Future[_Matched] | Future[_SliceMatch]]] = []
    slices: list[_SliceMatch] = []

    def take() -> None:
        g, piece, fut = inflight.pop(0)
        got = fut.result()
        if isinstance(got, _Matched):
            collect(g, got)
        else:
            assert piece is not None
            slices.append(got)
            if piece.k == piece.n - 1:
                collect(g, _combine_slices(slices, b.mopt.min_overlap))
                slices.clear()
        release_free_memory()

    more = False
    with ThreadPoolExecutor(max_workers=_MATCH_THREADS) as pool:
        for item in items:
            if isinstance(item, _NextRound):
                more = True
                break
            if isinstance(item, _Pause):  # the slice before is matched (`take` below): the next files may be read
                continue
            group, files, rows, piece = item
            del item
            if piece is None or piece.k == 0:
                for j, sf in zip(group, files, strict=True):
                    file_accessions[j] = sf.accessions
                    note_accessions(sf, seen)
            del files
            if piece is None:
                inflight.append((group, None, pool.submit(_match_group, rows, target, b.mopt, index)))
            else:
                inflight.append((group, piece, pool.submit(_match_slice, rows, target, b.mopt, index)))
            del rows
            while len(inflight) >= _MATCH_THREADS:
                take()
        while inflight:
            take()
    entries = [_joined(part, dtype) for part, dtype in zip(parts, (np.uint32, np.int32, np.float64, bool), strict=True)]
    return _AllMatched(summaries, file_accessions, accessions, entries, general, general_acc, pre, entry_cids), more


def _joined(part: list[np.ndarray], dtype: type) -> np.ndarray:
    """The parts as one array, each part freed as soon as it is copied (the list is emptied): the
    joined array's pages are written as the parts' are given back, so joining the weights of 14.2M
    entries took no second 114 MB, as `np.concatenate` of the whole list did."""
    out: np.ndarray = np.empty(sum(len(a) for a in part), dtype=dtype)
    at = 0
    for i, a in enumerate(part):
        out[at : at + len(a)] = a
        at += len(a)
        part[i] = a = np.empty(0, dtype=dtype)
    part.clear()
    release_free_memory()
    return out


def _score_all_additive(b: _Batch, m: _AllMatched) -> tuple[Totals | None, int, int, MemoryPlan]:
    """One pass over the union of the additive scores' variants (several when their accumulators
    would take more than a third of the memory limit). Takes over `m.entries` (freed as it goes)."""
    s = len(m.accessions)
    entries, m.entries = m.entries, []
    if not s:
        return None, 0, 0, m.plan
    n = b.panel.n_samples
    # accumulators (sum, counts: 16 bytes per sample and score, twice with dosage sums) take at
    # most a third of the limit: more scores than that are scored in several passes
    per_score = n * 16 * (2 if b.dosage_sum else 1)
    group = max(1, int(b.limit // 3 // per_score))
    if group >= s:
        return _score_additive(
            b.panel, entries, s, b.sopt, b.limit, b.dosage_sum, b.dense_fraction, b.progress, b.dense_min_scores
        )
    totals = Totals(s, n, b.dosage_sum)
    passes = range(0, s, group)
    vidx, score, w, is_alt = entries
    del entries
    n_union = n_chunks = 0
    mem = m.plan
    for lo in passes:
        sel = (score >= lo) & (score < lo + group)
        part, u, c, mem = _score_additive(
            b.panel, [vidx[sel], score[sel] - lo, w[sel], is_alt[sel]], min(group, s - lo), b.sopt, b.limit,
            b.dosage_sum, b.dense_fraction, b.progress, b.dense_min_scores,
        )  # fmt: skip
        totals.sum[lo : lo + group] = part.sum
        totals.n_missing[lo : lo + group] = part.n_missing
        totals.n_imputed[lo : lo + group] = part.n_imputed
        if b.dosage_sum:
            assert totals.dosage is not None and part.dosage is not None
            totals.dosage[lo : lo + group] = part.dosage
        n_union, n_chunks = max(n_union, u), n_chunks + c
    mem.score_groups = len(passes)
    return totals, n_union, n_chunks, mem


def _write_results(
    b: _Batch, jobs: list[_FileJob], m: _AllMatched, totals: Totals | None, gen_tables: dict[str, pl.DataFrame],
    outcomes: dict[int, list[ScoreOutcome]], todo: list[int],
) -> None:  # fmt: skip
    """Per file, its results then its manifest (a manifest never names a result not yet on disk),
    written on two threads (polars releases the GIL while encoding and writing)."""
    index = {a: k for k, a in enumerate(m.accessions)}
    sid = pl.Series("sample_id", b.sample_ids, dtype=pl.String)

    def write_file(results: list[tuple[str, int, Path, dict]], manifest: dict, path: Path) -> dict[str, str]:
        written: dict[str, str] = {}
        files: dict[Path, str] = {}
        for acc, n_matched, out, meta in results:
            if acc in index:
                assert totals is not None
                frame = _result_frame(sid, totals, index[acc], n_matched, b.dosage_sum)
            else:
                frame = gen_tables[acc]
            written[acc] = _write_parquet(frame if frame.columns == b.columns else frame.select(b.columns), out, meta)
            files[out] = written[acc]
        for item in manifest["scores"]:
            if item["accession"] in written:
                item["cid"] = written[item["accession"]]
        _write_manifest(manifest, path, files)
        return written

    sites = getattr(b.panel, "sites_cid", None)
    with ThreadPoolExecutor(max_workers=2) as pool:
        writes = []
        for j, accessions in m.file_accessions.items():  # this round's files
            job = jobs[j]
            outs, items, results = _file_outcomes(b, job, [m.summaries[a] for a in accessions])
            derived = {k: v for k, v in (("scorefile_cache", m.entry_cids.get(job.cid)), ("panel_sites", sites)) if v}
            for o in outs:
                o.derived = dict(derived)
            manifest = {"key": job.key, "scorefile": str(job.path), "scorefile_cid": job.cid, "scores": items,
                        "derived": derived}  # fmt: skip
            writes.append((outs, pool.submit(write_file, results, manifest, b.out_dir / f"{job.key}.json")))
            outcomes[todo[j]] = outs
        for outs, f in writes:
            written = f.result()  # re-raises a failed write
            for o in outs:
                o.result_cid = written.get(o.accession)


def _file_outcomes(
    b: _Batch, job: _FileJob, summaries: list[ScoreMatchSummary]
) -> tuple[list[ScoreOutcome], list[dict], list[tuple[str, int, Path, dict]]]:
    """A file's outcomes, manifest items and results to write (accession, n_matched, path, metadata)."""
    outs: list[ScoreOutcome] = []
    items: list[dict] = []
    results: list[tuple[str, int, Path, dict]] = []
    for summ in summaries:
        acc = summ.accession
        if not summ.passed:
            outs.append(ScoreOutcome(accession=acc, scorefile=str(job.path), scorefile_cid=job.cid, status="failed",
                                     reason=summ.reason, summary=summ))  # fmt: skip
            items.append({"accession": acc, "status": "failed", "key": None, "summary": summ.model_dump()})
            continue
        skey = _hash({"file": job.key, "accession": acc})
        path = b.out_dir / f"{skey}.parquet"
        dump = summ.model_dump()
        meta = {"key": skey, "file_key": job.key, "accession": acc,
                "scorefile_cid": job.cid, "panel": b.panel_cids, "options": b.opts, "version": source_version(),
                "n_samples": len(b.sample_ids), "samples": b.samples, "summary": dump}  # fmt: skip
        results.append((acc, summ.n_matched, path, meta))
        outs.append(ScoreOutcome(accession=acc, scorefile=str(job.path), scorefile_cid=job.cid, status="ok", key=skey,
                                 result_path=str(path), summary=summ))  # fmt: skip
        items.append({"accession": acc, "status": "ok", "key": skey, "summary": dump})
    return outs, items, results


class _Matched(NamedTuple):
    """What a batch keeps of one group's match: summaries, the matched rows of scores with
    non-additive rows (for the general path), and the entries of the additive ones as arrays
    (`score` indexes `add_acc`)."""

    summaries: list[ScoreMatchSummary]
    general: pl.DataFrame | None
    general_acc: list[str]
    add_acc: list[str]
    score: np.ndarray
    vidx: np.ndarray
    w: np.ndarray
    is_alt: np.ndarray


def _match_group(rows: pl.DataFrame, target: pl.DataFrame, mopt: MatchOptions, index: TargetIndex) -> _Matched:
    match = match_variants(rows, target, mopt, index)
    del rows
    return _keep(match.summaries, match.weights)


class _SliceMatch(NamedTuple):
    """One slice of a large file, matched: its scores' summaries (counts, combined over the slices)
    and its matched rows (`MatchResult.weights`, the accession as a string)."""

    summaries: list[ScoreMatchSummary]
    weights: pl.DataFrame


def _match_slice(rows: pl.DataFrame, target: pl.DataFrame, mopt: MatchOptions, index: TargetIndex) -> _SliceMatch:
    match = match_variants(rows, target, mopt, index)
    del rows
    return _SliceMatch(match.summaries, match.weights.with_columns(pl.col("accession").cast(pl.String)))


def _combine_slices(slices: list[_SliceMatch], min_overlap: float) -> _Matched:
    """A file matched slice by slice, as if matched whole: each score's counts added up over the slices
    and its outcome decided on the sums (`summarize`), then its matched rows kept as one group's. A
    slice holds every row at its positions, so whatever the matcher decides between rows (best
    candidate, duplicates) is decided within one slice."""
    by_acc: dict[str, list[ScoreMatchSummary]] = {}
    for sl in slices:
        for sm in sl.summaries:
            by_acc.setdefault(sm.accession, []).append(sm)

    def added(counts: list[dict[str, int]]) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in counts:
            for label, n in c.items():
                total[label] = total.get(label, 0) + n
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))  # as `_summaries` orders them

    summaries = [
        summarize(
            acc,
            added([x.by_match_type for x in sms]),
            added([x.excluded_by for x in sms]),
            added([x.unmatched_by for x in sms]),
            min_overlap,
        )
        for acc, sms in by_acc.items()
    ]
    weights = pl.concat([sl.weights for sl in slices]).with_columns(pl.col("accession").cast(pl.Enum(list(by_acc))))
    return _keep(summaries, weights)


def _keep(summaries: list[ScoreMatchSummary], weights: pl.DataFrame) -> _Matched:
    """What a batch keeps of a match (`summaries`, and `weights`: its matched rows, the accession an Enum)."""
    passed = [s.accession for s in summaries if s.passed]
    general: pl.DataFrame | None = None
    general_acc: list[str] = []
    add_acc: list[str] = []
    score = np.zeros(0, np.int32)
    vidx = np.zeros(0, np.uint32)
    w = np.zeros(0)
    is_alt = np.zeros(0, bool)
    if passed:
        m = weights.filter(pl.col("accession").is_in(passed))
        # accession and effect_type are Enums: work on their codes (no string hashing per row)
        acc_col = m.get_column("accession")
        assert isinstance(acc_col.dtype, pl.Enum)
        categories = acc_col.dtype.categories.to_list()
        acc_code = acc_col.to_physical().to_numpy()
        et_col = m.get_column("effect_type")
        assert isinstance(et_col.dtype, pl.Enum)
        additive = et_col.dtype.categories.to_list().index("additive")
        nonadd = {categories[c] for c in np.unique(acc_code[et_col.to_physical().to_numpy() != additive])}
        if nonadd:
            # accession is an Enum per matcher call: strings, so groups concatenate
            general = m.filter(pl.col("accession").is_in(list(nonadd))).with_columns(
                pl.col("accession").cast(pl.String)
            )
            general_acc = [a for a in passed if a in nonadd]
        add_acc = [a for a in passed if a not in nonadd]
        if add_acc:
            to_local = np.full(len(categories), -1, dtype=np.int32)
            position = {a: i for i, a in enumerate(categories)}
            for i, a in enumerate(add_acc):
                to_local[position[a]] = i
            code = to_local[acc_code]
            keep = code >= 0
            score = code[keep]
            vidx = m.get_column("vidx").to_numpy()[keep]  # UInt32: 4 bytes per entry, not 8 (14M entries: 57 MB)
            w = m.get_column("effect_weight").fill_null(0.0).to_numpy().astype(np.float64)[keep]
            is_alt = m.get_column("effect_is_alt").to_numpy().astype(bool)[keep]
    return _Matched(summaries, general, general_acc, add_acc, score, vidx, w, is_alt)


class Slice(NamedTuple):
    """Slice `k` of the `n` a large file is matched in."""

    k: int
    n: int


class _NextRound:
    """Yielded by `_match_groups` between two rounds (`_MatchRoom`)."""


_NEXT_ROUND = _NextRound()


class _Pause:
    """Yielded by `_match_groups` after a large file's last slice when the limit had no room to read the
    next files while its slices were matched: `_read_ahead`, which asks for the next item as soon as it
    hands one out, gets this one instead of reading those files beside the last slice's matching. The
    caller takes it once that slice is matched (batch1m under 600 MB: an 800k-row file's 130 MB frame
    was read while the previous one's last slice was matched)."""


_PAUSE = _Pause()
_Group = tuple[list[int], list[ScoringFile], pl.DataFrame, Slice | None]


def _match_groups(
    jobs: list[_FileJob], room: _MatchRoom, cache_dir: Path | None, reader: ReaderOptions,
    entry_cids: dict[str, str], write_cache: bool, index: TargetIndex,
) -> Iterator[_Group | _NextRound | _Pause]:  # fmt: skip
    """Files read in small batches (sized by `_rows_estimate`, which over-counts; an eighth of a group's
    rows each, so the batch read ahead adds little while a group is matched) and gathered into groups
    of at most `room.group_rows()` actual rows: few matcher calls, each with the rows the memory plan
    allows. A single file of more than twice that comes in slices of its positions (`_position_slices`),
    each at most about a group's rows: matching took ~700 bytes per row at its peak, so a 7M-row
    genome-wide file matched whole would need ~5 GB. A file of up to twice a group is matched whole
    (slicing batch300k's 240k-row files cost 0.1-0.2 s of its 1.3 s of matching for no less peak memory).

    Yields (job indices, files, rows, None) for a group, (job index, file, rows, Slice(k, n)) for each
    slice of a large file, `_NEXT_ROUND` where the room ends a round (never within a file) and `_PAUSE`
    after a large file's last slice when the next files wait for its matching. Fills
    `entry_cids` with the parsed-file cache entry of each file read from or (`write_cache`) written to
    the cache, complete for the files yielded whenever a round ends."""
    batches: list[list[int]] = [[]]
    estimates = [0]
    for j, job in enumerate(jobs):
        size = _rows_estimate(job.path)
        if batches[-1] and estimates[-1] + size > max(1, room.group_rows() // 8):
            batches.append([])
            estimates.append(0)
        batches[-1].append(j)
        estimates[-1] += size
    idx: list[int] = []
    files: list[ScoringFile] = []
    frames: list[pl.DataFrame] = []
    n_rows = 0
    writer = CacheWriter()

    def read(batch: list[int]) -> tuple[list[int], list[ScoringFile], pl.DataFrame]:
        got, rows = read_scorefiles(
            [jobs[j].path for j in batch],
            cache_dir=cache_dir,
            cids=[jobs[j].cid for j in batch],
            writer=writer,
            reader=reader,
            write_cache=write_cache,
        )
        return batch, got, rows

    def counted(rows: int) -> Iterator[_NextRound]:
        """`_NEXT_ROUND` first when `rows` start a new round (the cache entries written so far named)."""
        if room.take(rows):
            writer.flush()
            entry_cids.update(writer.written)
            yield _NEXT_ROUND

    ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-next")
    next_read: Future[tuple[list[int], list[ScoringFile], pl.DataFrame]] | None = None
    try:
        for i, batch in enumerate(batches):
            if not batch:
                continue
            batch, got, rows = next_read.result() if next_read is not None else read(batch)
            next_read = None
            entry_cids.update((sf.cid, sf.cache_cid) for sf in got if sf.cache_cid)  # read from the cache
            if idx and n_rows + rows.height > room.group_rows():
                yield from counted(n_rows)
                yield idx, files, pl.concat(frames, rechunk=False), None
                idx, files, frames, n_rows = [], [], [], 0
            group_rows = room.group_rows()
            if len(batch) == 1 and rows.height > 2 * group_rows:  # up to twice a group: whole (one matcher call)
                yield from counted(rows.height)
                left, group_rows = room.left(), room.group_rows()
                which, n = _position_slices(rows, -(-rows.height // group_rows), index)
                # The next batch is read while the slices are matched when the limit has room for it
                # beside this file's rows and a slice's matching (over-counted rows: a gzip row as 6
                # bytes): batch1m's 800k-row files waited 0.5 s in all for the one after otherwise; a
                # 7M-row file is not read while another is matched.
                free = (left - group_rows) * _MATCH_ROW_BYTES - rows.height * _PARSED_ROW_BYTES
                if i + 1 < len(batches) and estimates[i + 1] * _PARSED_ROW_BYTES <= free:
                    next_read = ahead.submit(read, batches[i + 1])
                for k in range(n):  # each slice made when the matcher is about to need it
                    yield batch, got, rows.filter(pl.Series(which == k)), Slice(k, n)
                del got, rows, which
                if next_read is None:
                    yield _PAUSE
                continue
            idx += batch
            files += got
            frames.append(rows)
            n_rows += rows.height
            del got, rows
        writer.flush()
        entry_cids.update(writer.written)  # written to the cache
        if idx:
            yield from counted(n_rows)
            yield idx, files, pl.concat(frames, rechunk=False), None
    finally:
        ahead.shutdown(wait=True)
        writer.close()


def _position_slices(rows: pl.DataFrame, n: int, index: TargetIndex) -> tuple[np.ndarray, int]:
    """One file's rows cut into at most `n` slices of about equal size by position, in the panel's
    order (the matcher's position keys, `index.keys`): each row's slice, and how many there are (none
    empty). All the rows at one position are in one slice; rows without a position are in the first. A
    slice keeps the file's order. The slices' matched rows, one after the other, are then in the order
    of the file's matched whole (by panel position), so its entries need no sorting again."""
    key = index.keys(rows.get_column("chr_name").fill_null(""), rows.get_column("chr_position").fill_null(0))
    cuts = np.unique(np.sort(key)[np.arange(1, n) * len(key) // n])
    used, which = np.unique(np.searchsorted(cuts, key, side="right"), return_inverse=True)
    return which, len(used)


def _read_ahead(items: Iterator[_T]) -> Generator[_T, None, None]:
    """`items`, each produced on a background thread while the caller works on the one before."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item
            del item


def _rows_estimate(path: Path) -> int:
    """Scoring rows of a file, from its size: a plain row is ≥ 25 bytes, a gzip one ≥ 6 (over-counting
    only makes the matching groups smaller)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return max(1, size // (6 if gz else 25))


def _result_frame(sample_ids: pl.Series, t: Totals, k: int, n_matched: int, dosage_sum: bool) -> pl.DataFrame:
    n_missing = t.n_missing[k].astype(np.int64)
    n_imputed = t.n_imputed[k].astype(np.int64)
    denom = 2 * (n_matched - (n_missing - n_imputed))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(denom > 0, t.sum[k] / np.where(denom > 0, denom, 1), np.nan)
    # Series built directly, in RESULT_COLUMNS' order (no expressions: a frame per score, hundreds of
    # scores, and each polars expression costs a query plan)
    cols = [
        sample_ids,
        pl.Series("sum", t.sum[k]),
        pl.Series("avg", avg, nan_to_null=True),
        pl.Series("denom", denom),
        pl.Series("n_matched", np.full(len(sample_ids), n_matched, dtype=np.int64)),
        pl.Series("allele_ct", 2 * (n_matched - n_missing)),
        pl.Series("n_missing", n_missing),
        pl.Series("n_imputed", n_imputed),
    ]
    if dosage_sum:
        assert t.dosage is not None
        cols.append(pl.Series("named_allele_dosage_sum", t.dosage[k]))
    return pl.DataFrame(cols)


# --------------------------------------------------------------------------------------------------
# the additive pass


def _score_additive(
    panel: GenotypeSource, entries: list[np.ndarray], s: int, sopt: ScoreOptions, limit: int, dosage_sum: bool,
    dense_fraction: float, progress: ProgressFn | None, dense_min_scores: int = 32,
) -> tuple[Totals, int, int, MemoryPlan]:  # fmt: skip
    """Σ over entries of f0 + step·g (`engine.additive`), in chunks the memory plan sizes.

    `entries` = [panel variant index, score index, weight, effect allele is ALT], taken over (the list
    is emptied) so each array is freed once its sorted copy exists. Entries with a REF effect allele at
    a multi-allelic site read the site's sum of ALT copies (`genotypes.sites`)."""
    n = panel.n_samples
    vidx, is_alt = entries[0], entries[3]
    move = ~is_alt & panel.multiallelic_rows()[vidx]
    if move.any():
        panel, site_row = with_site_sums(panel, vidx[move])
        vidx = vidx.copy()
        vidx[move] = site_row
        entries[0] = vidx
    del vidx, is_alt
    dosages = panel.has_dosages and not sopt.hard_calls
    e = prepare_entries(
        panel.variants.height, entries, s, dense_fraction=dense_fraction, dense_min_scores=dense_min_scores,
        in_place=True,  # each score's entries are one file's, matched in one group: short cycles
    )
    mem = plan_memory(limit, n_samples=n, n_panel_variants=panel.variants.height, n_entries=len(e.upos), n_scores=s,
                      n_dense=len(e.dense), dosage_sum=dosage_sum, dosages=dosages,
                      max_cells=sopt.max_block_cells)  # fmt: skip
    founders = panel.samples.get_column("founder").to_numpy().astype(bool)
    use_freq = sopt.impute and int(founders.sum()) >= sopt.min_founders_for_target_freq
    t, n_chunks = accumulate(
        panel, e, chunk_variants=mem.chunk_variants, dosage_sum=dosage_sum, impute=sopt.impute,
        founders=founders if use_freq else None, progress=progress, dosages=dosages,
    )  # fmt: skip
    mem.n_dense = len(e.dense)
    return t, len(e.union), n_chunks, mem
