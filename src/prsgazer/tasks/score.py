"""Tasks `score` (stored genotypes × stored scoring files → one PrsResult + MatchLog per score) and
`combine_scores` (a cohort scored file by file → its scores). See docs/workflows.md.

The work is `prsgazer.ops.score.score_stored` / `combine_stored`, run off the event loop.
"""

from __future__ import annotations

from prsgazer.assets import Genotypes, PrsResult, ReferencePanel, ScoringFile
from prsgazer.tasks.env import compute, light
from prsgazer.tasks.runtime import input_errors_are_final, run_op, score_params


@compute.task(retries=1)
async def score(
    genotypes: Genotypes,
    scoring_files: list[ScoringFile],
    coverage: str = "",
    reference_panel: ReferencePanel | None = None,
    min_overlap: float = -1.0,
    keep_ambiguous: bool = False,
    keep_multiallelic: bool = False,
) -> list[PrsResult]:
    """Score genotypes against scoring files, exact against plink2 (SUM, AVG, DENOM per sample).

    Args:
        genotypes: the stored genotype table (from `normalize_genotypes`) or any stored genotypes.
        scoring_files: the scores to compute; each gives one PrsResult (a failed match is a result
            with status "failed" and its reason, not an error).
        coverage: what a single person's VCF covers (wgs, gvcf, wes, array, unknown); empty: the
            genotypes' own, else detected.
        reference_panel: when given, its variant table supplies REF at absent sites (hom-ref calls
            under wgs/gvcf coverage).
        min_overlap: minimum matched fraction per score; negative: the default (0.75).
        keep_ambiguous: keep strand-ambiguous (A/T, C/G) matches.
        keep_multiallelic: keep matches at multi-allelic sites.
    """
    from prsgazer.ops.score import score_stored

    with input_errors_are_final():
        params = score_params(min_overlap, keep_ambiguous, keep_multiallelic)
    return await run_op(score_stored, genotypes, scoring_files, params, coverage=coverage,
                        reference_panel=reference_panel)  # fmt: skip


@light.task(retries=1)
async def combine_scores(parts: list[PrsResult], min_overlap: float = -1.0) -> list[PrsResult]:
    """Scores of a cohort held in several genotype files of the same samples (one per chromosome, say)
    from each file's results: SUM, DENOM and the counts add, AVG is SUM / DENOM of the totals, and a
    score's overlap is decided on the totals (score each file with min_overlap 0).

    Args:
        parts: one PrsResult per (file, score), every score from every file (`score` on each file).
        min_overlap: minimum matched fraction of the whole score; negative: the default (0.75).
    """
    from prsgazer.ops.score import combine_stored

    with input_errors_are_final():
        params = score_params(min_overlap)
    return await run_op(combine_stored, parts, params)
