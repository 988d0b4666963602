"""Tasks `reference_pca`, `project` and `adjust`: a stored panel's ancestry PCA (computed once), where
stored genotypes' samples stand on it, and their scores adjusted for ancestry. See docs/ancestry.md
and docs/workflows.md. The work is `prsgazer.ops.ancestry`, run off the event loop.
"""

from __future__ import annotations

from prsgazer.assets import Ancestry, AncestryModel, AncestryScores, Genotypes, PrsResult, ReferencePanel, ScoringFile
from prsgazer.tasks.env import compute
from prsgazer.tasks.runtime import input_errors_are_final, run_op, score_params


@compute.task(retries=1)
async def reference_pca(reference_panel: ReferencePanel) -> AncestryModel:
    """The reference panel's ancestry PCA: unrelated samples, QC'd LD-pruned SNPs, top 10 PCs with
    loadings and frequencies (stored once per panel; a rerun is a lookup).

    Args:
        reference_panel: a stored panel with SuperPop in its .psam.
    """
    from prsgazer.ops.ancestry import pca_stored

    return await run_op(pca_stored, reference_panel)


@compute.task(retries=1)
async def project(
    genotypes: Genotypes, model: AncestryModel, reference_panel: ReferencePanel, coverage: str = ""
) -> Ancestry:
    """Place every sample of the genotypes on the panel's PCA (shrinkage corrected) and name the most
    similar superpopulation with its probability (low-confidence flagged).

    Args:
        genotypes: stored genotypes (a person's normalised VCF, a cohort).
        model: the panel's reference PCA (`reference_pca`).
        reference_panel: the panel the PCA was computed on (refitted when few variants are shared).
        coverage: what a single person's VCF covers (wgs: absent sites are hom-ref); empty: the genotypes'.
    """
    from prsgazer.ops.ancestry import ancestry_stored
    from prsgazer.ops.params import ScoreParams

    return await run_op(ancestry_stored, genotypes, model, reference_panel, ScoreParams(), coverage=coverage)


@compute.task(retries=1)
async def adjust(
    genotypes: Genotypes,
    scoring_files: list[ScoringFile],
    results: list[PrsResult],
    ancestry: Ancestry,
    model: AncestryModel,
    reference_panel: ReferencePanel,
    coverage: str = "",
    min_overlap: float = -1.0,
    keep_ambiguous: bool = False,
    keep_multiallelic: bool = False,
) -> AncestryScores:
    """Scores adjusted for ancestry: percentile and z within the most similar population, z_pc_mean and
    z_pc_meanvar (pgsc_calc's Z_norm1/Z_norm2), with the panel re-scored on the same matched variants.

    Args:
        genotypes, scoring_files, results: what `score` scored and stored.
        ancestry: `project`'s output for the genotypes.
        model, reference_panel: the panel and its PCA.
        coverage, min_overlap, keep_ambiguous, keep_multiallelic: exactly as given to `score`.
    """
    from prsgazer.ops.ancestry import adjusted_stored

    with input_errors_are_final():
        params = score_params(min_overlap, keep_ambiguous, keep_multiallelic)
    return await run_op(adjusted_stored, genotypes, scoring_files, results, ancestry, model, reference_panel, params,
                        coverage=coverage)  # fmt: skip
