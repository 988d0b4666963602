"""Genetic ancestry: a reference PCA of a panel, projection of targets onto it with shrinkage correction,
the most similar reference population with a probability, and ancestry-adjusted scores (pgsc_calc's
percentile/z within the most similar population, Z_norm1 and Z_norm2). See docs/ancestry.md.

Modules: `regions` (long-range LD regions, GRCh37/38), `qc` (site rules, missingness/MAF/HWE),
`kinship` (relatedness list, KING-robust, greedy unrelated set), `ld` (windowed r² pruning), `model`
(`AncestryPca` and its parquet file), `pca` (streamed reference PCA), `oadp` (FRAPOSA's online
augmentation, decomposition and Procrustes), `project` (variant matching and projection),
`similarity` (Gaussian most-similar population), `adjust` (adjusted scores).

Typical use::

    pca = reference_pca(open_panel(prefix), PcaSettings(genome_build="GRCh38"), exclude=read_exclusion_list(ids))
    pca.write("panel.ancestry.parquet")
    proj = project(pca, open_genotypes(vcf), panel=panel)            # one person or a cohort
    sim = fit_similarity(pca.pcs, pca.samples["superpopulation"].to_list())
    anc = assign(sim, proj.matrix(), proj.pcs["sample_id"].to_list())
    adj = fit_adjustment(pca.pc_frame(), reference_scores)          # reference scored with the same file
    out = adjust_scores(adj, anc.join(proj.pcs, on="sample_id"), target_scores)
"""

from prsgazer.engine.ancestry.adjust import (
    AdjustmentModel,
    PopulationDistribution,
    ScoreAdjustment,
    adjust_scores,
    fit_adjustment,
    fit_mean_variance,
)
from prsgazer.engine.ancestry.kinship import KING_CUTOFF_DEG2, greedy_unrelated, king_robust, read_exclusion_list
from prsgazer.engine.ancestry.ld import LdPrune, LdPruner
from prsgazer.engine.ancestry.model import AncestryPca, PcaSettings
from prsgazer.engine.ancestry.oadp import Decomposition, decomposition, oadp
from prsgazer.engine.ancestry.pca import reference_pca, restricted_pca
from prsgazer.engine.ancestry.project import Projection, ProjectOptions, match_pca_variants, project
from prsgazer.engine.ancestry.qc import QcCounts, VariantQc, hwe_exact
from prsgazer.engine.ancestry.regions import LONG_RANGE_LD, long_range_ld_mask
from prsgazer.engine.ancestry.similarity import (
    SimilarityModel,
    SimilarityOptions,
    assign,
    chi2_sf,
    fit_similarity,
    leave_one_out,
)

__all__ = [
    "KING_CUTOFF_DEG2",
    "LONG_RANGE_LD",
    "AdjustmentModel",
    "AncestryPca",
    "Decomposition",
    "LdPrune",
    "LdPruner",
    "PcaSettings",
    "PopulationDistribution",
    "ProjectOptions",
    "Projection",
    "QcCounts",
    "ScoreAdjustment",
    "SimilarityModel",
    "SimilarityOptions",
    "VariantQc",
    "adjust_scores",
    "assign",
    "chi2_sf",
    "decomposition",
    "fit_adjustment",
    "fit_mean_variance",
    "fit_similarity",
    "greedy_unrelated",
    "hwe_exact",
    "king_robust",
    "leave_one_out",
    "long_range_ld_mask",
    "match_pca_variants",
    "oadp",
    "project",
    "read_exclusion_list",
    "reference_pca",
    "restricted_pca",
]
