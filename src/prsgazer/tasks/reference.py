"""Tasks `reference_batch` and `aggregate_distributions`: a stored panel × stored scoring files →
per-sample reference scores → per-superpopulation Distribution assets. See docs/workflows.md.

`reference_batch` scores every file in one pass over the panel (engine.scoring.batch_score: each
variant read once for all scores, memory bounded by PRSGAZER_MEMORY_LIMIT). Each output is cached in
the store under its own key (panel CID, scoring-file CID, parameters, code version), so a rerun reuses
every batch that finished; a batch killed mid-pass is scored again (docs/workflows.md, "Caching and
resumption"). The work is `prsgazer.ops.distributions`, run off the event loop.
"""

from __future__ import annotations

from prsgazer.assets import Distribution, ReferencePanel, ReferenceScores, ScoringFile
from prsgazer.tasks.env import compute, light
from prsgazer.tasks.runtime import input_errors_are_final, run_op, score_params


@compute.task(retries=1)
async def reference_batch(
    reference_panel: ReferencePanel,
    scoring_files: list[ScoringFile],
    min_overlap: float = -1.0,
    keep_ambiguous: bool = False,
    keep_multiallelic: bool = False,
) -> list[ReferenceScores]:
    """Score every panel sample with every scoring file, all in one pass over the panel.

    Args:
        reference_panel: a stored panel (.pgen with .pvar/.psam companions, SuperPop in the .psam).
        scoring_files: the scores; each gives one ReferenceScores per score it holds (a failed match
            is an output with status "failed" and its reason, not an error).
        min_overlap: minimum matched fraction per score; negative: the default (0.75).
        keep_ambiguous / keep_multiallelic: as in `score`.
    """
    from prsgazer.ops.distributions import reference_scores_stored

    with input_errors_are_final():
        params = score_params(min_overlap, keep_ambiguous, keep_multiallelic)
    return await run_op(reference_scores_stored, reference_panel, scoring_files, params)


@light.task(retries=1)
async def aggregate_distributions(
    reference_panel: ReferencePanel, reference_scores: list[ReferenceScores]
) -> list[Distribution]:
    """Per-superpopulation (and ALL) distribution of each reference score, with its data checks.

    Stats n, mean, std (ddof=1), min, max, p1…p99 and every sample's score (float32) are stored; the
    checks (every superpopulation present, finite values, non-zero std, ordered quantiles, n within
    the panel, stats equal a re-aggregation of the stored scores) are recorded in the parquet and
    summarized as `checks_passed`. Failed reference scores are skipped (their reason is on them).
    """
    from prsgazer.ops.distributions import distributions_stored

    return await run_op(distributions_stored, reference_panel, reference_scores)
