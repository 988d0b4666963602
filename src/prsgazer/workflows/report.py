"""Workflow `prs_report`: a person's genotypes → scores → percentiles per superpopulation → PrsReport.
See docs/workflows.md.

    flyte run --local src/prsgazer/workflows/report.py prs_report --sample_id DEMO_PERSON \
        --pgs_ids '["DEMO001"]' --panel demo_panel
    prsgazer run prs_report --sample-id DEMO_PERSON --pgs-ids DEMO001 --panel demo_panel
"""

from __future__ import annotations

import asyncio
from typing import Any

from prsgazer.assets import (
    Ancestry,
    AncestryScores,
    Distribution,
    Genotypes,
    PrsReport,
    PrsResult,
    ReferencePanel,
    ScoringFile,
)
from prsgazer.ops.panels import stored_panel
from prsgazer.tasks import adjust, percentile, project, reference_pca, report, score
from prsgazer.tasks.env import orchestrator
from prsgazer.workflows.common import call, error_text, fetch_all, genotypes_for, handed, reused, scores_for_trait
from prsgazer.workflows.models import Failure


@orchestrator.task
async def prs_report(
    sample_id: str = "",
    vcf_cid: str = "",
    genotypes_cid: str = "",
    pgs_ids: list[str] | None = None,
    trait: str = "",
    panel: str = "",
    superpopulation: str = "",
    build: str = "",
    min_overlap: float = -1.0,
    ancestry: bool = True,
) -> PrsReport:
    """A person's PRS report: every score with its percentile among reference people of each
    superpopulation (on the same matched variants), quality and a plain-English reading.

    Args:
        sample_id: the person (their stored VCF or genotypes are found by sample_id).
        vcf_cid: CID of the person's stored VCF, instead of sample_id.
        genotypes_cid: CID of stored genotypes, instead of a VCF.
        pgs_ids: PGS Catalog ids or ids of stored scoring files.
        trait: instead of pgs_ids: scores for this trait (stored files, else the stored catalog metadata).
        panel: reference panel name (or NAME:BUILD, or its CID); empty: the only stored panel of the build.
        superpopulation: group to compare with (AFR, AMR, EAS, EUR, SAS); empty: the person's genetic
            ancestry inferred on the panel's PCA, else what the VCF says, else ALL.
        build: GRCh37 or GRCh38 for catalog downloads; empty: the genotypes' build.
        min_overlap: minimum matched fraction per score; negative: the default (0.75).
        ancestry: with a panel, infer the person's genetic ancestry on its PCA and add ancestry-adjusted
            scores (percentile and z within the most similar population, z_pc_mean, z_pc_meanvar).
    """
    from prsgazer.ops.runtime import from_cache
    from prsgazer.storage import default_store

    store = await asyncio.to_thread(default_store)
    genotypes = await genotypes_for(store, genotypes_cid=genotypes_cid, vcf_cid=vcf_cid, sample_id=sample_id)
    build = build or genotypes.genome_build
    ids = list(dict.fromkeys(pgs_ids or [])) or await asyncio.to_thread(scores_for_trait, store, trait, build)
    reference_panel = await asyncio.to_thread(stored_panel, store, panel, build)
    if reference_panel is not None:
        reference_panel = handed(reference_panel)
    if superpopulation and reference_panel is not None and reference_panel.superpopulations:
        if superpopulation.upper() not in reference_panel.superpopulations:
            from prsgazer.errors import InputError

            raise InputError(
                f"superpopulation {superpopulation!r} is not in panel {reference_panel.panel!r} "
                f"(has {', '.join(reference_panel.superpopulations)})",
                field="superpopulation",
            )
    files, failures = await fetch_all(store, ids, build)
    results = []
    pct = None
    anc = adj = None
    if files:
        try:
            results = [handed(r) for r in await call(store, score, genotypes, files, reference_panel=reference_panel,
                                                      min_overlap=min_overlap)]  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported per score in the report
            failures += [Failure(pgs_id=f.pgs_id, step="score", error=error_text(exc)) for f in files]
    if results:
        distributions: list[Distribution] = []
        if reference_panel is None:  # fallback: precomputed distributions of the same scoring files
            distributions = await asyncio.to_thread(_precomputed, store, results, build)
        placing = (
            _ancestry(store, genotypes, files, results, reference_panel, min_overlap)
            if reference_panel is not None and ancestry
            else None
        )
        comparing = call(
            store, percentile, genotypes, files, results, reference_panel=reference_panel,
            distributions=distributions, min_overlap=min_overlap,
        )  # fmt: skip
        if placing is not None:
            pct, (anc, adj) = await asyncio.gather(comparing, placing)
        else:
            pct = await comparing
    out = await call(
        store,
        report,
        genotypes,
        results,
        handed(pct) if pct is not None else None,
        sample_id=sample_id,
        superpopulation=superpopulation,
        failures=failures,
        n_total=len(ids),
        ancestry=anc,
        adjusted=adj,
    )
    return from_cache(out) if reused(out) else out


def _precomputed(store: Any, results: list[PrsResult], build: str) -> list[Distribution]:
    """Stored distributions of the results' scoring files in the build (the newest of each)."""
    distributions: list[Distribution] = []
    for r in results:
        found = store.query(asset="distribution", scoring_file_cid=r.scoring_file_cid, pgs_id=r.pgs_id)
        usable = [d for d in found if isinstance(d, Distribution) and d.genome_build in ("", build)]
        distributions += [handed(d) for d in usable[-1:]]
    return distributions


async def _ancestry(
    store: Any,
    genotypes: Genotypes,
    files: list[ScoringFile],
    results: list[PrsResult],
    reference_panel: ReferencePanel,
    min_overlap: float,
) -> tuple[Ancestry, AncestryScores]:
    """The person's place on the panel's PCA and their ancestry-adjusted scores (as handed on)."""
    model = handed(await call(store, reference_pca, reference_panel))
    anc = handed(await call(store, project, genotypes, model, reference_panel))
    adj = await call(store, adjust, genotypes, files, results, anc, model, reference_panel, min_overlap=min_overlap)
    return anc, handed(adj)
