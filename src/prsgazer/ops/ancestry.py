"""Genetic ancestry as every door asks for it: a panel's reference PCA (computed once, kept), the
targets placed on it with the most similar superpopulation and its probability, and scores adjusted
for ancestry (percentile and z within that population, `z_pc_mean`, `z_pc_meanvar`).
See docs/ancestry.md.

- `panel_pca` (files; cached under `<cache>/ancestry/`) and `pca_stored` (the `reference_pca` task):
  the reference PCA of a panel, keyed by the panel's CIDs, its relatedness list and the code version.
- `ancestry_of` / `ancestry_stored` (the `project` task): projected PCs and similarity per sample.
  A single person's variant-only VCF declared `wgs` (or a gVCF) gets its absent PCA sites as hom-ref
  calls first, exactly as scoring treats absent sites; otherwise they would count as missing and
  shrink and bias the projection.
- `adjusted_scores` / `adjusted_stored` (the `adjust` task): the panel re-scored on the variants
  matched for each target (the same comparison the percentiles make), the adjustment models fitted
  on the PCA's reference samples, and each target's adjusted scores.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from prsgazer.assets import Ancestry, AncestryModel, AncestryScores, Genotypes, PrsResult, ReferencePanel, ScoringFile
from prsgazer.engine.ancestry import (
    AncestryPca,
    PcaSettings,
    Projection,
    adjust_scores,
    assign,
    fit_adjustment,
    fit_similarity,
    project,
    read_exclusion_list,
    reference_pca,
)
from prsgazer.engine.genotypes import Coverage, GenotypeSource, decide_coverage, fill_absent_sites, open_genotypes
from prsgazer.engine.reference import Panel, open_panel
from prsgazer.engine.reference.percentile import PersonScores, compare_with_panel
from prsgazer.engine.scoring import RunOptions, ScoreRun
from prsgazer.engine.version import source_version
from prsgazer.errors import InputError
from prsgazer.fileio import output_path
from prsgazer.ops.params import ScoreParams, Tuning
from prsgazer.ops.runtime import cached, code_version, from_cache, measure, portable, result_key, scratch
from prsgazer.sealed import discard, publish, verify

#: Relatedness lists a panel may carry beside its files (the PGS Catalog packs' KING cut-offs; a
#: panel `prsgazer reference synthesize` makes has none related by construction and an empty one).
_RELATED_GLOBS = ("*.king.cutoff.out.id", "*.king.cutoff.id")

#: Columns of an ancestry table: one row per sample.
ANCESTRY_COLUMNS = ["sample_id", "superpopulation", "probability", "low_confidence"]


def relatedness_list(prefix: Path) -> Path | None:
    """The panel's relatedness list: `<prefix>.king.cutoff.out.id`, else one file of that kind beside it."""
    own = [Path(f"{prefix}{s}") for s in (".king.cutoff.out.id", ".king.cutoff.id")]
    found = [p for p in own if p.exists()] or sorted(p for g in _RELATED_GLOBS for p in prefix.parent.glob(g))
    return found[0] if len(found) == 1 or (found and found[0] in own) else None


def _pca_key(panel: Panel, related: Path | None, settings: PcaSettings) -> str:
    cids = panel.cids()
    payload = {
        "panel": cids.model_dump(),
        "related": hashlib.sha256(related.read_bytes()).hexdigest() if related else None,
        "settings": settings.model_dump(mode="json"),
        "code": source_version("ancestry", "genotypes", "reference", "common"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def compute_pca(panel: Panel, related: Path | None, build: str | None = None) -> AncestryPca:
    """The reference PCA of an open panel (relatives from the list, else KING-robust)."""
    settings = PcaSettings(genome_build=build or panel.build.build or "")
    exclude = read_exclusion_list(related) if related is not None else None
    return reference_pca(panel, settings, exclude=exclude, labels=panel.sample_table)


def panel_pca(prefix: Path, tuning: Tuning, *, build: str | None = None, related: Path | None = None) -> AncestryPca:
    """The panel's reference PCA, computed once and kept under `<cache>/ancestry/` (keyed by the
    panel's CIDs, its relatedness list, the settings and the code that computes it)."""
    return cached_panel_pca(prefix, tuning, build=build, related=related)[0]


def cached_panel_pca(
    prefix: Path, tuning: Tuning, *, build: str | None = None, related: Path | None = None
) -> tuple[AncestryPca, str | None]:
    """`panel_pca` and the CID of its cache entry (sealed with the CID of its bytes: an entry that does
    not match is discarded with a warning and computed again); None without a cache."""
    panel = open_panel(prefix, cache_dir=tuning.cache_dir)
    try:
        related = related or relatedness_list(Path(panel.prefix))
        settings = PcaSettings(genome_build=build or panel.build.build or _need_build(panel))
        path = None
        if tuning.cache_dir is not None:
            path = Path(tuning.cache_dir) / "ancestry" / f"{_pca_key(panel, related, settings)}.pca.parquet"
            entry_cid = verify(path, what="ancestry PCA cache entry")
            if entry_cid is not None:
                try:
                    return AncestryPca.read(path), entry_cid
                except InputError:
                    discard(path)  # a damaged cache entry is rebuilt, never trusted
        pca = compute_pca(panel, related, settings.genome_build)
        written = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = pca.write(path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"))
            written = publish(tmp, path)
        return pca, written
    finally:
        panel.close()


def _need_build(panel: Panel) -> str:
    raise InputError(
        "the panel's genome build is unknown: the PCA needs it (long-range LD regions differ by build)",
        file=str(panel.prefix), field="build",
        hint="give the panel's build, GRCh37 or GRCh38 (shell: --build; a stored panel: its genome_build field)",
    )  # fmt: skip


@dataclass
class AncestryResult:
    """Where each target sample stands: `table` (ANCESTRY_COLUMNS, the posterior per population
    `P_<pop>`, PC1…PCk), how the projection went, and warnings."""

    table: pl.DataFrame
    projection: Projection
    coverage: str
    warnings: list[str] = field(default_factory=list)

    def of(self, sample_id: str) -> dict[str, Any] | None:
        rows = self.table.filter(pl.col("sample_id") == sample_id)
        return rows.row(0, named=True) if rows.height else None


def _with_absent_as_homref(
    source: GenotypeSource, pca: AncestryPca, coverage: str | None
) -> tuple[GenotypeSource, str]:
    """A single person's variant-only VCF: PCA sites it lacks are hom-ref when its coverage says so
    (the absent-site policy of scoring, `engine.genotypes.absent`), with the PCA's own alleles."""
    decided, how = decide_coverage(source, coverage)
    if decided not in (Coverage.WGS, Coverage.GVCF):
        return source, decided.value
    sites = pca.variants.select(
        pl.lit("pca").alias("accession"), pl.col("chrom").alias("chr_name"), pl.col("pos").alias("chr_position"),
        pl.col("alt").alias("effect_allele"), pl.col("ref").alias("other_allele"),
        pl.lit(None, dtype=pl.String).alias("unscorable"),
    )  # fmt: skip
    reference = pca.variants.select("chrom", "pos", "ref", "alt")
    filled, _ = fill_absent_sites(source, sites, decided, how, reference, "the reference PCA's variants")
    return filled, decided.value


def ancestry_of(
    genotypes: str | Path | Sequence[str | Path], pca: AncestryPca, tuning: Tuning,
    params: ScoreParams | None = None, *, coverage: str | None = None, panel_prefix: Path | None = None,
) -> AncestryResult:  # fmt: skip
    """Project every sample of `genotypes` onto the reference PCA and name its most similar population.

    `panel_prefix`: the panel the PCA came from, to refit it when the targets share too few of its
    variants (an array, an exome)."""
    params = params or ScoreParams()
    source = open_genotypes(
        genotypes, cache_dir=tuning.cache_dir, filters=params.filters(), dosage_fields=params.dosage_fields
    )
    panel = open_panel(panel_prefix, cache_dir=tuning.cache_dir) if panel_prefix is not None else None
    try:
        target, used = _with_absent_as_homref(source, pca, coverage)
        proj = project(pca, target, panel=panel)
    finally:
        source.close()
        if panel is not None:
            panel.close()
    sim = fit_similarity(pca.pcs, pca.samples.get_column("superpopulation").to_list())
    ids = proj.pcs.get_column("sample_id").to_list()
    table = assign(sim, proj.matrix(), ids).join(proj.pcs, on="sample_id", how="left", maintain_order="left")
    warnings = list(proj.warnings)
    low = table.filter(pl.col("low_confidence")).height
    if low:
        warnings.append(f"{low} sample(s) resemble no reference population well (low confidence)")
    return AncestryResult(table=table, projection=proj, coverage=used, warnings=warnings)


#: Columns `adjusted_scores` adds to a run's table.
ADJUSTED_COLUMNS = ["ancestry", "ancestry_probability", "percentile", "z", "z_pc_mean", "z_pc_meanvar",
                    "n_reference", "percentile_method", "percentile_reason"]  # fmt: skip


def adjusted_scores(
    genotypes: str | Path | Sequence[str | Path], scorefiles: Sequence[str | Path], run: ScoreRun | PersonScores,
    options: RunOptions, panel_prefix: Path, pca: AncestryPca, ancestry: pl.DataFrame, tuning: Tuning,
) -> pl.DataFrame:  # fmt: skip
    """Every (sample, score) of `run` (a ScoreRun or the PersonScores of one): percentile and z within
    the most similar population, and the PC-adjusted z-scores (pgsc_calc's Z_norm1 and Z_norm2), on the
    same matched variants as the panel."""
    scored = PersonScores.of_run(run)
    panel = open_panel(panel_prefix, cache_dir=tuning.cache_dir)
    try:
        comparison = compare_with_panel(genotypes, scorefiles, scored, options, panel)
        values, refs = comparison.values, comparison.references
    finally:
        panel.close()
    status = scored.summaries
    ok = {p: r.table for p, r in refs.items() if r.table is not None and status[p].passed}  # the panel's sums
    target = pl.DataFrame(
        [(s, p, v) for (s, p), v in values.items() if p in ok],
        schema={"sample_id": pl.String, "pgs_id": pl.String, "sum": pl.Float64}, orient="row",
    )  # fmt: skip
    adjusted = pl.DataFrame()
    if ok:
        reference = pl.concat([t.select("sample_id", pl.lit(p).alias("pgs_id"), "sum") for p, t in ok.items()])
        model = fit_adjustment(pca.pc_frame(), reference)
        anc = ancestry.select("sample_id", "superpopulation", *[f"PC{k + 1}" for k in range(pca.n_pcs)])
        # the reference group each percentile and z is taken in: the PCA's samples of that population
        pca_ids = pca.samples.select("sample_id", pl.col("superpopulation").alias("ancestry"))
        n_ref = (
            reference.join(pca_ids, on="sample_id", how="inner")
            .drop_nulls("sum")
            .group_by("pgs_id", "ancestry")
            .agg(pl.len().cast(pl.Int64).alias("n_reference"))
        )
        adjusted = (
            adjust_scores(model, anc, target)
            .drop("sum")
            .join(n_ref, on=["pgs_id", "ancestry"], how="left", maintain_order="left")
            .with_columns(
                pl.lit("same_variants_ancestry").alias("percentile_method"),
                pl.lit(None, dtype=pl.String).alias("percentile_reason"),
            )
        )
    prob = ancestry.select("sample_id", pl.col("probability").alias("ancestry_probability"))
    grid = scored.table.select("sample_id", "pgs_id")
    out = grid.join(adjusted, on=["sample_id", "pgs_id"], how="left", maintain_order="left") if ok else grid
    out = out.join(prob, on="sample_id", how="left", maintain_order="left")
    for col, dtype in (("ancestry", pl.String), ("percentile", pl.Float64), ("z", pl.Float64),
                       ("z_pc_mean", pl.Float64), ("z_pc_meanvar", pl.Float64), ("n_reference", pl.Int64),
                       ("percentile_method", pl.String), ("percentile_reason", pl.String)):  # fmt: skip
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=dtype).alias(col))
    reasons = {p: f"score failed matching: {s.reason}" for p, s in status.items() if not s.passed}
    reasons.update({p: "no matched variant is in the panel" for p in status if p not in ok and p not in reasons})
    out = out.with_columns(
        pl.when(pl.col("percentile_method").is_null())
        .then(pl.col("pgs_id").replace_strict(reasons, default=None, return_dtype=pl.String))
        .otherwise(pl.col("percentile_reason"))
        .alias("percentile_reason"),
        pl.col("percentile_method").fill_null("n/a"),
        pl.col("ancestry").fill_null(
            pl.col("sample_id").replace_strict(
                dict(ancestry.select("sample_id", "superpopulation").iter_rows()), default=None,
                return_dtype=pl.String,
            )
        ),
    )  # fmt: skip
    return out.select("sample_id", "pgs_id", *ADJUSTED_COLUMNS)


# --------------------------------------------------------------------------------------------------
# stored (the Flyte tasks)


def pca_stored(store: Any, reference_panel: ReferencePanel, *, tuning: Tuning | None = None) -> AncestryModel:
    """The stored reference PCA of a stored panel (computed once; the record names the panel)."""
    from prsgazer.ops.distributions import panel_prefix

    tuning = tuning or Tuning.from_settings()
    key = result_key("reference_pca", inputs={"panel": reference_panel.cid})
    if hit := cached(store, key, AncestryModel):
        return from_cache(hit[0])
    with measure("reference_pca") as m:
        pca, entry = cached_panel_pca(panel_prefix(store, reference_panel), tuning,
                                      build=reference_panel.genome_build or None)  # fmt: skip
    with scratch("reference_pca", tuning.cache_dir) as d:
        path = pca.write(d / f"{reference_panel.panel or 'panel'}.pca.parquet")
        asset = store.upload(
            AncestryModel(
                path=path,
                panel=reference_panel.panel,
                panel_cid=reference_panel.cid,
                genome_build=pca.settings.genome_build,
                n_pcs=pca.n_pcs,
                n_variants=pca.variants.height,
                n_samples=pca.samples.height,
                relatedness=pca.relatedness,
                task_key=key,
                code_version=code_version(),
                metrics={**m.as_dict(), "derived_inputs": {"ancestry_pca_cache": entry} if entry else {}},
            )
        )
    return portable(asset)


def ancestry_stored(
    store: Any, genotypes: Genotypes, model: AncestryModel, reference_panel: ReferencePanel, params: ScoreParams,
    *, coverage: str = "", tuning: Tuning | None = None,
) -> Ancestry:  # fmt: skip
    """Where the stored genotypes' samples stand on the stored PCA (a stored TSV, one row per sample)."""
    from prsgazer.ops.distributions import panel_prefix

    tuning = tuning or Tuning.from_settings()
    coverage = coverage or genotypes.coverage
    key = result_key("project", inputs={"genotypes": genotypes.cid, "model": model.cid, "panel": reference_panel.cid},
                     params={"score": params.as_record(), "coverage": coverage})  # fmt: skip
    if hit := cached(store, key, Ancestry):
        return from_cache(hit[0])
    with measure("project") as m:
        pca = AncestryPca.read(store.fetch(model.cid).path)
        g = store.fetch(genotypes.cid)
        cov = coverage if coverage and coverage != "genotyped" else None
        result = ancestry_of(g.path, pca, tuning, params, coverage=cov,
                             panel_prefix=panel_prefix(store, reference_panel))  # fmt: skip
    with scratch("project", tuning.cache_dir) as d:
        path = d / f"{genotypes.sample_id or 'samples'}.ancestry.tsv"
        with output_path(path, durable=False) as tmp:
            result.table.write_csv(tmp, separator="\t", null_value="NA")
        only = result.table.height == 1
        asset = store.upload(
            Ancestry(
                path=path,
                sample_id=genotypes.sample_id,
                genotypes_cid=genotypes.cid,
                model_cid=model.cid,
                panel=reference_panel.panel,
                panel_cid=reference_panel.cid,
                n_samples=result.table.height,
                superpopulation=result.table["superpopulation"][0] if only else "",
                probability=float(result.table["probability"][0]) if only else None,
                low_confidence=bool(result.table["low_confidence"][0]) if only else None,
                n_shared_variants=result.projection.n_shared,
                projection=result.projection.method,
                warnings=result.warnings,
                task_key=key,
                params=params.as_record(),
                code_version=code_version(),
                metrics=m.as_dict(),
            )
        )
    return portable(asset)


def adjusted_stored(
    store: Any, genotypes: Genotypes, scoring_files: list[ScoringFile], results: list[PrsResult], ancestry: Ancestry,
    model: AncestryModel, reference_panel: ReferencePanel, params: ScoreParams, *, coverage: str = "",
    tuning: Tuning | None = None,
) -> AncestryScores:  # fmt: skip
    """Ancestry-adjusted scores of the stored results (a stored TSV, one row per sample and score)."""
    from prsgazer.ops.distributions import panel_prefix
    from prsgazer.ops.score import person_options, person_scores_stored

    tuning = tuning or Tuning.from_settings()
    options, key_params = person_options(genotypes, params, tuning, coverage)
    inputs = {"genotypes": genotypes.cid, "scoring_files": sorted({sf.cid for sf in scoring_files}),
              "results": sorted(r.cid for r in results), "ancestry": ancestry.cid, "model": model.cid,
              "panel": reference_panel.cid}  # fmt: skip
    key = result_key("adjust", inputs=inputs, params=key_params)
    if hit := cached(store, key, AncestryScores):
        return from_cache(hit[0])
    with measure("adjust") as m:
        # the person as `score` stored them: scored again only on the rows the panel shares, when it lacks some
        run = person_scores_stored(store, genotypes, results, params, build=options.build)
        g = store.fetch(genotypes.cid)
        paths = [store.fetch(sf.cid).path for sf in {sf.cid: sf for sf in scoring_files}.values()]
        prefix = panel_prefix(store, reference_panel)
        options = options.model_copy(update={"reference": Path(f"{prefix}.pgen")})
        pca = AncestryPca.read(store.fetch(model.cid).path)
        anc = pl.read_csv(store.fetch(ancestry.cid).path, separator="\t", null_values="NA",
                          schema_overrides={"sample_id": pl.String})  # fmt: skip
        table = adjusted_scores(g.path, paths, run, options, prefix, pca, anc, tuning)
    with scratch("adjust", tuning.cache_dir) as d:
        path = d / f"{genotypes.sample_id or 'samples'}.ancestry_scores.tsv"
        with output_path(path, durable=False) as tmp:
            table.write_csv(tmp, separator="\t", null_value="NA")
        asset = store.upload(
            AncestryScores(
                path=path,
                sample_id=genotypes.sample_id,
                genotypes_cid=genotypes.cid,
                ancestry_cid=ancestry.cid,
                model_cid=model.cid,
                panel_cid=reference_panel.cid,
                prs_result_cids=[r.cid for r in results],
                task_key=key,
                params=params.as_record(),
                code_version=code_version(),
                metrics=m.as_dict(),
            )
        )
    return portable(asset)


__all__ = [
    "ADJUSTED_COLUMNS",
    "ANCESTRY_COLUMNS",
    "AncestryResult",
    "adjusted_scores",
    "adjusted_stored",
    "ancestry_of",
    "ancestry_stored",
    "cached_panel_pca",
    "panel_pca",
    "pca_stored",
    "relatedness_list",
]


def add_ancestry(
    store: Any, genotypes: str | Path | Sequence[str | Path], scorefiles: Sequence[str | Path], run: ScoreRun,
    options: RunOptions, tuning: Tuning, panel: str, *, coverage: str | None = None,
) -> tuple[pl.DataFrame, AncestryResult]:  # fmt: skip
    """The run's table with the ancestry-adjusted columns (`ADJUSTED_COLUMNS`) against `panel`."""
    from prsgazer.ops.panels import panel_prefix_for

    prefix = panel_prefix_for(store, panel, build=run.build.build)
    pca = panel_pca(prefix, tuning, build=run.build.build)
    result = ancestry_of(genotypes, pca, tuning, coverage=coverage, panel_prefix=prefix)
    adjusted = adjusted_scores(genotypes, scorefiles, run, options, prefix, pca, result.table, tuning)
    table = run.table.join(adjusted, on=["sample_id", "pgs_id"], how="left", maintain_order="left")
    return table, result
