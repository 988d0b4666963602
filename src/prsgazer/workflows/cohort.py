"""Workflow `cohort_scores`: score a stored cohort (or person) against many scores. See docs/workflows.md.

Run it locally with `flyte run --local src/prsgazer/workflows/cohort.py cohort_scores --genotypes_cid …
--pgs_ids '["PGS000001"]'` or `prsgazer run cohort_scores --genotypes-cid … --pgs-ids PGS000001`.

A cohort held in several files of the same samples (one per chromosome, say: `genotypes_cids`) is
scored file by file in parallel tasks, each with min_overlap 0, then `combine_scores` adds the partial
scores exactly (SUM, DENOM and the counts add, AVG is computed on the totals, and the overlap
threshold applies to the whole score) — the same numbers as scoring the files as one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prsgazer.assets import Genotypes, PrsResult, ScoringFile
from prsgazer.errors import InputError
from prsgazer.tasks import combine_scores, score
from prsgazer.tasks.env import orchestrator
from prsgazer.workflows.common import (
    call,
    error_text,
    fetch_all,
    gather_settled,
    genotypes_for,
    handed,
    is_input_error,
    reused,
)
from prsgazer.workflows.models import CohortScores, Failure


@orchestrator.task
async def cohort_scores(
    pgs_ids: list[str],
    genotypes_cid: str = "",
    vcf_cid: str = "",
    build: str = "",
    min_overlap: float = -1.0,
    genotypes_cids: list[str] | None = None,
) -> CohortScores:
    """Scores of a cohort for every PGS id: scoring files fetched in parallel, all scored in one pass
    per genotype file.

    Args:
        pgs_ids: PGS Catalog ids or ids of stored scoring files.
        genotypes_cid: CID of stored genotypes (a normalized table or a plink2 cohort).
        vcf_cid: CID of a stored VCF (normalized first), instead of genotypes_cid.
        build: GRCh37 or GRCh38 for catalog downloads; empty: the genotypes' build.
        min_overlap: minimum matched fraction per score; negative: the default setting.
        genotypes_cids: instead, several files of the same samples (stored genotypes or VCFs, e.g. one
            per chromosome; each variant in one file): scored in parallel, one task per file, and
            combined into one result per score.
    """
    from prsgazer.storage import default_store

    store = await asyncio.to_thread(default_store)
    cids = list(dict.fromkeys(genotypes_cids or []))
    if cids and (genotypes_cid or vcf_cid):
        raise InputError("name the genotypes once: genotypes_cids, or genotypes_cid / vcf_cid", field="genotypes_cids")
    if len(cids) > 1:
        parts = list(await asyncio.gather(*(genotypes_for(store, genotypes_cid=c, field="genotypes_cids")
                                            for c in cids)))  # fmt: skip
        coverage = "genotyped"  # a file holds only its own variants: another file's sites are not absent calls
    else:
        parts = [await genotypes_for(store, genotypes_cid=cids[0] if cids else genotypes_cid, vcf_cid=vcf_cid)]
        coverage = ""
    builds = {g.genome_build for g in parts if g.genome_build}
    if len(builds) > 1:
        raise InputError(f"the genotype files are in different builds: {', '.join(sorted(builds))}",
                         field="genotypes_cids")  # fmt: skip
    files, failures = await fetch_all(store, pgs_ids, build or next(iter(builds), ""))
    results = []
    if files:
        try:
            results = await _score(store, parts, files, min_overlap, coverage)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per score, the run still returns
            failures += [Failure(pgs_id=f.pgs_id, step="score", error=error_text(exc)) for f in files]
    failures += [Failure(pgs_id=r.pgs_id, step="match", error=r.reason) for r in results if r.status != "ok"]
    ok = [r for r in results if r.status == "ok"]
    return CohortScores(
        genotypes_cid=parts[0].cid if len(parts) == 1 else "",
        genotypes_cids=[g.cid for g in parts],
        results=results,
        failures=failures,
        n_total=len(dict.fromkeys(pgs_ids)),
        n_ok=len(ok),
        n_failed=len(dict.fromkeys(f.pgs_id for f in failures)),
        n_cached=sum(reused(r) for r in results),
    )


async def _score(
    store: Any, parts: list[Genotypes], files: list[ScoringFile], min_overlap: float, coverage: str
) -> list[PrsResult]:
    """One `score` task per genotype file (all at once), then `combine_scores` when there are several."""
    if len(parts) == 1:
        return await call(store, score, parts[0], files, min_overlap=min_overlap)
    got = await gather_settled([call(store, score, g, files, coverage=coverage, min_overlap=0.0) for g in parts])
    errors = [e for e in got if isinstance(e, Exception)]
    if errors:
        raise errors[0]
    partial = [handed(r) for results in got if not isinstance(results, Exception) for r in results]
    try:
        return await call(store, combine_scores, partial, min_overlap=min_overlap)
    except Exception as exc:
        if is_input_error(exc):  # files that are not one cohort: the run's input is wrong, not a score
            raise InputError(error_text(exc)) from exc
        raise
