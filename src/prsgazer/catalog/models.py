"""Pydantic models of PGS Catalog REST API records. See docs/catalog.md ("REST client").

Field names follow the API's JSON exactly (`/rest/score/{id}`, `/rest/performance/search`, …) so a
record round-trips; unknown fields are kept (`extra="allow"`), so a newer API never breaks parsing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EFOTrait(_Record):
    """A mapped trait (EFO, MONDO, HP, … ontology term) as the score and trait endpoints give it."""

    id: str
    label: str = ""
    description: str | None = None
    url: str | None = None
    trait_categories: list[str] = Field(default_factory=list)
    trait_synonyms: list[str] = Field(default_factory=list)
    trait_mapped_terms: list[str] = Field(default_factory=list)
    associated_pgs_ids: list[str] = Field(default_factory=list)
    child_associated_pgs_ids: list[str] = Field(default_factory=list)
    child_traits: list[EFOTrait] = Field(default_factory=list)


class PublicationRef(_Record):
    """The publication summary embedded in score and performance records."""

    id: str
    title: str | None = None
    doi: str | None = None
    PMID: int | str | None = None
    journal: str | None = None
    firstauthor: str | None = None
    date_publication: str | None = None


class Publication(PublicationRef):
    """`/rest/publication/{pgp_id}`: a publication with its authors and associated scores."""

    authors: str | None = None
    #: {"development": [PGS ids], "evaluation": [PGS ids]}
    associated_pgs_ids: dict[str, list[str]] = Field(default_factory=dict)


class Cohort(_Record):
    name_short: str | None = None
    name_full: str | None = None
    name_others: str | None = None


class Sample(_Record):
    """One sample (group of individuals) of a sample set, GWAS source or training set."""

    sample_number: int | None = None
    sample_cases: int | None = None
    sample_controls: int | None = None
    sample_percent_male: float | None = None
    sample_age: dict[str, Any] | None = None
    phenotyping_free: str | None = None
    followup_time: dict[str, Any] | None = None
    ancestry_broad: str | None = None
    ancestry_free: str | None = None
    ancestry_country: str | None = None
    ancestry_additional: str | None = None
    source_GWAS_catalog: str | None = None
    source_PMID: int | str | None = None
    source_DOI: str | None = None
    cohorts: list[Cohort] = Field(default_factory=list)
    cohorts_additional: str | None = None


class SampleSet(_Record):
    """`/rest/sample_set/{pss_id}`: the samples a score was evaluated in."""

    id: str
    samples: list[Sample] = Field(default_factory=list)

    @property
    def n_individuals(self) -> int:
        return sum(s.sample_number or 0 for s in self.samples)

    def ancestry_fractions(self) -> dict[str, float]:
        """Share of individuals per broad ancestry category (samples without a count are skipped)."""
        total = self.n_individuals
        out: dict[str, float] = {}
        if not total:
            return out
        for s in self.samples:
            key = s.ancestry_broad or "NR"
            out[key] = out.get(key, 0.0) + (s.sample_number or 0) / total
        return out


class Metric(_Record):
    """One performance metric: `estimate` with an optional 95% CI or standard error."""

    name_long: str | None = None
    name_short: str | None = None
    estimate: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    se: float | None = None
    unit: str | None = None


class PerformanceMetrics(_Record):
    effect_sizes: list[Metric] = Field(default_factory=list)
    class_acc: list[Metric] = Field(default_factory=list)
    othermetrics: list[Metric] = Field(default_factory=list)

    def find(self, *names: str) -> Metric | None:
        """The first metric whose short or long name equals one of `names` (case-insensitive)."""
        wanted = {n.lower() for n in names}
        for m in (*self.class_acc, *self.effect_sizes, *self.othermetrics):
            if (m.name_short or "").lower() in wanted or (m.name_long or "").lower() in wanted:
                return m
        return None


class Performance(_Record):
    """`/rest/performance/search?pgs_id=`: one evaluation of a score in one sample set."""

    id: str
    associated_pgs_id: str | None = None
    phenotyping_reported: str | None = None
    phenotype_efo: list[EFOTrait] = Field(default_factory=list)
    publication: PublicationRef | None = None
    sampleset: SampleSet | None = None
    performance_metrics: PerformanceMetrics = Field(default_factory=PerformanceMetrics)
    covariates: str | None = None
    performance_comments: str | None = None


class Score(_Record):
    """`/rest/score/{pgs_id}`: a polygenic score's metadata and its scoring-file URLs."""

    id: str
    name: str | None = None
    ftp_scoring_file: str | None = None
    #: {"GRCh37": {"positions": url}, "GRCh38": {"positions": url}}
    ftp_harmonized_scoring_files: dict[str, dict[str, str | None]] = Field(default_factory=dict)
    publication: PublicationRef | None = None
    matches_publication: bool | None = None
    samples_variants: list[Sample] = Field(default_factory=list)
    samples_training: list[Sample] = Field(default_factory=list)
    trait_reported: str | None = None
    trait_additional: str | None = None
    trait_efo: list[EFOTrait] = Field(default_factory=list)
    method_name: str | None = None
    method_params: str | None = None
    variants_number: int | None = None
    variants_interactions: int | None = None
    variants_genomebuild: str | None = None
    weight_type: str | None = None
    #: {"gwas": {"dist": {"EUR": 100.0}, "count": n}, "dev": {…}, "eval": {…}}
    ancestry_distribution: dict[str, Any] = Field(default_factory=dict)
    date_release: str | None = None
    license: str | None = None

    def harmonized_url(self, build: str) -> str | None:
        """URL of the harmonised file in `build` (GRCh37/GRCh38), None when the catalog lists none."""
        entry = self.ftp_harmonized_scoring_files.get(build) or {}
        return entry.get("positions")


class ReleaseInfo(_Record):
    """`/rest/info`: API version and the latest release."""

    rest_api: dict[str, Any] | str | None = None
    latest_release: dict[str, Any] = Field(default_factory=dict)
    citation: str | None = None
    terms_of_use: str | None = None

    @property
    def release_date(self) -> str:
        return str(self.latest_release.get("date") or "unknown")


EFOTrait.model_rebuild()
