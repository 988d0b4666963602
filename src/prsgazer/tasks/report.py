"""Tasks `percentile` and `report`: a person's PrsResults placed among reference people, then the
PrsReport (JSON) with scores, percentiles per superpopulation, quality and a plain-English reading.
See docs/workflows.md. The work is `prsgazer.ops.report`, run off the event loop.
"""

from __future__ import annotations

from prsgazer.assets import (
    Ancestry,
    AncestryScores,
    Distribution,
    Genotypes,
    Percentiles,
    PrsReport,
    PrsResult,
    ReferencePanel,
    ScoringFile,
)
from prsgazer.ops.report import Failure
from prsgazer.tasks.env import compute, light
from prsgazer.tasks.runtime import input_errors_are_final, run_op, score_params

__all__ = ["Failure", "percentile", "report"]


@compute.task(retries=1)
async def percentile(
    genotypes: Genotypes,
    scoring_files: list[ScoringFile],
    results: list[PrsResult],
    reference_panel: ReferencePanel | None = None,
    distributions: list[Distribution] | None = None,
    coverage: str = "",
    min_overlap: float = -1.0,
    keep_ambiguous: bool = False,
    keep_multiallelic: bool = False,
) -> Percentiles:
    """Percentile and z of each scored sample per reference superpopulation and ALL.

    Args:
        genotypes, scoring_files: what `score` scored (the person is re-scored with the same options
            when the panel lacks some of their variants, so both sides use one variant set).
        results: the PrsResults of `score` on them (their sums are checked against the re-run).
        reference_panel: re-score the panel on the person's matched variants (preferred).
        distributions: precomputed Distributions, used when no panel is given (labelled "precomputed").
        coverage, min_overlap, keep_ambiguous, keep_multiallelic: exactly as given to `score`.
    """
    from prsgazer.ops.report import percentiles_stored

    with input_errors_are_final():
        params = score_params(min_overlap, keep_ambiguous, keep_multiallelic)
    return await run_op(
        percentiles_stored, genotypes, scoring_files, results, params, reference_panel=reference_panel,
        distributions=distributions, coverage=coverage,
    )  # fmt: skip


@light.task(retries=1)
async def report(
    genotypes: Genotypes,
    results: list[PrsResult],
    percentiles: Percentiles | None = None,
    sample_id: str = "",
    superpopulation: str = "",
    failures: list[Failure] | None = None,
    n_total: int = -1,
    ancestry: Ancestry | None = None,
    adjusted: AncestryScores | None = None,
) -> PrsReport:
    """Assemble the PrsReport of one person (JSON, see engine.interpret.Report).

    Args:
        genotypes: the person's genotypes (their VCF's superpopulation is the default comparison group).
        results: the person's PrsResults (ok and failed).
        percentiles: the `percentile` task's output (absent: every percentile N/A).
        sample_id: the person (needed when the genotypes hold several samples).
        superpopulation: compare with this group (AFR, AMR, EAS, EUR, SAS); empty: the VCF's, else ALL.
        failures: scores that failed before scoring (fetch), listed in the report.
        n_total: scores requested (default: results + failures).
        ancestry: the person's place on the panel's PCA (`project`): the comparison group when none is given.
        adjusted: the ancestry-adjusted scores (`adjust`).
    """
    from prsgazer.ops.report import report_stored

    return await run_op(
        report_stored, genotypes, results, percentiles, sample_id=sample_id, superpopulation=superpopulation,
        failures=failures, n_total=n_total, ancestry=ancestry, adjusted=adjusted,
    )  # fmt: skip
