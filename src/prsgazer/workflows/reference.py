"""Workflow `reference_distributions`: a stored panel × many scores → per-superpopulation Distributions.
See docs/workflows.md.

    flyte run --local src/prsgazer/workflows/reference.py reference_distributions --panel demo_panel \
        --pgs_ids '["DEMO001", "DEMO002"]'
    prsgazer run reference_distributions --panel demo_panel            # every stored score of its build

Scoring files are fetched in parallel, then scored in batches of `batch_size` files
(one `reference_batch` task each: one pass over the panel per batch; on a cluster the batches run in
parallel pods), and each batch's results are aggregated into Distribution assets with their checks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prsgazer.assets import Distribution, ReferenceScores, ScoringFile
from prsgazer.ops.panels import stored_panel
from prsgazer.tasks import aggregate_distributions, reference_batch
from prsgazer.tasks.env import orchestrator
from prsgazer.workflows.common import call, error_text, fetch_all, gather_settled, handed, reused
from prsgazer.workflows.models import Failure, ReferenceDistributions


@orchestrator.task
async def reference_distributions(
    panel: str,
    pgs_ids: list[str] | None = None,
    build: str = "",
    min_overlap: float = -1.0,
    batch_size: int = 500,
) -> ReferenceDistributions:
    """Reference distributions (per superpopulation and ALL) of many scores over one panel.

    Args:
        panel: stored reference panel name (or NAME:BUILD, or its CID).
        pgs_ids: PGS Catalog ids or ids of stored scoring files; empty or ["all"]: every stored
            scoring file of the panel's build.
        build: the panel's build when its name has several; GRCh37 or GRCh38.
        min_overlap: minimum matched fraction per score; negative: the default (0.75).
        batch_size: scoring files per `reference_batch` task (one pass over the panel each; batches
            run in parallel on a cluster and take turns with the memory budget locally). The unit of
            resumption: a killed run keeps the batches that finished and scores the rest again.
    """
    from prsgazer.errors import InputError
    from prsgazer.storage import default_store

    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}", field="batch_size")
    store = await asyncio.to_thread(default_store)
    ref = await asyncio.to_thread(stored_panel, store, panel, build)
    if ref is None:
        raise InputError("name the reference panel", field="panel")
    ref = handed(ref)
    build = ref.genome_build or build
    ids = [p for p in dict.fromkeys(pgs_ids or []) if p.lower() != "all"]
    if not ids:
        ids = await asyncio.to_thread(_stored_ids, store, build)
        if not ids:
            raise InputError(f"no stored scoring files for {build or 'the panel'}", field="pgs_ids",
                             hint="name PGS ids, or store scoring files first")  # fmt: skip
    files, failures = await fetch_all(store, ids, build)
    batches = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]

    async def one(batch: list[ScoringFile]) -> tuple[list[ReferenceScores], list[Distribution]]:
        scores = await call(store, reference_batch, ref, batch, min_overlap=min_overlap)
        return scores, await call(store, aggregate_distributions, ref, [handed(s) for s in scores])

    got = await gather_settled([one(b) for b in batches])
    dists = []
    n_cached = 0
    for batch, res in zip(batches, got, strict=True):
        if isinstance(res, Exception):
            failures += [Failure(pgs_id=f.pgs_id, step="reference_batch", error=error_text(res)) for f in batch]
            continue
        scores, batch_dists = res
        failures += [Failure(pgs_id=s.pgs_id, step="match", error=s.reason) for s in scores if s.status != "ok"]
        dists += batch_dists
        n_cached += sum(reused(s) for s in scores)
    return ReferenceDistributions(
        panel_cid=ref.cid,
        panel=ref.panel,
        distributions=dists,
        failures=failures,
        n_total=len(ids),
        n_ok=len(dists),
        n_failed=len(dict.fromkeys(f.pgs_id for f in failures)),
        n_cached=n_cached,
        n_checks_failed=sum(d.checks_passed is False for d in dists),
    )


def _stored_ids(store: Any, build: str) -> list[str]:
    """Every stored scoring file's id in the build (a blocking query)."""
    stored = store.query(asset="scoring_file")
    return list(dict.fromkeys(a.pgs_id for a in stored if a.pgs_id and build in ("", a.genome_build, a.hm_build)))
