"""A person's results placed among reference people (`percentiles_stored`, the `percentile` task),
then their report (`report_stored`, the `report` task: JSON with scores, percentiles per
superpopulation, quality and a plain-English reading). See docs/workflows.md ("percentile", "report").

Percentiles compare like with like: with a panel, the panel is re-scored on exactly the variants
matched for the person (`engine.reference.panel_percentiles`); without one, stored precomputed
Distributions are the fallback and say so; with neither, every percentile is N/A with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

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
from prsgazer.engine.reference import ALL, distribution_percentiles, panel_percentiles, read_distribution
from prsgazer.errors import InputError, PrsgazerError
from prsgazer.fileio import output_path, write_text
from prsgazer.ops.params import ScoreParams, Tuning
from prsgazer.ops.runtime import (
    CancelCheck,
    cached,
    code_version,
    from_cache,
    measure,
    portable,
    result_key,
    scratch,
    stop_if_cancelled,
)
from prsgazer.ops.score import person_options, person_scores_stored


@dataclass
class Failure:
    """One score that did not make it, with the step where it failed and why."""

    pgs_id: str
    step: str
    error: str


def percentiles_stored(
    store: Any,
    genotypes: Genotypes,
    scoring_files: list[ScoringFile],
    results: list[PrsResult],
    params: ScoreParams,
    *,
    reference_panel: ReferencePanel | None = None,
    distributions: list[Distribution] | None = None,
    coverage: str = "",
    tuning: Tuning | None = None,
    cancelled: CancelCheck | None = None,
) -> Percentiles:
    """Percentile and z of each scored sample per reference superpopulation and ALL (a stored TSV)."""
    if not scoring_files:
        raise InputError("no scoring files given", field="scoring_files")
    tuning = tuning or Tuning.from_settings()
    dists = list(distributions or [])
    options, key_params = person_options(genotypes, params, tuning, coverage)
    inputs = {
        "genotypes": genotypes.cid,
        "scoring_files": sorted({sf.cid for sf in scoring_files}),
        "results": sorted(r.cid for r in results),
        "panel": reference_panel.cid if reference_panel is not None else "",
        "distributions": sorted(d.cid for d in dists) if reference_panel is None else [],
    }
    key = result_key("percentile", inputs=inputs, params=key_params)
    hit = cached(store, key, Percentiles)
    if hit:
        return from_cache(hit[0])
    with measure("percentile") as m:
        # the person as `score` stored them: scored again only on the rows a panel shares, when it lacks some
        run = person_scores_stored(store, genotypes, results, params, build=options.build)
        g = store.fetch(genotypes.cid)
        paths = [store.fetch(sf.cid).path for sf in {sf.cid: sf for sf in scoring_files}.values()]
        panel_prefix = None
        if reference_panel is not None:
            got = store.fetch(reference_panel.cid)
            panel_prefix = Path(got.path).with_suffix("")
            options = options.model_copy(update={"reference": got.path})  # REF at absent sites, as `score` used it
        if panel_prefix is not None:
            table, labels, _ = panel_percentiles(
                g.path, paths, run, options, panel_prefix, every_group=True, cache_dir=tuning.cache_dir,
                field="reference_panel",
            )  # fmt: skip
            method = "same_variants"
        elif dists:
            dist_data = {}
            for d in dists:
                data = read_distribution(store.fetch(d.cid).path)
                dist_data[d.pgs_id or str(data.meta.get("pgs_id"))] = data
            groups = sorted({s for d in dist_data.values() for s in d.samples["superpopulation"].drop_nulls()})
            labels = [*groups, ALL]
            table, method = distribution_percentiles(run, dist_data, labels), "precomputed"
        else:
            labels, method = [ALL], "n/a"
            table = distribution_percentiles(run, {}, labels).with_columns(
                pl.lit("no reference panel or precomputed distribution was given").alias("percentile_reason")
            )
    stop_if_cancelled(cancelled)
    with scratch("percentile", tuning.cache_dir) as work:
        path = work / f"{genotypes.sample_id or 'samples'}.percentiles.tsv"
        with output_path(path, durable=False) as tmp:
            table.write_csv(tmp, separator="\t", null_value="NA")
        asset = store.upload(
            Percentiles(
                path=path,
                sample_id=genotypes.sample_id,
                genotypes_cid=genotypes.cid,
                panel=reference_panel.panel if reference_panel is not None else "",
                panel_cid=reference_panel.cid if reference_panel is not None else "",
                superpopulations=labels,
                prs_result_cids=[r.cid for r in results],
                distribution_cids=[d.cid for d in dists] if reference_panel is None else [],
                method=method,
                task_key=key,
                params=params.as_record(),
                code_version=code_version(),
                metrics=m.as_dict(),
            )
        )
    return portable(asset)


def report_stored(
    store: Any,
    genotypes: Genotypes,
    results: list[PrsResult],
    percentiles: Percentiles | None = None,
    *,
    sample_id: str = "",
    superpopulation: str = "",
    failures: list[Failure] | None = None,
    n_total: int = -1,
    ancestry: Ancestry | None = None,
    adjusted: AncestryScores | None = None,
) -> PrsReport:
    """Assemble and store the PrsReport of one person (JSON, see engine.interpret.Report).

    The comparison group is the one given, else the person's inferred ancestry (`ancestry`, from the
    panel's PCA), else what the genotypes' asset or VCF says, else ALL."""
    from prsgazer.catalog.evaluations import release_key, stored_efo_traits, stored_evaluations
    from prsgazer.engine.interpret import build_report

    fails = [f.__dict__ if isinstance(f, Failure) else dict(f) for f in failures or []]
    key = result_key(
        "report",
        inputs={
            "genotypes": genotypes.cid,
            "results": sorted(r.cid for r in results),
            "percentiles": percentiles.cid if percentiles is not None else "",
            "catalog": release_key(store),
            "ancestry": ancestry.cid if ancestry is not None else "",
            "adjusted": adjusted.cid if adjusted is not None else "",
        },
        params={"sample_id": sample_id, "superpopulation": superpopulation, "failures": fails, "n": n_total},
    )
    hit = cached(store, key, PrsReport)
    if hit:
        return from_cache(hit[0])
    with measure("report") as m:
        group, source = person_superpopulation(store, genotypes, superpopulation.upper(), ancestry)
        pct_rows: list[dict[str, Any]] = []
        if percentiles is not None:
            pct_rows = pl.read_csv(
                store.fetch(percentiles.cid).path, separator="\t", null_values="NA",
                schema_overrides={"sample_id": pl.String, "percentile_reason": pl.String},
            ).to_dicts()  # fmt: skip
        rows, person = _result_rows(store, results, sample_id)
        anc_entry, adj_rows = _ancestry_rows(store, ancestry, adjusted, person)
        if group and percentiles is not None and group not in percentiles.superpopulations:
            have = ", ".join(percentiles.superpopulations)
            raise InputError(f"superpopulation {group!r} is not in the reference (has {have})",
                             field="superpopulation")  # fmt: skip
        evals = stored_evaluations(store, [r["pgs_id"] for r in rows], group or None)
        for r in rows:
            if r["pgs_id"] in evals:
                r["trait"] = r["trait"] or evals[r["pgs_id"]].trait or ""
                r["trait_efo"] = r["trait_efo"] or evals[r["pgs_id"]].trait_efo
        quality = {p: (e.quality, e.evaluation_ancestry) for p, e in evals.items()}
        efo_traits = stored_efo_traits(store, [i for r in rows for i in r["trait_efo"]])
        doc = build_report(
            sample_id=person,
            results=rows,
            percentiles=[r for r in pct_rows if str(r["sample_id"]) == person],
            superpopulation=group,
            superpopulation_source=source,
            superpopulations=percentiles.superpopulations if percentiles is not None else [],
            quality=quality,
            failures=fails,
            n_total=n_total if n_total >= 0 else None,
            genotypes_cid=genotypes.cid,
            genome_build=genotypes.genome_build or (results[0].genome_build if results else ""),
            coverage=results[0].coverage if results else genotypes.coverage,
            panel=percentiles.panel if percentiles is not None else "",
            panel_cid=percentiles.panel_cid if percentiles is not None else "",
            ancestry=anc_entry,
            adjusted=adj_rows,
            efo_traits=efo_traits,
        )
    with scratch("report") as d:
        path = d / f"{person or 'sample'}.prs_report.json"
        write_text(path, json.dumps(doc.model_dump(mode="json"), indent=1, ensure_ascii=False), durable=False)
        asset = store.upload(
            PrsReport(
                path=path,
                sample_id=person,
                genotypes_cid=genotypes.cid,
                pgs_ids=[r["pgs_id"] for r in rows],
                panel=doc.panel,
                panel_cid=doc.panel_cid,
                superpopulation=group,
                prs_result_cids=[r.cid for r in results],
                distribution_cids=percentiles.distribution_cids if percentiles is not None else [],
                percentiles_cid=percentiles.cid if percentiles is not None else "",
                ancestry_cid=ancestry.cid if ancestry is not None else "",
                ancestry_scores_cid=adjusted.cid if adjusted is not None else "",
                n_ok=doc.n_ok,
                n_failed=doc.n_failed,
                task_key=key,
                code_version=code_version(),
                metrics=m.as_dict(),
            )
        )
    return portable(asset)


def person_superpopulation(
    store: Any, asset: Any, given: str = "", ancestry: Ancestry | None = None
) -> tuple[str, str]:
    """A person's ancestry group and where it came from: ("EUR", "given"), inferred on the panel's PCA
    ("ancestry"), the asset's own field ("asset"), the VCF its genotypes came from ("vcf"), else
    ("", "none") — compare with ALL."""
    if given.strip():
        return given.strip(), "given"
    if ancestry is not None and ancestry.superpopulation:
        return ancestry.superpopulation, "ancestry"
    if getattr(asset, "superpopulation", ""):
        return asset.superpopulation, "asset"
    try:
        made_from = getattr(asset, "genotypes_cid", "")
        if not isinstance(asset, Genotypes) and made_from:
            asset = store.get(made_from)
        vcf = store.get(asset.vcf_cid) if isinstance(asset, Genotypes) and asset.vcf_cid else None
    except PrsgazerError:  # lineage may be gone: compare with ALL
        return "", "none"
    vcf_group = getattr(vcf, "superpopulation", "")  # (None when there is no VCF: no such field)
    if vcf_group:
        return vcf_group, "vcf"
    return "", "none"


def _ancestry_rows(
    store: Any, ancestry: Ancestry | None, adjusted: AncestryScores | None, person: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The person's inferred ancestry (report fields) and adjusted-score rows, from the stored tables."""
    entry = None
    if ancestry is not None:
        table = pl.read_csv(store.fetch(ancestry.cid).path, separator="\t", null_values="NA",
                            schema_overrides={"sample_id": pl.String})  # fmt: skip
        mine = table.filter(pl.col("sample_id") == person)
        if mine.height:
            r = mine.row(0, named=True)
            entry = {"superpopulation": r["superpopulation"], "probability": r["probability"],
                     "low_confidence": bool(r["low_confidence"]), "n_shared_variants": ancestry.n_shared_variants,
                     "projection": ancestry.projection, "warnings": ancestry.warnings,
                     "ancestry_cid": ancestry.cid}  # fmt: skip
    rows: list[dict[str, Any]] = []
    if adjusted is not None:
        table = pl.read_csv(store.fetch(adjusted.cid).path, separator="\t", null_values="NA",
                            schema_overrides={"sample_id": pl.String, "percentile_reason": pl.String})  # fmt: skip
        rows = table.filter(pl.col("sample_id") == person).to_dicts()
    return entry, rows


def _result_rows(store: Any, results: list[PrsResult], sample_id: str) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    person = sample_id
    for r in results:
        sf = store.get(r.scoring_file_cid) if r.scoring_file_cid else None
        row: dict[str, Any] = {
            "pgs_id": r.pgs_id,
            "pgs_name": getattr(sf, "pgs_name", "") or "",
            "trait": getattr(sf, "trait", "") or "",
            "trait_efo": list(getattr(sf, "trait_efo", None) or []),
            "status": r.status or "failed",
            "reason": r.reason,
            "n_variants": r.n_variants,
            "n_matched": r.n_matched,
            "overlap": r.overlap,
            "absent_means": r.absent_means,
            "prs_result_cid": r.cid,
            "scoring_file_cid": r.scoring_file_cid,
        }
        table = pl.read_csv(store.fetch(r.cid).path, separator="\t", null_values="NA",
                            schema_overrides={"sample_id": pl.String})  # fmt: skip
        if not person:
            ids = table.get_column("sample_id").unique().to_list()
            if len(ids) != 1:
                raise InputError(
                    f"the genotypes hold {len(ids)} samples; a report is for one person", field="sample_id",
                    hint="name the person with sample_id",
                )  # fmt: skip
            person = ids[0]
        mine = table.filter(pl.col("sample_id") == person)
        if mine.height == 0:
            raise InputError(f"sample {person!r} is not in the result of {r.pgs_id}", field="sample_id")
        for col in ("sum", "avg"):
            row[col] = mine[col][0] if col in mine.columns else None
        rows.append(row)
    return rows, person
