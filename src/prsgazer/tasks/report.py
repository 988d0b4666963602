"""Tasks `percentile` and `report`: a person's PrsResults placed among reference people, then the
PrsReport (JSON) with scores, percentiles per superpopulation, quality and a plain-English reading.
See docs/workflows.md.

`percentile` compares like with like: with a panel, the panel is re-scored on exactly the variants
matched for the person (engine.percentile.run_percentiles); without one, stored precomputed
Distributions are the fallback and say so; with neither, every percentile is N/A with the reason.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from prsgazer.assets import Distribution, Genotypes, Percentiles, PrsReport, PrsResult, ReferencePanel, ScoringFile
from prsgazer.fileio import output_path, write_text
from prsgazer.tasks.env import compute, light
from prsgazer.tasks.runtime import cached, from_cache, input_errors_are_final, measure, portable, run_dir, task_key
from prsgazer.tasks.score import scoring_options

ALL = "ALL"


@dataclass
class Failure:
    """One score that did not make it, with the step where it failed and why."""

    pgs_id: str
    step: str
    error: str


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
    with input_errors_are_final():
        from prsgazer.config import get_settings
        from prsgazer.engine.reference.distributions import read_distribution
        from prsgazer.engine.reference.percentile import distribution_percentiles, panel_percentiles
        from prsgazer.engine.scoring.run import run_scoring
        from prsgazer.errors import InputError
        from prsgazer.storage import default_store

        if not scoring_files:
            raise InputError("no scoring files given", field="scoring_files")
        store = default_store()
        settings = get_settings()
        dists = list(distributions or [])
        options, params = scoring_options(genotypes, coverage, min_overlap, keep_ambiguous, keep_multiallelic)
        inputs = {
            "genotypes": genotypes.cid,
            "scoring_files": sorted({sf.cid for sf in scoring_files}),
            "results": sorted(r.cid for r in results),
            "panel": reference_panel.cid if reference_panel is not None else "",
            "distributions": sorted(d.cid for d in dists) if reference_panel is None else [],
        }
        key = task_key("percentile", inputs=inputs, params=params)
        hit = cached(store, key, "percentiles")
        if hit:
            return from_cache(hit[0])  # type: ignore[return-value]

        with measure("percentile") as m:
            g = store.fetch(genotypes.cid)
            paths = [store.fetch(sf.cid).path for sf in {sf.cid: sf for sf in scoring_files}.values()]
            panel_prefix = None
            if reference_panel is not None:
                got = store.fetch(reference_panel.cid)
                panel_prefix = Path(got.path).with_suffix("")  # type: ignore[arg-type]
                options.reference = got.path  # REF at absent sites, exactly as `score` used it
            dist_data = {}
            for d in dists:
                data = read_distribution(store.fetch(d.cid).path)  # type: ignore[arg-type]
                dist_data[d.pgs_id or str(data.meta.get("pgs_id"))] = data

            def work() -> tuple[pl.DataFrame, list[str], str]:
                run = run_scoring(g.path, paths, options)
                _check_same_sums(run.table, results, store)
                if panel_prefix is not None:
                    table, labels, _ = panel_percentiles(
                        g.path, paths, run, options, panel_prefix, every_group=True,
                        cache_dir=settings.cache_dir, field="reference_panel",
                    )  # fmt: skip
                    return table, labels, "same_variants"
                if dist_data:
                    groups = sorted({s for d in dist_data.values() for s in d.samples["superpopulation"].drop_nulls()})
                    labels = [*groups, ALL]
                    return distribution_percentiles(run, dist_data, labels), labels, "precomputed"
                labels = [ALL]
                table = distribution_percentiles(run, {}, labels).with_columns(
                    pl.lit("no reference panel or precomputed distribution was given").alias("percentile_reason")
                )
                return table, labels, "n/a"

            table, labels, method = await asyncio.to_thread(work)
        path = run_dir("percentile") / f"{genotypes.sample_id or 'samples'}.percentiles.tsv"
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
                metrics=m.as_dict(),
            )
        )
        return portable(asset)  # type: ignore[return-value]


def _check_same_sums(table: pl.DataFrame, results: list[PrsResult], store: Any) -> None:
    """The re-run must reproduce what `score` stored; anything else means inputs or options differ."""
    from prsgazer.errors import PrsgazerError

    ours = {(s, p): v for s, p, v in table.select("sample_id", "pgs_id", "sum").iter_rows()}
    for r in results:
        if r.status != "ok":
            continue
        stored = pl.read_csv(store.fetch(r.cid).path, separator="\t", null_values="NA")
        for s, v in stored.select("sample_id", "sum").iter_rows():
            w = ours.get((str(s), r.pgs_id))
            if w is None or v is None or abs(w - v) > 1e-9 * max(1.0, abs(v)):
                raise PrsgazerError(
                    f"percentile re-run of {r.pgs_id} for {s} gives {w}, but the stored result {r.cid} has {v}: "
                    "the results were not computed from these genotypes/scoring files with these options"
                )


@light.task(retries=1)
async def report(
    genotypes: Genotypes,
    results: list[PrsResult],
    percentiles: Percentiles | None = None,
    sample_id: str = "",
    superpopulation: str = "",
    failures: list[Failure] | None = None,
    n_total: int = -1,
) -> PrsReport:
    """Assemble the PrsReport of one person (JSON, see engine.report.Report).

    Args:
        genotypes: the person's genotypes (their VCF's superpopulation is the default comparison group).
        results: the person's PrsResults (ok and failed).
        percentiles: the `percentile` task's output (absent: every percentile N/A).
        sample_id: the person (needed when the genotypes hold several samples).
        superpopulation: compare with this group (AFR, AMR, EAS, EUR, SAS); empty: the VCF's, else ALL.
        failures: scores that failed before scoring (fetch), listed in the report.
        n_total: scores requested (default: results + failures).
    """
    with input_errors_are_final():
        from prsgazer.catalog.evaluations import release_key, stored_evaluations
        from prsgazer.engine.interpret.report import build_report
        from prsgazer.errors import InputError
        from prsgazer.storage import default_store

        store = default_store()
        fails = [f.__dict__ if isinstance(f, Failure) else dict(f) for f in failures or []]
        key = task_key(
            "report",
            inputs={
                "genotypes": genotypes.cid,
                "results": sorted(r.cid for r in results),
                "percentiles": percentiles.cid if percentiles is not None else "",
                "catalog": release_key(store),
            },
            params={"sample_id": sample_id, "superpopulation": superpopulation, "failures": fails, "n": n_total},
        )
        hit = cached(store, key, "prs_report")
        if hit:
            return from_cache(hit[0])  # type: ignore[return-value]
        with measure("report") as m:
            group, source = person_superpopulation(store, genotypes, superpopulation.upper())
            pct_rows: list[dict[str, Any]] = []
            if percentiles is not None:
                pct_rows = pl.read_csv(
                    store.fetch(percentiles.cid).path, separator="\t", null_values="NA",
                    schema_overrides={"sample_id": pl.String, "percentile_reason": pl.String},
                ).to_dicts()  # fmt: skip
            rows, person = _result_rows(store, results, sample_id)
            if group and percentiles is not None and group not in percentiles.superpopulations:
                have = ", ".join(percentiles.superpopulations)
                raise InputError(f"superpopulation {group!r} is not in the reference (has {have})",
                                 field="superpopulation")  # fmt: skip
            evals = stored_evaluations(store, [r["pgs_id"] for r in rows], group or None)
            for r in rows:
                if not r["trait"] and r["pgs_id"] in evals:
                    r["trait"] = evals[r["pgs_id"]].trait or ""
            quality = {p: (e.quality, e.evaluation_ancestry) for p, e in evals.items()}
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
            )
            path = run_dir("report") / f"{person or 'sample'}.prs_report.json"
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
                n_ok=doc.n_ok,
                n_failed=doc.n_failed,
                task_key=key,
                metrics=m.as_dict(),
            )
        )
        return portable(asset)  # type: ignore[return-value]


def person_superpopulation(store: Any, asset: Any, given: str = "") -> tuple[str, str]:
    """A person's ancestry group and where it came from: ("EUR", "given"), the asset's own field
    ("asset"), the VCF its genotypes came from ("vcf"), else ("", "none") — compare with ALL."""
    from prsgazer.errors import PrsgazerError

    if given.strip():
        return given.strip(), "given"
    if getattr(asset, "superpopulation", ""):
        return asset.superpopulation, "asset"
    try:
        if not isinstance(asset, Genotypes) and getattr(asset, "genotypes_cid", ""):
            asset = store.get(asset.genotypes_cid)
        vcf = store.get(asset.vcf_cid) if isinstance(asset, Genotypes) and asset.vcf_cid else None
    except PrsgazerError:  # lineage may be gone: compare with ALL
        return "", "none"
    if getattr(vcf, "superpopulation", ""):
        return vcf.superpopulation, "vcf"  # type: ignore[union-attr]
    return "", "none"


def _result_rows(store: Any, results: list[PrsResult], sample_id: str) -> tuple[list[dict[str, Any]], str]:
    from prsgazer.errors import InputError

    rows: list[dict[str, Any]] = []
    person = sample_id
    for r in results:
        sf = store.get(r.scoring_file_cid) if r.scoring_file_cid else None
        row: dict[str, Any] = {
            "pgs_id": r.pgs_id,
            "pgs_name": getattr(sf, "pgs_name", "") or "",
            "trait": getattr(sf, "trait", "") or "",
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
