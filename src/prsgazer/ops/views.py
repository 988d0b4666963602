"""Inputs and results as the doors show them: what stored genotypes are (`describe_genotypes`), a
report as one row per score (`report_table`, `report_tsv`), a multi-sample run as one row per
(sample, score) (`cohort_table`), the reference samples a percentile
was computed against (`reference_samples`, for plots) and where a person stands on the panel's
ancestry PCA (`ancestry_view`, for the PC1/PC2 plot). Any door can use them; the notebook does.
See docs/notebook.md.

`reference_samples` re-derives the comparison behind a stored `Percentiles` exactly as the percentile
step made it (same genotypes, scoring files, parameters and panel; the panel re-scored on the
person's matched variants) and checks that every stored percentile is reproduced from the samples it
returns, so a plot never shows another distribution than the one behind the numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.assets import Ancestry, AncestryModel, Genotypes, Percentiles, PrsResult, ScoringFile
from prsgazer.engine.ancestry import AncestryPca
from prsgazer.engine.genotypes import absent_meaning, decide_coverage, open_genotypes
from prsgazer.engine.interpret.report import Report
from prsgazer.engine.reference import ALL, compare_with_panel, mid_rank_percentile, open_panel, read_distribution
from prsgazer.engine.scoring import run_scoring
from prsgazer.errors import PrsgazerError
from prsgazer.fileio import temp_name
from prsgazer.ops.params import ScoreParams, Tuning
from prsgazer.ops.runtime import result_key
from prsgazer.ops.score import person_options
from prsgazer.sealed import discard, publish, verify

#: Plain-English meaning of an absent scored position, per `absent_means` value.
ABSENT_TEXT = {
    "hom_ref": "a scored position absent from the file counts as homozygous reference (a whole genome that "
    "lists variant sites only)",
    "hom_ref_in_reference_blocks": "an absent position inside a gVCF reference block counts as homozygous "
    "reference; outside every block it is not covered and stays unmatched",
    "unknown": "an absent position is unknown and stays unmatched, as in pgsc_calc (declare the file a whole "
    "genome if it is one)",
    "not_assayed": "an absent variant was not assayed and stays unmatched",
}


class GenotypeSummary(BaseModel):
    """What was detected in stored genotypes."""

    cid: str
    filename: str = ""
    format: str = Field(description="vcf | gvcf | pfile | bfile | parquet")
    genome_build: str = ""
    build_evidence: str = ""
    samples: list[str] = Field(default_factory=list)
    n_samples: int = 0
    n_variants: int = 0
    coverage: str = ""
    coverage_how: str = ""
    absent_means: str = ""
    absent_text: str = ""
    superpopulation: str = ""
    vcf_cid: str = ""


def describe_genotypes(store: Any, genotypes: Genotypes, *, tuning: Tuning | None = None) -> GenotypeSummary:
    """Format, build (and its evidence), samples, variant count and the absent-site policy that
    scoring will apply (declared on the asset, else detected as the engine detects it)."""
    tuning = tuning or Tuning.from_settings()
    got = store.fetch(genotypes.cid)
    source = open_genotypes(got.path, cache_dir=tuning.cache_dir)
    declared = genotypes.coverage if genotypes.coverage and genotypes.coverage != "genotyped" else None
    coverage, how = decide_coverage(source, declared)
    vcf = store.get(genotypes.vcf_cid) if genotypes.vcf_cid and store.has(genotypes.vcf_cid) else None
    fmt = "gvcf" if genotypes.is_gvcf else ("vcf" if genotypes.vcf_cid or source.kind == "parquet" else source.kind)
    build = source.build
    means = absent_meaning(coverage)
    evidence = build.detail
    if not build.build and genotypes.genome_build:
        evidence = f"declared: {genotypes.genome_build}"
    return GenotypeSummary(
        cid=genotypes.cid,
        filename=getattr(vcf, "filename", "") or genotypes.filename,
        format=fmt,
        genome_build=genotypes.genome_build or build.build or "",
        build_evidence=evidence,
        samples=source.samples.get_column("sample_id").to_list(),
        n_samples=source.n_samples,
        n_variants=source.variants.height,
        coverage=coverage.value,
        coverage_how=how,
        absent_means=means,
        absent_text=ABSENT_TEXT.get(means, means),
        superpopulation=getattr(vcf, "superpopulation", "") or "",
        vcf_cid=genotypes.vcf_cid,
    )


def report_table(report: Report) -> pl.DataFrame:
    """One row per score of a report: coverage (matched/total), the percentile in the compared group
    and in every reference group, z, the ancestry-adjusted percentile and z within the inferred
    population with pgsc_calc's `z_pc_mean`/`z_pc_meanvar` (when the report inferred ancestry),
    reliability and the plain-English reading; unavailable values
    are null with the reason in `note` (never 0). Scores that failed before scoring are rows too."""
    group = report.superpopulation or ALL
    groups = list(report.superpopulations)
    rows: list[dict[str, Any]] = []
    for s in report.scores:
        here = s.percentile_in(group)
        it = s.interpretation
        note = s.reason if s.status != "ok" else ""
        if s.status == "ok" and (here is None or here.percentile is None):
            note = (here.reason if here is not None else None) or f"no percentile for {group}"
        elif s.status == "ok" and here is not None and here.reason:
            note = here.reason
        row: dict[str, Any] = {
            "pgs_id": s.pgs_id,
            "trait": s.trait or s.pgs_name,
            "status": s.status,
            "n_matched": s.n_matched,
            "n_variants": s.n_variants,
            "coverage": s.overlap,
            "sum": s.sum,
            "compared_with": group,
            "percentile": here.percentile if here is not None and s.status == "ok" else None,
            "z": here.z if here is not None and s.status == "ok" else None,
        }
        for g in groups:
            e = s.percentile_in(g)
            row[f"percentile_{g}"] = e.percentile if e is not None and s.status == "ok" else None
        adj = s.adjusted if s.status == "ok" else None
        row |= {
            "adjusted_ancestry": adj.ancestry if adj is not None else None,
            "adjusted_percentile": adj.percentile if adj is not None else None,
            "adjusted_z": adj.z if adj is not None else None,
            "z_pc_mean": adj.z_pc_mean if adj is not None else None,
            "z_pc_meanvar": adj.z_pc_meanvar if adj is not None else None,
            "method": here.method if here is not None else "n/a",
            "reliability": it.reliability if it is not None else None,
            "reading": it.headline if it is not None else None,
            "note": note or None,
            "absent_means": s.absent_means or None,
            "prs_result_cid": s.prs_result_cid or None,
            "scoring_file_cid": s.scoring_file_cid or None,
        }
        rows.append(row)
    for f in report.failures:
        rows.append({"pgs_id": f.pgs_id, "status": "failed", "compared_with": group, "method": "n/a",
                     "note": f"{f.step}: {f.error}"})  # fmt: skip
    schema: dict[str, Any] = {
        "pgs_id": pl.String, "trait": pl.String, "status": pl.String, "n_matched": pl.Int64, "n_variants": pl.Int64,
        "coverage": pl.Float64, "sum": pl.Float64, "compared_with": pl.String, "percentile": pl.Float64,
        "z": pl.Float64, **{f"percentile_{g}": pl.Float64 for g in groups}, "adjusted_ancestry": pl.String,
        "adjusted_percentile": pl.Float64, "adjusted_z": pl.Float64, "z_pc_mean": pl.Float64,
        "z_pc_meanvar": pl.Float64, "method": pl.String,
        "reliability": pl.String, "reading": pl.String, "note": pl.String, "absent_means": pl.String,
        "prs_result_cid": pl.String, "scoring_file_cid": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def report_tsv(report: Report) -> str:
    """`report_table` as TSV (unavailable values are `NA`, with the reason in `note`)."""
    return report_table(report).write_csv(separator="\t", null_value="NA")


def cohort_table(store: Any, percentiles: Percentiles) -> pl.DataFrame:
    """One row per (sample, score) of a multi-sample run: the sum, and the percentile and z in every
    reference group (null when unavailable, with the reason in `note`)."""
    stored = pl.read_csv(store.fetch(percentiles.cid).path, separator="\t", null_values="NA",
                         schema_overrides={"sample_id": pl.String, "percentile_reason": pl.String})  # fmt: skip
    sums = []
    for cid in percentiles.prs_result_cids:
        r = store.get(cid)
        if isinstance(r, PrsResult) and r.status == "ok":
            t = pl.read_csv(store.fetch(cid).path, separator="\t", null_values="NA",
                            schema_overrides={"sample_id": pl.String})  # fmt: skip
            sums.append(t.select("sample_id", pl.lit(r.pgs_id).alias("pgs_id"), pl.col("sum").cast(pl.Float64)))
    base = pl.concat(sums) if sums else pl.DataFrame(schema={"sample_id": pl.String, "pgs_id": pl.String,
                                                             "sum": pl.Float64})  # fmt: skip
    groups = list(dict.fromkeys(percentiles.superpopulations or stored["superpopulation"].unique().to_list()))
    for g in groups:
        part = stored.filter(pl.col("superpopulation") == g).select(
            "sample_id", "pgs_id", pl.col("percentile").alias(f"percentile_{g}"), pl.col("z").alias(f"z_{g}")
        )
        base = base.join(part, on=["sample_id", "pgs_id"], how="left")
    notes = (
        stored.filter(pl.col("percentile_reason").is_not_null())
        .group_by("sample_id", "pgs_id", maintain_order=True)
        .agg(pl.col("percentile_reason").first().alias("note"))
    )
    return base.join(notes, on=["sample_id", "pgs_id"], how="left").sort("pgs_id", "sample_id")


class ReferenceSamples(BaseModel):
    """The reference samples behind a Percentiles asset, and each sample's value that was compared."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    method: str = Field(description="same_variants | precomputed | n/a")
    reason: str = ""
    panel: str = ""
    samples: pl.DataFrame = Field(description="pgs_id, sample_id, superpopulation, score")
    values: pl.DataFrame = Field(description="sample_id, pgs_id, value")

    def scores(self, pgs_id: str, superpopulation: str = ALL) -> np.ndarray:
        s = self.samples.filter(pl.col("pgs_id") == pgs_id)
        if superpopulation != ALL:
            s = s.filter(pl.col("superpopulation") == superpopulation)
        return s.get_column("score").cast(pl.Float64).to_numpy()

    def value(self, sample_id: str, pgs_id: str) -> float | None:
        v = self.values.filter((pl.col("sample_id") == sample_id) & (pl.col("pgs_id") == pgs_id))
        return v["value"][0] if v.height else None


_SAMPLES_SCHEMA = pl.Schema(
    {"pgs_id": pl.String, "sample_id": pl.String, "superpopulation": pl.String, "score": pl.Float64}
)
_VALUES_SCHEMA = {"sample_id": pl.String, "pgs_id": pl.String, "value": pl.Float64}


def reference_samples(store: Any, percentiles: Percentiles, *, tuning: Tuning | None = None) -> ReferenceSamples:
    """Every reference sample's score per superpopulation that the stored `percentiles` were computed
    against, and the value compared for each (sample, score). Cached under the cache dir by the
    percentiles' CID (derived data, re-created when missing). See the module docstring."""
    tuning = tuning or Tuning.from_settings()
    empty = pl.DataFrame(schema=_SAMPLES_SCHEMA), pl.DataFrame(schema=_VALUES_SCHEMA)
    if percentiles.method == "n/a":
        return ReferenceSamples(method="n/a", reason="no reference panel or distribution was given",
                                samples=empty[0], values=empty[1])  # fmt: skip
    assert tuning.cache_dir is not None
    key = result_key("reference_samples", inputs={"percentiles": percentiles.cid})
    cache = Path(tuning.cache_dir) / "views" / key
    # sealed together (the samples entry lists the values as its companion): a changed byte is recomputed
    entry, companion = cache / "samples.parquet", cache / "values.parquet"
    found = None
    if verify(entry, companion, what="reference-samples cache entry") is not None:
        try:
            found = pl.read_parquet(entry), pl.read_parquet(companion)
        except (OSError, pl.exceptions.PolarsError):
            discard(entry, companion)
    if found is not None:
        samples, values = found
    else:
        results = [r for r in (store.get(c) for c in percentiles.prs_result_cids) if isinstance(r, PrsResult)]
        if percentiles.method == "same_variants":
            samples, values = _same_variants(store, percentiles, results, tuning)
        else:
            samples, values = _precomputed(store, percentiles, results)
        _check_reproduces(store, percentiles, samples, values)
        cache.mkdir(parents=True, exist_ok=True)
        tmps = [cache / temp_name(f"{name}.parquet") for name in ("samples", "values")]
        try:
            for tmp, frame in zip(tmps, (samples, values), strict=True):
                frame.write_parquet(tmp)
            publish(tmps[0], entry, (tmps[1], companion))
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)
    reason = ""
    if percentiles.method != "same_variants":
        reason = "precomputed distribution over the score's full variant set"
    return ReferenceSamples(method=percentiles.method, reason=reason, panel=percentiles.panel, samples=samples,
                            values=values)  # fmt: skip


def _same_variants(
    store: Any, percentiles: Percentiles, results: list[PrsResult], tuning: Tuning
) -> tuple[pl.DataFrame, pl.DataFrame]:
    genotypes = store.get(percentiles.genotypes_cid)
    assert isinstance(genotypes, Genotypes)
    files = {r.scoring_file_cid: store.get(r.scoring_file_cid) for r in results if r.scoring_file_cid}
    files = {c: f for c, f in files.items() if isinstance(f, ScoringFile)}
    record = percentiles.params or (results[0].params if results else {})
    params = ScoreParams.model_validate(record) if record else ScoreParams()
    options, _ = person_options(genotypes, params, tuning)
    g = store.fetch(genotypes.cid)
    paths = [store.fetch(c).path for c in files]
    panel_asset = store.fetch(percentiles.panel_cid)
    options = options.model_copy(update={"reference": panel_asset.path})  # as the percentile step scored
    run = run_scoring(g.path, paths, options)
    panel = open_panel(Path(panel_asset.path).with_suffix(""), cache_dir=tuning.cache_dir)
    try:
        comparison = compare_with_panel(g.path, paths, run, options, panel)
    finally:
        panel.close()
    parts = [
        ref.table.select(pl.lit(acc).alias("pgs_id"), "sample_id", "superpopulation", pl.col("sum").alias("score"))
        for acc, ref in comparison.references.items()
        if ref.table is not None
    ]
    samples = pl.concat(parts).cast(_SAMPLES_SCHEMA) if parts else pl.DataFrame(schema=_SAMPLES_SCHEMA)
    values = pl.DataFrame(
        [{"sample_id": s, "pgs_id": p, "value": v} for (s, p), v in comparison.values.items()], schema=_VALUES_SCHEMA
    )
    return samples, values


def _precomputed(store: Any, percentiles: Percentiles, results: list[PrsResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    parts = []
    for cid in percentiles.distribution_cids:
        d = read_distribution(store.fetch(cid).path)
        pgs = str(getattr(store.get(cid), "pgs_id", "") or d.meta.get("pgs_id"))
        parts.append(d.samples.select(pl.lit(pgs).alias("pgs_id"), "sample_id", "superpopulation", "score"))
    samples = pl.concat(parts).cast(_SAMPLES_SCHEMA) if parts else pl.DataFrame(schema=_SAMPLES_SCHEMA)
    rows = []
    for r in results:
        if r.status != "ok":
            continue
        t = pl.read_csv(store.fetch(r.cid).path, separator="\t", null_values="NA",
                        schema_overrides={"sample_id": pl.String})  # fmt: skip
        rows += [{"sample_id": s, "pgs_id": r.pgs_id, "value": v} for s, v in t.select("sample_id", "sum").iter_rows()]
    return samples, pl.DataFrame(rows, schema=_VALUES_SCHEMA)


def _check_reproduces(store: Any, percentiles: Percentiles, samples: pl.DataFrame, values: pl.DataFrame) -> None:
    """Every stored percentile must follow from these samples and values (mid-rank, per group)."""
    stored = pl.read_csv(store.fetch(percentiles.cid).path, separator="\t", null_values="NA",
                         schema_overrides={"sample_id": pl.String, "percentile_reason": pl.String})  # fmt: skip
    view = ReferenceSamples(method=percentiles.method, samples=samples, values=values)
    for row in stored.filter(pl.col("percentile").is_not_null()).iter_rows(named=True):
        value = view.value(str(row["sample_id"]), row["pgs_id"])
        ref = view.scores(row["pgs_id"], row["superpopulation"])
        ref = ref[np.isfinite(ref)]
        got = mid_rank_percentile(value, ref) if value is not None and len(ref) else math.nan
        if not math.isclose(got, row["percentile"], rel_tol=1e-9, abs_tol=1e-9):
            raise PrsgazerError(
                f"the reference samples of {percentiles.cid} give percentile {got} for {row['sample_id']}, "
                f"{row['pgs_id']}, {row['superpopulation']}, but the stored percentile is {row['percentile']}: "
                "the percentiles were not computed with the inputs recorded on them"
            )


class AncestryView(BaseModel):
    """A person's place on the reference PCA their report was compared on: the reference samples'
    PC1/PC2 per superpopulation, the person's, and the inferred group with its probability."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    sample_id: str
    superpopulation: str
    probability: float | None = None
    low_confidence: bool = False
    projection: str = ""
    n_shared_variants: int | None = None
    panel: str = ""
    warnings: list[str] = Field(default_factory=list)
    reference: pl.DataFrame = Field(description="sample_id, superpopulation, PC1, PC2 of the PCA's samples")
    person: tuple[float, float] | None = Field(default=None, description="the person's (PC1, PC2)")
    ancestry_cid: str = ""
    model_cid: str = ""


def ancestry_view(store: Any, report: Report) -> AncestryView | None:
    """The ancestry behind `report` (its `ancestry_cid` → the stored Ancestry table → the PCA model it
    was projected on); None when the report carries no inferred ancestry."""
    entry = report.ancestry
    if entry is None or not entry.ancestry_cid:
        return None
    asset = store.get(entry.ancestry_cid)
    if not isinstance(asset, Ancestry) or not asset.model_cid:
        return None
    model = store.get(asset.model_cid)
    if not isinstance(model, AncestryModel):
        return None
    pca = AncestryPca.read(store.fetch(model.cid).path)
    reference = pca.pc_frame().select("sample_id", "superpopulation", "PC1", "PC2")
    table = pl.read_csv(store.fetch(asset.cid).path, separator="\t", null_values="NA",
                        schema_overrides={"sample_id": pl.String})  # fmt: skip
    row = table.filter(pl.col("sample_id") == report.sample_id)
    person = None
    if row.height and {"PC1", "PC2"} <= set(row.columns) and row["PC1"][0] is not None and row["PC2"][0] is not None:
        person = (float(row["PC1"][0]), float(row["PC2"][0]))
    return AncestryView(
        sample_id=report.sample_id, superpopulation=entry.superpopulation, probability=entry.probability,
        low_confidence=entry.low_confidence, projection=entry.projection, n_shared_variants=entry.n_shared_variants,
        panel=asset.panel or model.panel, warnings=list(entry.warnings), reference=reference, person=person,
        ancestry_cid=asset.cid, model_cid=model.cid,
    )  # fmt: skip
