"""Scoring: SUM, DENOM, AVG per (sample, score) for many scores in one pass, as plink2 `--score`
computes them. See docs/engine.md ("Scoring").

For a matched row with weight w, effect-allele dosage d (ALT count g, or 2 − g when the effect
allele is REF) and transform t (additive d, dominant min(d, 1), recessive max(d − 1, 0); genotypic
rows pick dosage_{d}_weight), the contribution is w·t(d). A missing call is mean-imputed when an
effect-allele frequency p is known (reference frequencies, else the target's founders when there
are at least 50): 2pw additive, pw dominant/recessive (plink2's values), the HWE expectation for
genotypic rows; otherwise it contributes 0 and the sample's DENOM shrinks by 2 (plink2's
`no-mean-imputation`). DENOM = 2 × variants counted, AVG = SUM / DENOM.

Cohorts are scored as dense matrix products over variant chunks (alt dosages × weight blocks, every
score at once); a handful of samples use a per-entry path. Both read genotypes through
`GenotypeSource.read`, so the batch code can call `score_chunks` on any subset of variants.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.genotypes import MISSING, GenotypeSource

_ADD, _DOM, _REC, _GEN = 0, 1, 2, 3
_TYPE_CODES = {"additive": _ADD, "dominant": _DOM, "recessive": _REC, "genotypic": _GEN}


class ScoreOptions(BaseModel):
    """How to score."""

    min_founders_for_target_freq: int = Field(
        default=50,
        description="Target allele frequencies are used for imputation only with this many founders.",
    )
    impute: bool = Field(default=True, description="Mean-impute missing calls when a frequency is known.")
    max_block_cells: int = Field(
        default=8_000_000, description="Genotype cells (variants × samples) per chunk."
    )
    entry_path_max_samples: int = Field(default=8, description="At most this many samples: per-entry path.")


class WeightPlan(BaseModel):
    """Matched rows as flat arrays: entry k puts weight(s) of score `score[k]` on target row `vidx[k]`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    accessions: list[str]
    vidx: np.ndarray  # unique target rows, sorted (uint32)
    local: np.ndarray  # entry → index into vidx
    score: np.ndarray  # entry → index into accessions
    effect_is_alt: np.ndarray  # bool
    kind: np.ndarray  # int8 type code
    c: np.ndarray  # (n_entries, 3): contribution for ALT count g = 0, 1, 2
    u: np.ndarray  # (n_entries, 3): transformed effect dosage for g = 0, 1, 2 (NAMED_ALLELE_DOSAGE_SUM)
    w: np.ndarray  # effect weight (additive / dominant / recessive)
    gw: np.ndarray  # (n_entries, 3) genotypic weights by effect dosage
    n_matched: np.ndarray  # per score


def plan_weights(matched: pl.DataFrame, accessions: list[str]) -> WeightPlan:
    """Turn matched rows (engine.match `matched` frame) into a WeightPlan for `accessions`."""
    m = matched.filter(pl.col("accession").is_in(accessions))
    acc_index = {a: i for i, a in enumerate(accessions)}
    vidx_all = m.get_column("vidx").to_numpy().astype(np.int64)
    uniq, local = np.unique(vidx_all, return_inverse=True)
    score = np.array([acc_index[a] for a in m.get_column("accession").to_list()], dtype=np.int64)
    is_alt = m.get_column("effect_is_alt").to_numpy().astype(bool)
    kind = m.get_column("effect_type").replace_strict(_TYPE_CODES, return_dtype=pl.Int8).to_numpy()
    w = m.get_column("effect_weight").fill_null(0.0).to_numpy().astype(np.float64)
    gw = (
        np.stack(
            [
                m.get_column(f"dosage_{k}_weight").fill_null(0.0).to_numpy().astype(np.float64)
                for k in range(3)
            ],
            axis=1,
        )
        if m.height
        else np.zeros((0, 3))
    )
    # effect dosage for ALT count g = 0, 1, 2
    g = np.array([0, 1, 2], dtype=np.float64)
    d = np.where(is_alt[:, None], g[None, :], 2 - g[None, :])
    t = np.where(
        (kind == _DOM)[:, None],
        np.minimum(d, 1),
        np.where((kind == _REC)[:, None], np.maximum(d - 1, 0), d),
    )
    c = w[:, None] * t
    gen = kind == _GEN
    if gen.any():
        di = d[gen].astype(np.int64)
        c[gen] = np.take_along_axis(gw[gen], di, axis=1)
    n_matched = (
        np.bincount(score, minlength=len(accessions))
        if len(score)
        else np.zeros(len(accessions), dtype=np.int64)
    )
    return WeightPlan(
        accessions=accessions,
        vidx=uniq.astype(np.uint32),
        local=local.astype(np.int64),
        score=score,
        effect_is_alt=is_alt,
        kind=kind,
        c=c,
        u=t,
        w=w,
        gw=gw,
        n_matched=n_matched.astype(np.int64),
    )


def _imputed(plan: WeightPlan, entries: np.ndarray, p_alt: np.ndarray) -> np.ndarray:
    """Imputed contribution per entry given the ALT frequency of its variant (NaN → no imputation)."""
    p = np.where(plan.effect_is_alt[entries], p_alt, 1.0 - p_alt)
    kind = plan.kind[entries]
    w = plan.w[entries]
    val = np.where(kind == _ADD, 2.0 * p * w, p * w)
    gen = kind == _GEN
    if gen.any():
        gw = plan.gw[entries[gen]]
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


def alt_frequencies(g: np.ndarray, founders: np.ndarray) -> np.ndarray:
    """ALT frequency per variant over founders' non-missing calls (NaN when none)."""
    gf = g[:, founders] if not founders.all() else g
    ok = gf != MISSING
    n_ok = ok.sum(axis=1)
    total = np.where(ok, gf, 0).sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_ok > 0, total / (2.0 * n_ok), np.nan)


def score_chunks(
    source: GenotypeSource,
    plan: WeightPlan,
    *,
    options: ScoreOptions | None = None,
    ref_alt_freq: np.ndarray | None = None,
) -> ScoreTotals:
    """Score every plan entry against `source`, reading genotypes chunk by chunk.

    `ref_alt_freq`: optional ALT frequency per target row (indexed by vidx; NaN = unknown), used for
    imputation before the target's own frequencies.
    """
    opt = options or ScoreOptions()
    n, s = source.n_samples, len(plan.accessions)
    totals = ScoreTotals.zeros(n, s)
    if len(plan.vidx) == 0:
        return totals
    founders = source.samples.get_column("founder").to_numpy().astype(bool)
    use_target_freq = opt.impute and int(founders.sum()) >= opt.min_founders_for_target_freq
    order = np.argsort(plan.local, kind="stable")
    local_sorted = plan.local[order]
    entry_path = n <= opt.entry_path_max_samples
    step = max(256, opt.max_block_cells // max(n, 1))
    if not entry_path:
        step = min(step, max(256, 4_000_000 // max(2 * s, 1)))
    for lo in range(0, len(plan.vidx), step):
        hi = min(lo + step, len(plan.vidx))
        a, b = np.searchsorted(local_sorted, [lo, hi])
        entries = order[a:b]
        g = source.read(plan.vidx[lo:hi])
        p_alt = np.full(hi - lo, np.nan)
        if opt.impute and ref_alt_freq is not None:
            p_alt = ref_alt_freq[plan.vidx[lo:hi].astype(np.int64)].astype(np.float64)
        if use_target_freq:
            need = np.isnan(p_alt)
            if need.any():
                p_alt[need] = alt_frequencies(g[need], founders)
        if entry_path:
            part = _entries_block(plan, entries, plan.local[entries] - lo, g, p_alt, s)
        else:
            part = _dense_block(plan, entries, plan.local[entries] - lo, g, p_alt, s)
        totals.add(part)
    return totals


def _entries_block(
    plan: WeightPlan, entries: np.ndarray, row: np.ndarray, g: np.ndarray, p_alt: np.ndarray, s: int
) -> ScoreTotals:
    n = g.shape[1]
    out = ScoreTotals.zeros(n, s)
    ge = g[row]  # (entries, n)
    miss = ge == MISSING
    gi = np.where(miss, 0, ge).astype(np.int64)
    cont = np.take_along_axis(plan.c[entries], gi, axis=1)
    dos = np.take_along_axis(plan.u[entries], gi, axis=1)
    imp = _imputed(plan, entries, p_alt[row])
    can_impute = ~np.isnan(imp)
    cont = np.where(miss, np.where(can_impute[:, None], imp[:, None], 0.0), cont)
    dos = np.where(miss, 0.0, dos)
    sc = plan.score[entries]
    for i in range(n):
        out.sum[i] = np.bincount(sc, weights=cont[:, i], minlength=s)
        out.dosage_sum[i] = np.bincount(sc, weights=dos[:, i], minlength=s)
        out.n_missing[i] = np.bincount(sc, weights=miss[:, i], minlength=s).astype(np.int64)
        out.n_imputed[i] = np.bincount(sc, weights=miss[:, i] & can_impute, minlength=s).astype(np.int64)
    return out


def _dense_block(
    plan: WeightPlan, entries: np.ndarray, row: np.ndarray, g: np.ndarray, p_alt: np.ndarray, s: int
) -> ScoreTotals:
    n = g.shape[1]
    m = g.shape[0]
    out = ScoreTotals.zeros(n, s)
    sc = plan.score[entries]
    c = plan.c[entries]
    u = plan.u[entries]
    # F0 (value at g = 0) and the steps to g = 1 and g = 2, for weights (cols 0..s-1) and unit
    # dosages (cols s..2s-1), as dense (m, 2s) blocks.
    cols_w, cols_u = sc, sc + s
    f0 = np.zeros((m, 2 * s))
    np.add.at(f0, (row, cols_w), c[:, 0])
    np.add.at(f0, (row, cols_u), u[:, 0])
    step1 = np.zeros((m, 2 * s))
    np.add.at(step1, (row, cols_w), c[:, 1] - c[:, 0])
    np.add.at(step1, (row, cols_u), u[:, 1] - u[:, 0])
    step2 = np.zeros((m, 2 * s))
    np.add.at(step2, (row, cols_w), c[:, 2] - c[:, 0])
    np.add.at(step2, (row, cols_u), u[:, 2] - u[:, 0])
    linear = np.allclose(step2, 2 * step1, rtol=0, atol=0)
    miss = g == MISSING
    any_missing = bool(miss.any())
    gd = g.astype(np.float64)
    if any_missing:
        gd[miss] = 0.0
    total = np.broadcast_to(f0.sum(axis=0), (n, 2 * s)).copy()
    if linear:
        total += gd.T @ step1
    else:
        i1 = (g == 1).astype(np.float64)
        i2 = (g == 2).astype(np.float64)
        total += i1.T @ step1 + i2.T @ step2
    if any_missing:
        # Missing calls: remove the g = 0 value counted above, add the imputed value if any.
        vr, sm = np.nonzero(miss)
        rows_with = np.unique(vr)
        member = np.zeros((m, s), dtype=np.int64)
        np.add.at(member, (row, sc), 1)
        imp_block = np.zeros((m, s))
        can_block = np.zeros((m, s), dtype=np.int64)
        sel = np.isin(row, rows_with)
        if sel.any():
            e_sel = entries[sel]
            imp = _imputed(plan, e_sel, p_alt[row[sel]])
            ok = ~np.isnan(imp)
            np.add.at(imp_block, (row[sel][ok], sc[sel][ok]), imp[ok])
            np.add.at(can_block, (row[sel][ok], sc[sel][ok]), 1)
        corr = np.zeros((n, 2 * s))
        np.add.at(corr, sm, np.concatenate([imp_block[vr] - f0[vr, :s], -f0[vr, s:]], axis=1))
        total += corr
        np.add.at(out.n_missing, sm, member[vr])
        np.add.at(out.n_imputed, sm, can_block[vr])
    out.sum = total[:, :s]
    out.dosage_sum = total[:, s:]
    return out


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
    samples = source.samples.get_column("sample_id").to_list()
    return pl.DataFrame(
        {
            "sample_id": np.repeat(np.array(samples, dtype=object), s).tolist(),
            "pgs_id": np.tile(np.array(plan.accessions, dtype=object), n).tolist(),
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
