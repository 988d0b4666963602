"""Scoring: SUM, DENOM, AVG per (sample, score) for many scores in one pass, as plink2 `--score`
computes them. See docs/engine.md ("Scoring").

For a matched row with weight w, effect-allele dosage d (ALT count g, or 2 − g when the effect
allele is REF) and transform t (additive d, dominant min(d, 1), recessive max(d − 1, 0); genotypic
rows pick dosage_{d}_weight), the contribution is w·t(d). A missing call is mean-imputed when an
effect-allele frequency p is known (reference frequencies, else the target's founders when there
are at least 50): 2pw additive, pw dominant/recessive (plink2's values), the HWE expectation for
genotypic rows; otherwise it contributes 0 and the sample's DENOM shrinks by 2 (plink2's
`no-mean-imputation`). DENOM = 2 × variants counted, AVG = SUM / DENOM.

Cohorts are scored over variant chunks: additive rows with the batch scorer's sparse kernels
(`engine.additive`), other rows as dense matrix products (ALT dosages × weight blocks, every score at
once); a handful of samples use a per-entry path. Both read genotypes through
`GenotypeSource.read`, so the batch code can call `score_chunks` on any subset of variants.

Dosages (a source with `has_dosages`, unless `ScoreOptions.hard_calls`): the same paths on float32
ALT dosages from `GenotypeSource.read_dosages`. Contributions are piecewise linear in the dosage with
knots at 0, 1 and 2 — w·d, w·min(d, 1), w·max(d − 1, 0) as plink2 computes them, and for genotypic
rows the line between the two neighbouring dosage weights (the one rule that gives the three others
back). A REF effect allele at a multi-allelic site reads the copies of all the site's ALTs
(`genotypes.sites`), so it counts the copies of REF.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes.freq import founder_frequency
from prsgazer.engine.genotypes.sites import with_site_sums
from prsgazer.engine.genotypes.source import HARD_CALLS, GenotypeSource
from prsgazer.engine.scoring.additive import accumulate, prepare

_ADD, _DOM, _REC, _GEN = 0, 1, 2, 3
_TYPE_CODES = {"additive": _ADD, "dominant": _DOM, "recessive": _REC, "genotypic": _GEN}


class ScoreOptions(BaseModel):
    """How to score."""

    model_config = ConfigDict(frozen=True)

    min_founders_for_target_freq: int = Field(
        default=50,
        description="Target allele frequencies are used for imputation only with this many founders.",
    )
    impute: bool = Field(default=True, description="Mean-impute missing calls when a frequency is known.")
    max_block_cells: int = Field(default=8_000_000, description="Genotype cells (variants × samples) per chunk.")
    entry_path_max_samples: int = Field(default=8, description="At most this many samples: per-entry path.")
    sparse_additive: bool = Field(
        default=True,
        description="Cohorts: additive rows summed by the sparse kernels (False: dense matrix products, as for "
        "dominant, recessive and genotypic rows).",
    )
    hard_calls: bool = Field(
        default=False,
        description="Score the hard calls even when the genotypes have dosages (VCF DS/HDS/GP, pgen dosages).",
    )

    def dosage_source(self, source: GenotypeSource) -> str:
        """What a run on `source` scores: HARD_CALLS or where its dosages come from."""
        return HARD_CALLS if self.hard_calls else source.dosage_source


class WeightPlan(BaseModel):
    """Matched rows as flat arrays: entry k puts weight(s) of score `score[k]` on target row `vidx[k]`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    accessions: list[str]
    vidx: np.ndarray  # unique target rows, sorted (uint32)
    local: np.ndarray  # entry → index into vidx
    score: np.ndarray  # entry → index into accessions
    effect_is_alt: np.ndarray  # bool
    kind: np.ndarray  # int8 type code
    w: np.ndarray  # effect weight (additive / dominant / recessive)
    gw: np.ndarray  # (n_entries, 3) genotypic weights by effect dosage
    n_matched: np.ndarray  # per score

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        g = np.broadcast_to(np.arange(3, dtype=np.int8), (len(self.w), 3))
        return contributions(self, np.arange(len(self.w))[:, None], g)

    @property
    def c(self) -> np.ndarray:
        """(n_entries, 3): contribution for ALT count g = 0, 1, 2 (built on first use)."""
        return self._tables[0]

    @property
    def u(self) -> np.ndarray:
        """(n_entries, 3): transformed effect dosage for g = 0, 1, 2 (NAMED_ALLELE_DOSAGE_SUM)."""
        return self._tables[1]


def contributions(plan: WeightPlan, entries: np.ndarray | slice, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contribution, transformed effect dosage) of plan entries `entries` at ALT counts `g` (0, 1, 2;
    same shape): the effect dosage d is g for an ALT effect allele, else 2 - g; dominant rows count
    min(d, 1), recessive max(d - 1, 0); a genotypic row's contribution is its dosage_{d}_weight.
    Float `g` (dosages): the same with fractional d, genotypic weights interpolated between the two
    integer dosages around d."""
    if np.issubdtype(g.dtype, np.floating):
        return _float_contributions(plan, entries, g)
    d = np.where(plan.effect_is_alt[entries], g, 2 - g).astype(np.int8)
    kind = plan.kind[entries]
    t = d.astype(np.float64)
    dom, rec = kind == _DOM, kind == _REC
    if dom.any() or rec.any():
        t = np.where(dom, np.minimum(t, 1.0), np.where(rec, np.maximum(t - 1.0, 0.0), t))
    c = plan.w[entries] * t
    gen = np.broadcast_to(kind == _GEN, d.shape)
    if gen.any():
        c[gen] = plan.gw[np.broadcast_to(np.arange(len(plan.w))[entries], d.shape)[gen], d[gen]]
    return c, t


def _float_contributions(
    plan: WeightPlan, entries: np.ndarray | slice, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    d = np.where(plan.effect_is_alt[entries], g, 2.0 - g).astype(np.float64)
    kind = plan.kind[entries]
    t = d
    dom, rec = kind == _DOM, kind == _REC
    if dom.any() or rec.any():
        t = np.where(dom, np.minimum(d, 1.0), np.where(rec, np.maximum(d - 1.0, 0.0), d))
    c = plan.w[entries] * t
    gen = np.broadcast_to(kind == _GEN, d.shape)
    if gen.any():
        e = np.broadcast_to(np.arange(len(plan.w))[entries], d.shape)[gen]
        x = np.clip(d[gen], 0.0, 2.0)
        lo = np.minimum(np.floor(x), 1.0).astype(np.int64)
        w_lo = plan.gw[e, lo]
        c[gen] = w_lo + (x - lo) * (plan.gw[e, lo + 1] - w_lo)
    return c, t


def plan_weights(matched: pl.DataFrame, accessions: list[str]) -> WeightPlan:
    """Turn matched rows (engine.match `MatchResult.weights` or `.matched`) into a WeightPlan."""
    # Column by column into numpy, keeping the rows of the wanted scores (no frame copy).
    acc = matched.get_column("accession")
    if isinstance(acc.dtype, pl.Enum):  # map category codes, no strings
        cats = list(acc.dtype.categories)
        want = {a: i for i, a in enumerate(accessions)}
        lut = np.array([want.get(c, -1) for c in cats] + [-1], dtype=np.int64)
        phys = acc.to_physical().fill_null(len(cats)).to_numpy().astype(np.int64)
        code_arr = lut[phys]
    else:
        code_arr = acc.cast(pl.Enum(accessions), strict=False).to_physical().fill_null(-1).to_numpy().astype(np.int64)
    keep = code_arr >= 0
    sel = None if keep.all() else keep

    def col(name: str, dtype: type) -> np.ndarray:
        a = matched.get_column(name).fill_null(0).to_numpy()
        return (a if sel is None else a[sel]).astype(dtype)

    score = code_arr if sel is None else code_arr[sel]
    vidx_all = col("vidx", np.int64)
    # unique target rows in order, and each entry's index among them: a bitmap over the target rows (no
    # sort) when the entries are many; sorted when they are few beside the target (one score against a
    # 5M-variant genome: 2 ms against 45 ms for the bitmap's pass over every target row)
    span = int(vidx_all.max()) + 1 if len(vidx_all) else 0
    if 16 * len(vidx_all) < span:
        uniq, local = np.unique(vidx_all, return_inverse=True)
    else:
        present = np.zeros(span, dtype=bool)
        present[vidx_all] = True
        uniq = np.flatnonzero(present)
        local = (np.cumsum(present) - 1)[vidx_all]
    is_alt = col("effect_is_alt", bool)
    kind_codes = (
        matched.get_column("effect_type").cast(pl.String).cast(pl.Enum(list(_TYPE_CODES))).to_physical().to_numpy()
        if not isinstance(matched.get_column("effect_type").dtype, pl.Enum)
        else matched.get_column("effect_type").to_physical().to_numpy()
    )
    kind = (kind_codes if sel is None else kind_codes[sel]).astype(np.int8)
    w = col("effect_weight", np.float64)
    gen = kind == _GEN
    gw = (
        np.stack([col(f"dosage_{k}_weight", np.float64) for k in range(3)], axis=1)
        if gen.any()
        else np.zeros((len(w), 3))  # only genotypic rows have per-dosage weights
    )
    n_matched = (
        np.bincount(score, minlength=len(accessions)) if len(score) else np.zeros(len(accessions), dtype=np.int64)
    )
    return WeightPlan(
        accessions=accessions,
        vidx=uniq.astype(np.uint32),
        local=local.astype(np.int64),
        score=score,
        effect_is_alt=is_alt,
        kind=kind,
        w=w,
        gw=gw,
        n_matched=n_matched.astype(np.int64),
    )


def _imputed(plan: WeightPlan, entries: np.ndarray | slice, p_alt: np.ndarray) -> np.ndarray:
    """Imputed contribution per entry given the ALT frequency of its variant (NaN → no imputation)."""
    p = np.where(plan.effect_is_alt[entries], p_alt, 1.0 - p_alt)
    kind = plan.kind[entries]
    w = plan.w[entries]
    val = np.where(kind == _ADD, 2.0 * p * w, p * w)
    gen = kind == _GEN
    if gen.any():
        gw = plan.gw[entries][gen]
        pg = p[gen]
        val[gen] = gw[:, 0] * (1 - pg) ** 2 + gw[:, 1] * 2 * pg * (1 - pg) + gw[:, 2] * pg**2
    return val


class ScoreTotals(BaseModel):
    """Per (sample, score) accumulators, arrays of shape (n_samples, n_scores)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    sum: np.ndarray
    dosage_sum: np.ndarray
    n_missing: np.ndarray
    n_imputed: np.ndarray

    @classmethod
    def zeros(cls, n_samples: int, n_scores: int) -> ScoreTotals:
        z = np.zeros((n_samples, n_scores))
        return cls(
            sum=z.copy(),
            dosage_sum=z.copy(),
            n_missing=z.copy().astype(np.int64),
            n_imputed=z.copy().astype(np.int64),
        )

    def add(self, other: ScoreTotals) -> None:
        self.sum += other.sum
        self.dosage_sum += other.dosage_sum
        self.n_missing += other.n_missing
        self.n_imputed += other.n_imputed


class _Chunk:
    """Genotypes ready for the products: int8 calls, float64 ALT counts (missing = 0) and the
    (variant, sample) positions of the missing calls."""

    __slots__ = ("g", "gd", "miss_sample", "miss_variant", "row_missing", "row_sum")

    def __init__(self, g: np.ndarray, gd: np.ndarray | None, miss_variant: np.ndarray, miss_sample: np.ndarray) -> None:
        self.g, self.gd, self.miss_variant, self.miss_sample = g, gd, miss_variant, miss_sample
        self.row_missing = np.bincount(miss_variant, minlength=g.shape[0])
        # ALT counts per variant over all samples (missing = 0), for target frequencies
        self.row_sum = gd.sum(axis=1) if gd is not None and len(miss_variant) else None


def _missing_positions(g: np.ndarray) -> np.ndarray:
    """Flat indices of MISSING cells, scanning 8 cells per machine word (missing calls are rare)."""
    flat = g.reshape(-1)
    if g.dtype != np.int8:  # dosages
        return np.flatnonzero(flat < 0)
    cut = flat.size - flat.size % 8
    words = flat[:cut].view(np.uint64) & np.uint64(0x8080808080808080)  # sign bits: only MISSING is < 0
    hot = np.flatnonzero(words)
    r, c = np.nonzero(flat[:cut].reshape(-1, 8)[hot] < 0)
    pos = hot[r] * 8 + c
    if cut < flat.size:
        pos = np.concatenate([pos, cut + np.flatnonzero(flat[cut:] < 0)])
    return pos


def _prepare(g: np.ndarray, *, dense: bool = True) -> _Chunk:
    g = np.ascontiguousarray(g)
    pos = _missing_positions(g)
    gd = None
    if dense:
        gd = g.astype(np.float64)
        if len(pos):
            gd.reshape(-1)[pos] = 0.0
    n = max(g.shape[1], 1)
    return _Chunk(g, gd, pos // n, pos % n)


def _fill_frequencies(p_alt: np.ndarray, chunk: _Chunk, rows: np.ndarray, founders: np.ndarray | None) -> None:
    """Fill NaN entries of `p_alt` at `rows` from the founders' non-missing calls (plink2's rule)."""
    if founders is None or len(rows) == 0:
        return
    rows = rows[np.isnan(p_alt[rows])]
    if len(rows) == 0:
        return
    if founders.all() and chunk.row_sum is not None:
        n_ok = chunk.g.shape[1] - chunk.row_missing[rows]
        tot = chunk.row_sum[rows]
    else:
        g = chunk.g[rows] if founders.all() else chunk.g[rows][:, founders]
        miss = g == MISSING
        n_ok = g.shape[1] - miss.sum(axis=1)
        if g.dtype == np.int8:
            tot = g.sum(axis=1, dtype=np.int64) - MISSING * miss.sum(axis=1)
        else:  # dosages: plink2's frequencies are dosage sums over 2 × non-missing founders
            tot = np.where(miss, 0.0, g).sum(axis=1, dtype=np.float64)
    p_alt[rows] = founder_frequency(tot, n_ok)


def score_chunks(
    source: GenotypeSource,
    plan: WeightPlan,
    *,
    options: ScoreOptions | None = None,
    ref_alt_freq: np.ndarray | None = None,
) -> ScoreTotals:
    """Score every plan entry against `source`, reading genotypes chunk by chunk (the next chunk is
    read and converted in a helper thread while the current one is multiplied).

    `ref_alt_freq`: optional ALT frequency per target row (indexed by vidx; NaN = unknown), used for
    imputation before the target's own frequencies.

    Dosages are scored when the source has them, unless `options.hard_calls`. Entries whose effect
    allele is REF at a multi-allelic site are first moved to a row counting all the site's ALTs.
    """
    opt = options or ScoreOptions()
    source, plan, ref_alt_freq = resolve_multiallelic(source, plan, ref_alt_freq)
    return _score_chunks(source, plan, opt, ref_alt_freq, source.has_dosages and not opt.hard_calls)


def resolve_multiallelic(
    source: GenotypeSource, plan: WeightPlan, ref_alt_freq: np.ndarray | None = None
) -> tuple[GenotypeSource, WeightPlan, np.ndarray | None]:
    """(source, plan, frequencies) where every entry with a REF effect allele at a multi-allelic site
    reads that site's sum of ALT copies (`genotypes.sites`): 2 minus it is the copies of REF. The
    inputs come back unchanged when there is no such entry."""
    if len(plan.w) == 0:
        return source, plan, ref_alt_freq
    rows = plan.vidx[plan.local].astype(np.int64)
    multi = source.multiallelic_rows()
    move = ~plan.effect_is_alt & multi[rows]
    if not move.any():
        return source, plan, ref_alt_freq
    wrapped, site_row = with_site_sums(source, rows[move])
    rows = rows.copy()
    rows[move] = site_row
    vidx, local = np.unique(rows, return_inverse=True)
    moved = plan.model_copy(update={"vidx": vidx.astype(np.uint32), "local": local.astype(np.int64)})
    freq = wrapped.site_frequencies(ref_alt_freq) if ref_alt_freq is not None else None
    return wrapped, moved, freq


def _score_chunks(
    source: GenotypeSource, plan: WeightPlan, opt: ScoreOptions, ref_alt_freq: np.ndarray | None, dosages: bool
) -> ScoreTotals:
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    n, s = source.n_samples, len(plan.accessions)
    totals = ScoreTotals.zeros(n, s)
    if len(plan.vidx) == 0:
        return totals
    founders = source.samples.get_column("founder").to_numpy().astype(bool)
    use_target_freq = opt.impute and int(founders.sum()) >= opt.min_founders_for_target_freq
    fnd = founders if use_target_freq else None
    # A few samples: per-entry sums (no dense weight blocks); a cohort: matrix products.
    dense = n > opt.entry_path_max_samples
    step = max(256, opt.max_block_cells // max(n, 1))
    if dense:
        step = min(step, max(256, 8_000_000 // max(2 * s, 1)))
    additive = plan.kind == _ADD
    if dense and opt.sparse_additive and additive.any():
        per_chunk = max(256, opt.max_block_cells // n)
        if additive.all():
            return _additive_totals(source, plan, opt, fnd, ref_alt_freq, chunk_variants=per_chunk, dosages=dosages)
        totals = _additive_totals(
            source, _subset(plan, additive), opt, fnd, ref_alt_freq, chunk_variants=per_chunk, dosages=dosages
        )
        totals.add(_score_chunks(source, _subset(plan, ~additive), opt, ref_alt_freq, dosages))
        return totals
    bounds = [(lo, min(lo + step, len(plan.vidx))) for lo in range(0, len(plan.vidx), step)]
    by_variant = dense or len(bounds) > 1  # entries sorted by variant: each chunk's are a slice
    if by_variant:
        order = np.argsort(plan.local, kind="stable")
        local_sorted = plan.local[order]

    read = source.read_dosages if dosages else source.read

    def load(k: int) -> _Chunk:
        lo, hi = bounds[k]
        return _prepare(read(plan.vidx[lo:hi]), dense=dense)

    # One BLAS thread: the second core reads and converts the next chunk meanwhile (two busy BLAS
    # threads plus the reader oversubscribe a 2-core machine and run slower).
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, 0)
        for k, (lo, hi) in enumerate(bounds):
            chunk = pending.result()
            if k + 1 < len(bounds):
                pending = pool.submit(load, k + 1)
            entries: slice | np.ndarray
            if not by_variant:  # every entry, in plan order: slices, not gathers
                entries, row = slice(None), plan.local
            else:
                a, b = np.searchsorted(local_sorted, [lo, hi])
                entries = order[a:b]
                row = plan.local[entries] - lo
            p_alt = np.full(hi - lo, np.nan)
            if opt.impute:
                if ref_alt_freq is not None:
                    p_alt = ref_alt_freq[plan.vidx[lo:hi].astype(np.int64)].astype(np.float64)
                _fill_frequencies(p_alt, chunk, np.unique(chunk.miss_variant), fnd)
            block = _dense_block if dense else _entries_block
            totals.add(block(plan, entries, row, chunk, p_alt, s))
    return totals


def _subset(plan: WeightPlan, keep: np.ndarray) -> WeightPlan:
    """The plan's entries where `keep` holds (same scores, same accessions)."""
    rows = plan.vidx[plan.local[keep]]
    vidx, local = np.unique(rows, return_inverse=True)
    score = plan.score[keep]
    # a new plan (not model_copy: that would carry the parent's contribution tables over)
    return WeightPlan(
        accessions=plan.accessions,
        vidx=vidx.astype(np.uint32),
        local=local.astype(np.int64),
        score=score,
        effect_is_alt=plan.effect_is_alt[keep],
        kind=plan.kind[keep],
        w=plan.w[keep],
        gw=plan.gw[keep],
        n_matched=np.bincount(score, minlength=len(plan.accessions)).astype(np.int64),
    )


def _additive_totals(
    source: GenotypeSource,
    plan: WeightPlan,
    opt: ScoreOptions,
    founders: np.ndarray | None,
    ref_alt_freq: np.ndarray | None,
    *,
    chunk_variants: int,
    dosages: bool = False,
) -> ScoreTotals:
    """A cohort's additive scores with the batch scorer's sparse kernels (`engine.additive`): each
    entry's weight is added along its variant's row of calls, with no dense weight blocks and no
    float64 copy of the genotypes (2.2x faster than the matrix products on 2,504 samples × 20 scores)."""

    s = len(plan.accessions)
    rows = plan.vidx[plan.local].astype(np.int64)
    e = prepare(source.variants.height, [rows, plan.score.astype(np.int64), plan.w, plan.effect_is_alt], s)
    t, _ = accumulate(
        source,
        e,
        chunk_variants=chunk_variants,
        dosage_sum=True,
        impute=opt.impute,
        founders=founders,
        ref_alt_freq=ref_alt_freq,
        dosages=dosages,
    )
    assert t.dosage is not None
    return ScoreTotals(
        sum=np.ascontiguousarray(t.sum.T),
        dosage_sum=np.ascontiguousarray(t.dosage.T),
        n_missing=t.n_missing.T.astype(np.int64),
        n_imputed=t.n_imputed.T.astype(np.int64),
    )


def _entries_block(
    plan: WeightPlan, entries: np.ndarray | slice, row: np.ndarray, chunk: _Chunk, p_alt: np.ndarray, s: int
) -> ScoreTotals:
    """Per-entry sums for a few samples, one sample at a time: the contribution and dosage tables
    looked up at each entry's call, then summed per score with bincount. Missing calls (rare) are
    replaced by their imputed value (or 0) and counted."""
    n = chunk.g.shape[1]
    out = ScoreTotals.zeros(n, s)
    sc = plan.score[entries]
    imp: np.ndarray | None = None
    for i in range(n):
        call = chunk.g[row, i]
        miss = call < 0  # MISSING is the only negative call
        cont, dos = contributions(plan, entries, np.where(miss, 0, call) if miss.any() else call)
        where = np.flatnonzero(miss)
        if len(where):
            if imp is None and 4 * len(where) < len(sc):  # the missing calls' values only (a person's few)
                val = _imputed(plan, _entries_at(entries, where, len(plan.w)), p_alt[row[where]])
            else:  # many missing calls: every entry's value, once for all samples
                if imp is None:
                    imp = _imputed(plan, entries, p_alt[row])
                val = imp[where]
            ok = ~np.isnan(val)
            cont[where] = np.where(ok, val, 0.0)
            dos[where] = 0.0
            out.n_missing[i] = np.bincount(sc[where], minlength=s)
            out.n_imputed[i] = np.bincount(sc[where[ok]], minlength=s)
        out.sum[i] = np.bincount(sc, weights=cont, minlength=s)
        out.dosage_sum[i] = np.bincount(sc, weights=dos, minlength=s)
    return out


def _entries_at(entries: np.ndarray | slice, where: np.ndarray, n: int) -> np.ndarray:
    """The plan indices of `entries[where]` (`entries`: indices, or a slice of a plan of `n` entries)."""
    return np.arange(*entries.indices(n))[where] if isinstance(entries, slice) else entries[where]


def _dense_block(
    plan: WeightPlan, entries: np.ndarray | slice, row: np.ndarray, chunk: _Chunk, p_alt: np.ndarray, s: int
) -> ScoreTotals:
    """Matrix products for a chunk of m variants × n samples, all scores at once.

    With F0 the contribution at ALT count 0 and S1, S2 the steps to counts 1 and 2 (dense (m, 2s)
    blocks: weights in columns 0..s-1, unit dosages for NAMED_ALLELE_DOSAGE_SUM in s..2s-1):
    total = Σ_v F0 + Gᵀ S1 when every row is additive (S2 = 2 S1), else Σ_v F0 + I1ᵀ S1 + I2ᵀ S2.
    For additive rows a missing call is given ALT count 2p before the product, which is exactly
    plink2's mean imputation in either orientation (2p·w, or 2w − 2p·w = 2(1 − p)·w); what remains
    (unit dosages, counts, calls that cannot be imputed) is a sparse correction.
    """
    m, n = chunk.g.shape
    assert chunk.gd is not None
    out = ScoreTotals.zeros(n, s)
    sc = plan.score[entries]
    c = plan.c[entries]
    u = plan.u[entries]
    cols = (np.concatenate([row, row]), np.concatenate([sc, sc + s]))
    f0 = np.zeros((m, 2 * s))
    s1 = np.zeros((m, 2 * s))
    # no (variant, score) pair twice in the chunk: the blocks can be filled by assignment
    if len(sc) == 0 or np.bincount(row * s + sc).max() <= 1:
        f0[cols] = np.concatenate([c[:, 0], u[:, 0]])
        s1[cols] = np.concatenate([c[:, 1] - c[:, 0], u[:, 1] - u[:, 0]])
    else:
        np.add.at(f0, cols, np.concatenate([c[:, 0], u[:, 0]]))
        np.add.at(s1, cols, np.concatenate([c[:, 1] - c[:, 0], u[:, 1] - u[:, 0]]))
    total = np.broadcast_to(f0.sum(axis=0), (n, 2 * s)).copy()
    linear = bool((plan.kind[entries] == _ADD).all())
    fill = np.zeros(m)
    if linear:
        if len(chunk.miss_variant):
            fill = np.nan_to_num(2.0 * p_alt, nan=0.0)
            chunk.gd.reshape(-1)[chunk.miss_variant * n + chunk.miss_sample] = fill[chunk.miss_variant]
        total += chunk.gd.T @ s1
    else:
        s2 = np.zeros((m, 2 * s))
        np.add.at(s2, cols, np.concatenate([c[:, 2] - c[:, 0], u[:, 2] - u[:, 0]]))
        if chunk.g.dtype == np.int8:
            total += (chunk.g == 1).astype(np.float64).T @ s1
            total += (chunk.g == 2).astype(np.float64).T @ s2
        else:  # dosages: piecewise linear, min(g, 1) · S1 + max(g - 1, 0) · (S2 - S1) (missing: g = 0)
            total += np.minimum(chunk.gd, 1.0).T @ s1
            total += np.maximum(chunk.gd - 1.0, 0.0).T @ (s2 - s1)
    if len(chunk.miss_variant):
        _missing_correction(plan, entries, row, chunk, p_alt, fill, linear, total, out, s)
    out.sum = total[:, :s]
    out.dosage_sum = total[:, s:]
    return out


def _missing_correction(
    plan: WeightPlan,
    entries: np.ndarray | slice,
    row: np.ndarray,
    chunk: _Chunk,
    p_alt: np.ndarray,
    fill: np.ndarray,
    linear: bool,
    total: np.ndarray,
    out: ScoreTotals,
    s: int,
) -> None:
    """Missing calls: the product counted F0 (+ S1·fill for additive chunks); replace that by the
    imputed value (or 0), drop them from the unit dosages, and count them — per score.

    Missing calls are few: expand (missing call × entries of its variant) and sum with bincount.
    `row` must be sorted (entries are ordered by variant).
    """
    m, n = chunk.g.shape
    vr, sm = chunk.miss_variant, chunk.miss_sample
    ptr = np.searchsorted(row, np.arange(m + 1))
    counts = ptr[vr + 1] - ptr[vr]
    total_pairs = int(counts.sum())
    if total_pairs == 0:
        return
    # per entry (few): the change one missing call needs
    imp = _imputed(plan, entries, p_alt[row])
    ok = ~np.isnan(imp)
    counted_w = (
        plan.c[entries, 0] + (plan.c[entries, 1] - plan.c[entries, 0]) * fill[row] if linear else plan.c[entries, 0]
    )
    e_w = np.where(ok, imp, 0.0) - counted_w
    if linear:
        e_w[ok] = 0.0  # exact by construction (see _dense_block)
    counted_u = (
        plan.u[entries, 0] + (plan.u[entries, 1] - plan.u[entries, 0]) * fill[row] if linear else plan.u[entries, 0]
    )
    e_u = -counted_u
    e_sc = plan.score[entries]
    first = np.repeat(ptr[vr] - np.cumsum(counts) + counts, counts)
    e = first + np.arange(total_pairs)  # index into `entries`
    cell = np.repeat(sm, counts) * s + e_sc[e]
    size = n * s
    total[:, s:] += np.bincount(cell, weights=e_u[e], minlength=size).reshape(n, s)
    n_miss = np.bincount(cell, minlength=size).reshape(n, s)
    fix = e_w[e] != 0.0
    if fix.any():
        total[:, :s] += np.bincount(cell[fix], weights=e_w[e][fix], minlength=size).reshape(n, s)
    bad = ~ok[e]
    n_bad = np.bincount(cell[bad], minlength=size).reshape(n, s) if bad.any() else 0
    out.n_missing += n_miss
    out.n_imputed += n_miss - n_bad


def score_table(
    source: GenotypeSource,
    plan: WeightPlan,
    totals: ScoreTotals,
) -> pl.DataFrame:
    """Long table, one row per (sample, score): sum, denom, avg and the counts behind them."""
    n, s = totals.sum.shape
    n_matched = np.broadcast_to(plan.n_matched[None, :], (n, s))
    counted = n_matched - (totals.n_missing - totals.n_imputed)
    denom = 2 * counted
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(denom > 0, totals.sum / np.where(denom > 0, denom, 1), np.nan)
    # sample-major: row i·s + j is (sample i, score j); strings gathered by index (no Python lists)
    samples = source.samples.get_column("sample_id").cast(pl.String)
    return pl.DataFrame(
        {
            "sample_id": samples.gather(np.repeat(np.arange(n), s)),
            "pgs_id": pl.Series(plan.accessions, dtype=pl.String).gather(np.tile(np.arange(s), n)),
            "sum": totals.sum.ravel(),
            "avg": avg.ravel(),
            "denom": denom.ravel().astype(np.int64),
            "n_matched": n_matched.ravel().astype(np.int64),
            "allele_ct": (2 * (n_matched - totals.n_missing)).ravel().astype(np.int64),
            "named_allele_dosage_sum": totals.dosage_sum.ravel(),
            "n_missing": totals.n_missing.ravel(),
            "n_imputed": totals.n_imputed.ravel(),
        },
        schema={
            "sample_id": pl.String,
            "pgs_id": pl.String,
            "sum": pl.Float64,
            "avg": pl.Float64,
            "denom": pl.Int64,
            "n_matched": pl.Int64,
            "allele_ct": pl.Int64,
            "named_allele_dosage_sum": pl.Float64,
            "n_missing": pl.Int64,
            "n_imputed": pl.Int64,
        },
    ).with_columns(pl.col("avg").fill_nan(None))
