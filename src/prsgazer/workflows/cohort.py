"""Workflow `cohort_scores`: score a stored cohort (or person) against many scores. See docs/workflows.md.

Run it locally with `flyte run --local src/prsgazer/workflows/cohort.py cohort_scores --genotypes_cid …
--pgs_ids '["PGS000001"]'` or `prsgazer run cohort_scores --genotypes-cid … --pgs-ids PGS000001`.
"""

from __future__ import annotations

from prsgazer.tasks import score
from prsgazer.tasks.env import orchestrator
from prsgazer.workflows.common import error_text, fetch_all, genotypes_for
from prsgazer.workflows.models import CohortScores, Failure


@orchestrator.task
async def cohort_scores(
    pgs_ids: list[str],
    genotypes_cid: str = "",
    vcf_cid: str = "",
    build: str = "",
    min_overlap: float = -1.0,
) -> CohortScores:
    """Scores of a cohort for every PGS id: scoring files fetched in parallel, all scored in one pass.

    Args:
        pgs_ids: PGS Catalog ids or ids of stored scoring files.
        genotypes_cid: CID of stored genotypes (a normalized table or a plink2 cohort).
        vcf_cid: CID of a stored VCF (normalized first), instead of genotypes_cid.
        build: GRCh37 or GRCh38 for catalog downloads; empty: the genotypes' build.
        min_overlap: minimum matched fraction per score; negative: the default setting.
    """
    from prsgazer.storage import default_store

    store = default_store()
    genotypes = await genotypes_for(store, genotypes_cid=genotypes_cid, vcf_cid=vcf_cid)
    files, failures = await fetch_all(pgs_ids, build or genotypes.genome_build)
    results = []
    if files:
        try:
            results = await score(genotypes, files, min_overlap=min_overlap)
        except Exception as exc:  # noqa: BLE001 - reported per score, the run still returns
            failures += [Failure(pgs_id=f.pgs_id, step="score", error=error_text(exc)) for f in files]
    failures += [Failure(pgs_id=r.pgs_id, step="match", error=r.reason) for r in results if r.status != "ok"]
    ok = [r for r in results if r.status == "ok"]
    return CohortScores(
        genotypes_cid=genotypes.cid,
        results=results,
        failures=failures,
        n_total=len(dict.fromkeys(pgs_ids)),
        n_ok=len(ok),
        n_failed=len(dict.fromkeys(f.pgs_id for f in failures)),
        n_cached=sum(bool(r.metrics.get("cached")) for r in results),
    )
