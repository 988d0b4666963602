"""Concrete asset types. See docs/storage.md ("Asset types").

Fields are what users filter on and what lineage needs; everything else lives inside the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from prsgazer.assets.base import Asset


@dataclass(kw_only=True)
class Vcf(Asset):
    """A VCF / VCF.gz / gVCF of one person or a cohort, as given by the user."""

    asset_key: ClassVar[str] = "vcf"
    suffix: ClassVar[str] = ".vcf.gz"

    sample_id: str = ""
    sample_ids: list[str] = field(default_factory=list)
    n_samples: int | None = None
    genome_build: str = ""
    #: What an absent site means: "gvcf" (reference blocks prove hom-ref), "wgs" (variant-only WGS,
    #: absent implies hom-ref), "array" / "exome" / "unknown" (absent is missing).
    coverage: str = ""
    source: str = ""
    #: The person's genetic ancestry group (AFR, AMR, EAS, EUR, SAS), self-reported or inferred:
    #: which reference superpopulation a report compares with first.
    superpopulation: str = ""


@dataclass(kw_only=True)
class Genotypes(Asset):
    """Genotypes ready to score: a normalized table (zstd parquet) or a plink2 cohort's .pgen (+ companions)."""

    asset_key: ClassVar[str] = "genotypes"
    companions: ClassVar[tuple[str, ...]] = ("blocks_cid", "pvar_cid", "psam_cid")
    suffix: ClassVar[str] = ".parquet"

    vcf_cid: str = ""
    #: gVCF reference blocks (companion), when the source was a gVCF.
    blocks_cid: str = ""
    #: For a plink2 cohort (source_format "pfile") the asset is the .pgen; these are its companions.
    pvar_cid: str = ""
    psam_cid: str = ""
    sample_id: str = ""
    n_samples: int | None = None
    n_variants: int | None = None
    genome_build: str = ""
    source_format: str = ""
    coverage: str = ""
    is_gvcf: bool | None = None


@dataclass(kw_only=True)
class GenotypeBlocks(Asset):
    """gVCF reference blocks of a normalized genotype table (companion of `genotypes`)."""

    asset_key: ClassVar[str] = "genotype_blocks"
    suffix: ClassVar[str] = ".blocks.parquet"

    vcf_cid: str = ""
    n_blocks: int | None = None


@dataclass(kw_only=True)
class MatchLog(Asset):
    """Every candidate match of one scoring file against one genotype set (parquet), with its label."""

    asset_key: ClassVar[str] = "match_log"
    suffix: ClassVar[str] = ".parquet"

    genotypes_cid: str = ""
    scoring_file_cid: str = ""
    pgs_id: str = ""
    n_rows: int | None = None


@dataclass(kw_only=True)
class ScoringFile(Asset):
    """A PGS Catalog (format 2.0) or custom scoring file, as published or downloaded."""

    asset_key: ClassVar[str] = "scoring_file"
    suffix: ClassVar[str] = ".txt.gz"

    pgs_id: str = ""
    pgs_name: str = ""
    trait: str = ""
    trait_efo: list[str] = field(default_factory=list)
    genome_build: str = ""
    #: Build of harmonised positions (`#HmPOS_build`), empty for author-reported files.
    hm_build: str = ""
    n_variants: int | None = None
    weight_type: str = ""
    source: str = ""


@dataclass(kw_only=True)
class Pvar(Asset):
    """A plink2 variant table (.pvar / .pvar.zst), companion of a ReferencePanel or pfile."""

    asset_key: ClassVar[str] = "pvar"
    suffix: ClassVar[str] = ".pvar"

    panel: str = ""
    genome_build: str = ""
    n_variants: int | None = None


@dataclass(kw_only=True)
class Psam(Asset):
    """A plink2 sample table (.psam), companion of a ReferencePanel or pfile."""

    asset_key: ClassVar[str] = "psam"
    suffix: ClassVar[str] = ".psam"

    panel: str = ""
    n_samples: int | None = None


@dataclass(kw_only=True)
class Relatedness(Asset):
    """A panel's list of related samples to leave out of its ancestry PCA (plink2 `.king.cutoff.out.id`)."""

    asset_key: ClassVar[str] = "relatedness"
    suffix: ClassVar[str] = ".king.cutoff.out.id"

    panel: str = ""
    n_samples: int | None = None


@dataclass(kw_only=True)
class ReferencePanel(Asset):
    """A reference panel's .pgen; its .pvar and .psam (and its relatedness list, when it has one)
    travel with it as companions."""

    asset_key: ClassVar[str] = "reference_panel"
    companions: ClassVar[tuple[str, ...]] = ("pvar_cid", "psam_cid", "related_cid")
    suffix: ClassVar[str] = ".pgen"

    panel: str = ""
    genome_build: str = ""
    n_samples: int | None = None
    n_variants: int | None = None
    superpopulations: list[str] = field(default_factory=list)
    pvar_cid: str = ""
    psam_cid: str = ""
    #: Related samples to leave out of the ancestry PCA (a `relatedness` asset), when the panel has a list.
    related_cid: str = ""


@dataclass(kw_only=True)
class Distribution(Asset):
    """Reference score distribution of one score over one panel (all superpopulations and ALL)."""

    asset_key: ClassVar[str] = "distribution"
    suffix: ClassVar[str] = ".parquet"

    panel: str = ""
    panel_cid: str = ""
    pgs_id: str = ""
    scoring_file_cid: str = ""
    genome_build: str = ""
    superpopulations: list[str] = field(default_factory=list)
    n_samples: int | None = None
    n_variants_matched: int | None = None
    checks_passed: bool | None = None
    #: The per-sample reference scores it was aggregated from (lineage).
    reference_scores_cid: str = ""


@dataclass(kw_only=True)
class PrsResult(Asset):
    """Scores of one genotype set against one scoring file (one row per sample), with match summary."""

    asset_key: ClassVar[str] = "prs_result"
    suffix: ClassVar[str] = ".tsv"

    sample_id: str = ""
    pgs_id: str = ""
    genotypes_cid: str = ""
    scoring_file_cid: str = ""
    genome_build: str = ""
    n_samples: int | None = None
    n_variants: int | None = None
    n_matched: int | None = None
    overlap: float | None = None
    status: str = ""
    reason: str = ""
    superpopulation: str = ""
    match_log_cid: str = ""
    #: How absent sites were treated (coverage decision and what "absent" meant).
    coverage: str = ""
    absent_means: str = ""
    imputation: str = ""
    #: Where the dosages came from: "hard calls", "DS", "HDS", "GP", "pgen dosages".
    dosage_source: str = ""
    #: The per-score match summary (counts by match type, exclusion and unmatched reason).
    summary: dict[str, Any] = field(default_factory=dict)
    #: A cohort scored in parts (one genotype file each): the parts' results these scores add up.
    part_cids: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class ReferenceScores(Asset):
    """Every reference-panel sample's score for one scoring file (parquet), from batch scoring."""

    asset_key: ClassVar[str] = "reference_scores"
    suffix: ClassVar[str] = ".parquet"

    panel: str = ""
    panel_cid: str = ""
    pgs_id: str = ""
    scoring_file_cid: str = ""
    genome_build: str = ""
    n_samples: int | None = None
    n_matched: int | None = None
    n_variants: int | None = None
    status: str = ""
    reason: str = ""


@dataclass(kw_only=True)
class Percentiles(Asset):
    """Percentile and z of each (sample, score) per superpopulation (TSV), from the `percentile` task:
    against the panel re-scored on the person's matched variants, or a precomputed distribution."""

    asset_key: ClassVar[str] = "percentiles"
    suffix: ClassVar[str] = ".tsv"

    sample_id: str = ""
    genotypes_cid: str = ""
    panel: str = ""
    panel_cid: str = ""
    superpopulations: list[str] = field(default_factory=list)
    prs_result_cids: list[str] = field(default_factory=list)
    distribution_cids: list[str] = field(default_factory=list)
    #: same_variants (panel re-scored), precomputed (distributions), or n/a.
    method: str = ""


@dataclass(kw_only=True)
class PrsReport(Asset):
    """A person's report (JSON): scores, percentiles per superpopulation, quality and interpretation."""

    asset_key: ClassVar[str] = "prs_report"
    suffix: ClassVar[str] = ".json"

    sample_id: str = ""
    genotypes_cid: str = ""
    pgs_ids: list[str] = field(default_factory=list)
    panel: str = ""
    panel_cid: str = ""
    superpopulation: str = ""
    prs_result_cids: list[str] = field(default_factory=list)
    distribution_cids: list[str] = field(default_factory=list)
    percentiles_cid: str = ""
    #: The person's inferred genetic ancestry and ancestry-adjusted scores, when a panel placed them.
    ancestry_cid: str = ""
    ancestry_scores_cid: str = ""
    n_ok: int | None = None
    n_failed: int | None = None


@dataclass(kw_only=True)
class CatalogMetadata(Asset):
    """One cleaned PGS Catalog metadata sheet (zstd parquet) of one catalog release. See docs/catalog.md."""

    asset_key: ClassVar[str] = "catalog_metadata"
    suffix: ClassVar[str] = ".parquet"

    #: scores, performance_metrics, evaluation_sample_sets, score_development_samples, publications,
    #: efo_traits, or the derived best_performance.
    sheet: str = ""
    n_rows: int = 0
    #: Catalog release date (YYYY-MM-DD) from /rest/info, or "unknown".
    catalog_release: str = ""
    #: Where the raw sheet came from (its URL, or hf://datasets/<repo> for a pulled copy).
    source: str = ""
    #: Version of the cleaning code's column layout; readers skip layouts they do not know.
    schema_version: int = 0


@dataclass(kw_only=True)
class AncestryModel(Asset):
    """A reference panel's ancestry PCA (parquet: variants, loadings, frequencies, reference PCs)."""

    asset_key: ClassVar[str] = "ancestry_model"
    suffix: ClassVar[str] = ".parquet"

    panel: str = ""
    panel_cid: str = ""
    genome_build: str = ""
    n_pcs: int | None = None
    n_variants: int | None = None
    n_samples: int | None = None
    #: How relatives were left out: "list" (the panel's relatedness list), "king" or "none".
    relatedness: str = ""


@dataclass(kw_only=True)
class Ancestry(Asset):
    """Where samples stand on a reference PCA (TSV: most similar superpopulation, probability, PCs)."""

    asset_key: ClassVar[str] = "ancestry"
    suffix: ClassVar[str] = ".tsv"

    sample_id: str = ""
    genotypes_cid: str = ""
    model_cid: str = ""
    panel: str = ""
    panel_cid: str = ""
    n_samples: int | None = None
    #: For one sample: its most similar superpopulation, the probability, and whether it is low-confidence.
    superpopulation: str = ""
    probability: float | None = None
    low_confidence: bool | None = None
    n_shared_variants: int | None = None
    #: oadp, oadp-refit (the PCA refitted on the shared variants) or simple.
    projection: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class AncestryScores(Asset):
    """Ancestry-adjusted scores (TSV: percentile and z within the most similar population, z_pc_mean,
    z_pc_meanvar), on the same matched variants as the reference."""

    asset_key: ClassVar[str] = "ancestry_scores"
    suffix: ClassVar[str] = ".tsv"

    sample_id: str = ""
    genotypes_cid: str = ""
    ancestry_cid: str = ""
    model_cid: str = ""
    panel_cid: str = ""
    prs_result_cids: list[str] = field(default_factory=list)
