"""Percentiles and z-scores of a person's score among reference samples of similar ancestry.
See docs/reference.md ("Percentiles").

Like is compared with like: `reference_on_variants` re-scores the panel on exactly the variants that
were matched for the person (their scoring rows are matched again against the panel with the same
options, and scored with the engine — same imputation rules); `percentile_on_same_variants` places
the person's value among those panel scores. When the panel lacks some of the person's variants,
the caller re-scores the person on the shared rows (`ReferenceScores.shared_row_nrs`) so that both
sides still use one variant set; the coverage is reported. `percentile_from_distribution` is the
fallback on a precomputed distribution (all variants the panel matched for the full score), labelled
`method="precomputed"` with the coverage gap stated. Anything impossible is `method="n/a"` with a
`reason`, never 0.

Definitions: percentile = 100 × (#{x < v} + ½ #{x = v}) / n (mid-rank empirical percentile, 0–100);
z = (v − mean) / sd with the sample standard deviation (ddof = 1) of the same reference samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.genotypes.source import GenotypeSource
from prsgazer.engine.reference.distributions import ALL, DistributionData
from prsgazer.engine.scoring.match import MatchOptions, ScoreMatchSummary, match_variants
from prsgazer.engine.scoring.score import ScoreOptions, plan_weights, score_chunks, score_table

if TYPE_CHECKING:
    from prsgazer.engine.reference.panel import Panel
    from prsgazer.engine.scoring.run import RunOptions, ScoreRun

Method = Literal["same_variants", "precomputed", "n/a"]


class PercentileResult(BaseModel):
    """Where one value falls among reference samples."""

    value: float | None = Field(description="The person's value that was compared (score SUM).")
    percentile: float | None = Field(default=None, description="0–100, mid-rank empirical; None when N/A.")
    z: float | None = None
    superpopulation: str = ALL
    n_reference: int = 0
    reference_mean: float | None = None
    reference_std: float | None = None
    method: Method = "n/a"
    reason: str | None = Field(default=None, description="Why N/A, or what a fallback means.")
    n_variants: int | None = Field(default=None, description="Variants behind both the value and the reference.")
    n_person_matched: int | None = Field(default=None, description="Variants matched for the person.")
    coverage: float | None = Field(default=None, description="n_variants / n_person_matched.")


def mid_rank_percentile(value: float, reference: np.ndarray) -> float:
    """100 × (#{x < v} + ½ #{x = v}) / n."""
    x = np.sort(np.asarray(reference, dtype=np.float64))
    below = np.searchsorted(x, value, side="left")
    upto = np.searchsorted(x, value, side="right")
    return 100.0 * (below + 0.5 * (upto - below)) / len(x)


def _place(value: float | None, ref: np.ndarray, superpopulation: str, method: Method, **info) -> PercentileResult:
    if value is None or not math.isfinite(value):
        return PercentileResult(value=None, superpopulation=superpopulation, reason="no value to compare", **info)
    ref = ref[np.isfinite(ref)]
    if len(ref) < 2:
        return PercentileResult(
            value=value,
            superpopulation=superpopulation,
            n_reference=len(ref),
            reason=f"only {len(ref)} reference sample(s) in {superpopulation}",
            **info,
        )
    mean = float(ref.mean())
    sd = float(ref.std(ddof=1))
    return PercentileResult(
        value=value,
        percentile=mid_rank_percentile(value, ref),
        z=(value - mean) / sd if sd > 0 else None,
        superpopulation=superpopulation,
        n_reference=len(ref),
        reference_mean=mean,
        reference_std=sd,
        method=method,
        **info,
    )


def not_available(reason: str, superpopulation: str = ALL, value: float | None = None) -> PercentileResult:
    return PercentileResult(value=value, superpopulation=superpopulation, method="n/a", reason=reason)


class ReferenceScores(BaseModel):
    """Panel scores on a person's matched variants, per score."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    accession: str
    n_person_matched: int
    shared_row_nrs: list[int] = Field(description="Scoring rows matched both for the person and in the panel.")
    table: pl.DataFrame | None = Field(description="sample_id, superpopulation, sum (None: nothing shared).")

    @property
    def complete(self) -> bool:
        return len(self.shared_row_nrs) == self.n_person_matched


def reference_on_variants(
    panel: GenotypeSource,
    sample_table: pl.DataFrame,
    person_rows: pl.DataFrame,
    *,
    match_options: MatchOptions | None = None,
    score_options: ScoreOptions | None = None,
) -> dict[str, ReferenceScores]:
    """Score the panel on the scoring rows that were matched for the person (engine.scorefile SCHEMA
    rows, several accessions allowed), all scores in one pass over the panel.

    The rows are matched against the panel with the person's options (min_overlap ignored: the set
    is fixed); rows the panel cannot match are left out and reported via `shared_row_nrs`.
    """
    mopt = (match_options or MatchOptions()).model_copy(update={"min_overlap": 0.0})
    accessions = person_rows.get_column("accession").unique(maintain_order=True).to_list()
    n_person = dict(person_rows.group_by("accession").len().iter_rows())
    match = match_variants(person_rows, panel.variants, mopt)
    weights = match.weights
    shared: dict[str, list[int]] = {a: [] for a in accessions}
    for acc, rn in weights.select(pl.col("accession").cast(pl.String), "row_nr").iter_rows():
        shared[acc].append(int(rn))
    have = [a for a in accessions if shared[a]]
    tables: dict[str, pl.DataFrame] = {}
    if have:
        plan = plan_weights(weights, have)
        totals = score_chunks(panel, plan, options=score_options or ScoreOptions())
        table = score_table(panel, plan, totals).join(
            sample_table.select("sample_id", "superpopulation"), on="sample_id", how="left"
        )
        for a in have:
            tables[a] = table.filter(pl.col("pgs_id") == a).select("sample_id", "superpopulation", "sum")
    return {
        a: ReferenceScores(
            accession=a, n_person_matched=int(n_person[a]), shared_row_nrs=sorted(shared[a]), table=tables.get(a)
        )
        for a in accessions
    }


def percentile_on_same_variants(
    value: float | None,
    reference: ReferenceScores,
    superpopulation: str | None = None,
) -> PercentileResult:
    """Percentile and z of `value` (the person's SUM on `reference.shared_row_nrs`) within one
    superpopulation of the panel scores on the same variants (None or 'ALL': every sample)."""
    label = superpopulation or ALL
    info = {
        "n_variants": len(reference.shared_row_nrs),
        "n_person_matched": reference.n_person_matched,
        "coverage": len(reference.shared_row_nrs) / reference.n_person_matched if reference.n_person_matched else None,
    }
    if reference.table is None:
        return PercentileResult(
            value=value, superpopulation=label, reason="none of the person's matched variants is in the panel", **info
        )
    t = reference.table
    if label != ALL:
        present = set(t.get_column("superpopulation").drop_nulls().unique().to_list())
        if label not in present:
            return PercentileResult(
                value=value,
                superpopulation=label,
                reason=f"superpopulation {label!r} is not in the panel (has {', '.join(sorted(present)) or 'none'})",
                **info,
            )
        t = t.filter(pl.col("superpopulation") == label)
    result = _place(value, t.get_column("sum").to_numpy(), label, "same_variants", **info)
    if result.method != "n/a" and not reference.complete:
        result.reason = (
            f"panel lacks {reference.n_person_matched - len(reference.shared_row_nrs)} of the person's "
            f"{reference.n_person_matched} matched variants: both sides use the {len(reference.shared_row_nrs)} shared"
        )
    return result


def percentile_from_distribution(
    value: float | None,
    distribution: DistributionData,
    superpopulation: str | None = None,
    coverage_gap: str | None = None,
) -> PercentileResult:
    """Fallback: percentile of `value` among a precomputed distribution's stored sample scores.

    Labelled `method="precomputed"`; `coverage_gap` says how the variant sets differ (e.g. "person
    matched 740 of the 782 variants behind the distribution"), and is repeated in `reason`.
    """
    label = superpopulation or ALL
    present = set(distribution.samples.get_column("superpopulation").drop_nulls().unique().to_list())
    if label != ALL and label not in present:
        return not_available(
            f"superpopulation {label!r} is not in the distribution (has {', '.join(sorted(present))})", label, value
        )
    ref = distribution.scores(label)
    result = _place(value, ref, label, "precomputed")
    if result.method == "precomputed":
        gap = coverage_gap or "variant sets not compared"
        result.reason = f"precomputed distribution (not re-scored on the person's variants): {gap}"
    return result


#: Columns `run_percentiles` adds to a scoring run's table (per sample and score).
PERCENTILE_COLUMNS = [
    "superpopulation", "percentile", "z", "percentile_method", "percentile_reason", "n_reference",
    "percentile_variants",
]  # fmt: skip


_TABLE_SCHEMA = {
    "sample_id": pl.String, "pgs_id": pl.String, "superpopulation": pl.String, "percentile": pl.Float64,
    "z": pl.Float64, "percentile_method": pl.String, "percentile_reason": pl.String,
    "n_reference": pl.Int64, "percentile_variants": pl.Int64,
}  # fmt: skip


def _row(sample: str, pgs: str, res: PercentileResult, n_variants: int | None) -> dict:
    return {
        "sample_id": sample, "pgs_id": pgs, "superpopulation": res.superpopulation, "percentile": res.percentile,
        "z": res.z, "percentile_method": res.method, "percentile_reason": res.reason,
        "n_reference": res.n_reference, "percentile_variants": n_variants,
    }  # fmt: skip


def known_labels(
    superpopulation: str | list[str] | None, available: list[str], field: str = "superpopulation"
) -> list[str]:
    """`superpopulation` (any case) as the panel's labels; one the panel lacks is an InputError listing
    the panel's groups. None or empty: ALL."""
    from prsgazer.errors import InputError

    by_upper = {a.upper(): a for a in [*available, ALL]}
    out = []
    for label in _labels(superpopulation):
        if label.upper() not in by_upper:
            raise InputError(
                f"unknown superpopulation {label!r}", field=field,
                hint=f"the panel has {', '.join(available)} (or {ALL} for everyone)",
            )  # fmt: skip
        out.append(by_upper[label.upper()])
    return out


def _labels(superpopulation: str | list[str] | None) -> list[str]:
    if superpopulation is None or isinstance(superpopulation, str):
        return [superpopulation or ALL]
    return list(dict.fromkeys(s or ALL for s in superpopulation)) or [ALL]


def person_rows(run: object) -> pl.DataFrame:
    """The scoring rows (engine.scorefile SCHEMA) matched for the passed scores of a `ScoreRun`."""
    from prsgazer.engine.scorefile import SCHEMA
    from prsgazer.engine.scoring.run import ScoreRun

    assert isinstance(run, ScoreRun)
    m = run.match
    rid = m.candidates.filter(pl.col("match_status") == "matched").get_column("_rid")
    rows = m.rows[rid].filter(pl.col("accession").cast(pl.String).is_in(m.passed))
    return rows.with_columns(pl.col("accession").cast(pl.String), pl.col("effect_type").cast(pl.String)).select(
        list(SCHEMA)
    )


class PersonScores(BaseModel):
    """What comparing a scoring run with a panel needs of it: the matched scoring rows of the scores
    that passed (engine.scorefile SCHEMA), each (sample, score)'s SUM, each score's match outcome and
    the genotypes' build. Built from a `ScoreRun` (`of_run`) or from a run's stored outputs, so that a
    person scored once is never scored again to be placed among reference samples."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    rows: pl.DataFrame = Field(description="Matched scoring rows of the passed scores (SCHEMA).")
    table: pl.DataFrame = Field(description="sample_id, pgs_id, sum: one row per sample and score (failed too).")
    summaries: dict[str, ScoreMatchSummary] = Field(description="Each score's match outcome, by accession.")
    build: str | None = None

    @classmethod
    def of_run(cls, run: object) -> PersonScores:
        from prsgazer.engine.scoring.run import ScoreRun

        if isinstance(run, PersonScores):
            return run
        assert isinstance(run, ScoreRun)
        return cls(
            rows=person_rows(run),
            table=run.table.select("sample_id", "pgs_id", "sum"),
            summaries={s.accession: s for s in run.match.summaries},
            build=run.build.build,
        )


class Comparison(BaseModel):
    """What a run is compared with: per score, the panel's scores on the person's matched variants,
    and per (sample, score) the value compared (re-scored on the shared rows when the panel lacks some)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    references: dict[str, ReferenceScores] = Field(default_factory=dict)
    values: dict[tuple[str, str], float | None] = Field(default_factory=dict)


def compare_with_panel(
    genotypes: str | Path | Sequence[str | Path],
    scorefiles: Sequence[str | Path],
    run: ScoreRun | PersonScores,
    options: RunOptions,
    panel: Panel,
) -> Comparison:
    """The panel re-scored on the run's matched rows (all scores in one pass), and each sample's value
    on the same rows: a score whose rows the panel does not all have is re-scored for the samples on
    the shared rows (`RunOptions.only_rows`), so both sides use one variant set. `run` is a `ScoreRun`
    or the `PersonScores` of one (the samples are scored again only for such a partial score)."""
    from prsgazer.engine.reference.panel import Panel
    from prsgazer.engine.scoring.run import RunOptions, run_scoring

    assert isinstance(options, RunOptions) and isinstance(panel, Panel)
    scored = PersonScores.of_run(run)
    rows = scored.rows
    refs = (
        reference_on_variants(panel, panel.sample_table, rows, match_options=options.match, score_options=options.score)
        if rows.height
        else {}
    )
    values = {(s, p): v for s, p, v in scored.table.select("sample_id", "pgs_id", "sum").iter_rows()}
    partial = {a: r.shared_row_nrs for a, r in refs.items() if not r.complete and r.shared_row_nrs}
    if partial:
        again = run_scoring(genotypes, list(scorefiles), options.model_copy(update={"only_rows": partial}))
        for s, p, v in again.table.select("sample_id", "pgs_id", "sum").iter_rows():
            if p in partial:
                values[(s, p)] = v
    return Comparison(references=refs, values=values)


def run_percentiles(
    genotypes: str | Path | Sequence[str | Path],
    scorefiles: Sequence[str | Path],
    run: ScoreRun | PersonScores,
    options: RunOptions,
    panel: Panel,
    superpopulation: str | list[str] | None = None,
) -> pl.DataFrame:
    """Percentile and z of every (sample, score) of a `ScoreRun` against a panel, on the same variants.

    `superpopulation`: one label, several (one row per sample, score and label; the panel is re-scored
    once for all), or None for ALL.

    The person's matched rows are re-scored on the panel (`compare_with_panel`); a score whose
    rows the panel does not all have is re-scored for the person on the shared rows, so both sides
    use one variant set. Returns sample_id, pgs_id and PERCENTILE_COLUMNS (N/A rows carry
    `percentile_reason`).
    """
    scored = PersonScores.of_run(run)
    labels = _labels(superpopulation)
    comparison = compare_with_panel(genotypes, scorefiles, scored, options, panel)
    refs, values = comparison.references, comparison.values
    status = scored.summaries
    out = []
    pairs = scored.table.select("sample_id", "pgs_id").iter_rows()
    for (sample, pgs), label in ((k, lab) for k in pairs for lab in labels):
        summ = status[pgs]
        if not summ.passed:
            res = not_available(f"score failed matching: {summ.reason}", label)
        elif pgs not in refs:
            res = not_available("no matched variants", label)
        else:
            res = percentile_on_same_variants(values.get((sample, pgs)), refs[pgs], label)
        out.append(_row(sample, pgs, res, res.n_variants))
    return pl.DataFrame(out, schema=_TABLE_SCHEMA)


def panel_percentiles(
    genotypes: str | Path | Sequence[str | Path],
    scorefiles: Sequence[str | Path],
    run: ScoreRun | PersonScores,
    options: RunOptions,
    panel_prefix: str | Path,
    superpopulation: str | list[str] | None = None,
    *,
    every_group: bool = False,
    cache_dir: str | Path | None = None,
    field: str = "panel",
) -> tuple[pl.DataFrame, list[str], str | None]:
    """`run_percentiles` against the panel at `panel_prefix`, after checking it fits the run.

    The panel must carry superpopulations and be in the genotypes' build (a mismatch is an
    InputError naming `field`). `every_group`: every superpopulation of the panel and ALL, instead
    of `superpopulation`. Returns (table, the labels used, a warning when a build is unknown).
    """
    from prsgazer.engine.reference.panel import open_panel
    from prsgazer.errors import InputError

    scored = PersonScores.of_run(run)
    panel = open_panel(panel_prefix, cache_dir=Path(cache_dir) if cache_dir is not None else None)
    try:
        pb, gb = panel.build.build, scored.build
        if pb and gb and pb != gb:
            raise InputError(
                f"the panel is {pb} but the genotypes are {gb}",
                file=str(panel.prefix),
                field=field,
                hint=f"use the panel of the genotypes' build (e.g. NAME:{gb})",
            )
        warning = None
        if not (pb and gb):
            warning = (
                f"build unknown for the {'panel' if not pb else 'genotypes'}: cannot check that panel and "
                "genotypes agree"
            )
        panel.require_superpopulations()
        groups = panel.superpopulations
        labels = [*groups, ALL] if every_group else known_labels(superpopulation, groups, field="--superpopulation")
        return run_percentiles(genotypes, scorefiles, scored, options, panel, labels), labels, warning
    finally:
        panel.close()


def distribution_percentiles(run: object, distributions: dict[str, DistributionData],
                             superpopulation: str | list[str] | None = None) -> pl.DataFrame:  # fmt: skip
    """Fallback for a run without a panel: percentiles against precomputed distributions (by pgs_id).
    `superpopulation` as in `run_percentiles`."""
    scored = PersonScores.of_run(run)
    groups = sorted({str(s) for d in distributions.values() for s in d.samples["superpopulation"].drop_nulls()})
    labels = known_labels(superpopulation, groups) if groups else _labels(superpopulation)
    status = scored.summaries
    out = []
    rows = scored.table.select("sample_id", "pgs_id", "sum").iter_rows()
    for (sample, pgs, value), label in ((r, lab) for r in rows for lab in labels):
        summ = status[pgs]
        dist = distributions.get(pgs)
        if not summ.passed:
            res = not_available(f"score failed matching: {summ.reason}", label)
        elif dist is None:
            res = not_available(f"no distribution given for {pgs}", label)
        else:
            ref_summary = (dist.meta.get("summary") or {}) if isinstance(dist.meta, dict) else {}
            ref_n = ref_summary.get("n_matched")
            gap = (
                f"person matched {summ.n_matched} of {summ.n_variants} scoring rows, the panel "
                f"{ref_n if ref_n is not None else 'an unknown number'}"
            )
            res = percentile_from_distribution(value, dist, label, gap)
        out.append(_row(sample, pgs, res, None))
    return pl.DataFrame(out, schema=_TABLE_SCHEMA)
