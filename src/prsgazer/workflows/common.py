"""Glue shared by workflows: resolving what the user named into stored assets, handing assets from task
to task, fan-out of fetches, and what a run reused. See docs/workflows.md.

Workflows run in their own pod on a cluster, so their own store calls (queries, look-ups) run in a
worker thread like the tasks' (`asyncio.to_thread`): the event loop only waits on tasks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from typing import Any, TypeVar

from prsgazer.assets import Asset, Genotypes, ScoringFile, Vcf
from prsgazer.errors import InputError, NotFoundError
from prsgazer.tasks import fetch_scoring_files, normalize_genotypes
from prsgazer.tasks.runtime import current_run
from prsgazer.workflows.models import Failure

A = TypeVar("A", bound=Asset)
T = TypeVar("T")


def handed(asset: A) -> A:
    """An asset as handed to the next task: its CID and typed fields only — no local path, no store
    extras, no run metrics — so the next task's inputs (and Flyte's cache key for them) are the same
    whichever run or machine made the asset."""
    return dataclasses.replace(asset, path=None, extra={}, metrics={})


def reused(asset: Asset, run: str | None = None) -> bool:
    """Whether an output was not computed by this run: found in the store (`metrics.cached`) or
    returned by Flyte's cache from an earlier run (`metrics.run` names another run)."""
    run = current_run() if run is None else run
    made_by = asset.metrics.get("run", "")
    return bool(asset.metrics.get("cached")) or bool(run and made_by and made_by != run)


def _assets(out: Any) -> list[Asset]:
    if isinstance(out, Asset):
        return [out]
    if isinstance(out, (list, tuple)):
        return [a for o in out for a in _assets(o)]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [a for f in dataclasses.fields(out) for a in _assets(getattr(out, f.name))]
    return []


def missing_from_store(store: Any, cids: list[str]) -> list[str]:
    """The CIDs whose records neither the local store nor its remote holds (a blocking call)."""
    gone = []
    for cid in dict.fromkeys(cids):
        try:
            store.record(cid)
        except NotFoundError:
            gone.append(cid)
    return gone


async def call(store: Any, task: Any, *args: Any, **kwargs: Any) -> Any:
    """`await task(*args, **kwargs)`, with the store as the source of truth: outputs Flyte's cache
    returned from an earlier run that the store no longer holds (deleted, or a wiped store) are
    computed again, with Flyte's cache bypassed for that call."""
    out = await task(*args, **kwargs)
    run = current_run()
    earlier = [a.cid for a in _assets(out) if run and a.metrics.get("run", run) != run]
    if earlier and await asyncio.to_thread(missing_from_store, store, earlier):
        out = await task.override(cache="disable")(*args, **kwargs)
    return out


async def gather_settled(calls: list[Awaitable[T]]) -> list[T | Exception]:
    """Every call's result or its error (a failure is recorded, the others go on); cancellation and
    interrupts still propagate."""
    got = await asyncio.gather(*calls, return_exceptions=True)
    settled: list[T | Exception] = []
    for res in got:
        if isinstance(res, BaseException) and not isinstance(res, Exception):
            raise res
        settled.append(res)
    return settled


def is_input_error(exc: BaseException) -> bool:
    """Whether a task failed on bad input (its error code names a prsgazer InputError class)."""
    from prsgazer import errors

    if isinstance(exc, InputError):
        return True
    cls = getattr(errors, str(getattr(exc, "code", "") or ""), None)
    return isinstance(cls, type) and issubclass(cls, InputError)


def error_text(exc: BaseException) -> str:
    """A one-line reason for a failure (Flyte wraps task errors; keep the innermost message)."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _named_genotypes(store: Any, *, genotypes_cid: str = "", vcf_cid: str = "", sample_id: str = "") -> Asset:
    """The stored genotypes or VCF a user named (a blocking look-up of records: the bytes stay where they
    are, the task that needs them fetches them)."""
    if genotypes_cid:
        return store.describe(genotypes_cid)
    if vcf_cid:
        return store.describe(vcf_cid)
    if sample_id:
        found = store.query(asset="genotypes", sample_id=sample_id) or store.query(asset="vcf", sample_id=sample_id)
        if not found:
            raise InputError(
                f"no stored VCF or genotypes for sample {sample_id!r}",
                field="sample_id",
                hint="upload the VCF first (MCP: upload_file with its path; shell: `prsgazer storage put FILE`), "
                "then pass its CID as vcf_cid",
            )
        if len({a.cid for a in found}) > 1 and len({a.asset_key for a in found}) == 1:
            cands = ", ".join(f"{a.cid} ({a.filename})" for a in found)
            raise InputError(
                f"sample {sample_id!r} has {len(found)} stored files: {cands}",
                field="sample_id",
                hint="name one with vcf_cid",
            )
        return found[0]
    raise InputError("name the genotypes: sample_id, vcf_cid or genotypes_cid", field="sample_id")


async def genotypes_for(store: Any, *, genotypes_cid: str = "", vcf_cid: str = "", sample_id: str = "",
                        coverage: str = "", field: str = "vcf_cid") -> Genotypes:  # fmt: skip
    """Genotypes ready to score (as handed to tasks) from a genotypes CID, a VCF CID, or a sample id
    (its newest VCF); a VCF is normalized first."""
    asset = await asyncio.to_thread(
        _named_genotypes, store, genotypes_cid=genotypes_cid, vcf_cid=vcf_cid, sample_id=sample_id
    )
    if isinstance(asset, Genotypes):
        return handed(asset)
    if isinstance(asset, Vcf):
        return handed(await call(store, normalize_genotypes, handed(asset), coverage=coverage))
    raise InputError(f"{asset.cid} is a {asset.asset_key}, not a VCF or genotypes", field=field)


async def fetch_all(store: Any, pgs_ids: list[str], build: str) -> tuple[list[ScoringFile], list[Failure]]:
    """Every scoring file (as handed to tasks), in one `fetch_scoring_files` task; an id that cannot be had
    is recorded with its reason, the others go on."""
    ids = list(dict.fromkeys(pgs_ids))
    if not ids:
        return [], []
    got = await call(store, fetch_scoring_files, ids, build)
    return [handed(f) for f in got.files], list(got.failures)


def scores_for_trait(store, trait: str, build: str = "", limit: int = 10) -> list[str]:
    """PGS ids for a trait: stored scoring files whose trait or EFO id matches, else the stored PGS
    Catalog metadata's search (offline; best first)."""
    text = trait.strip().lower()
    if not text:
        raise InputError("give pgs_ids or a trait", field="trait")
    hits = []
    for a in store.query(asset="scoring_file"):
        efo = [e.lower() for e in (a.trait_efo or [])]
        if text in (a.trait or "").lower() or text in efo or text in (a.pgs_name or "").lower():
            if not build or build in (a.genome_build, a.hm_build):
                hits.append(a.pgs_id)
    if hits:
        return list(dict.fromkeys(hits))[:limit]
    try:
        from prsgazer.catalog.metadata import load_metadata
        from prsgazer.catalog.search import search_scores

        found = search_scores(load_metadata(store), trait, build=build or None, limit=limit)
    except NotFoundError:
        found = []
    if not found:
        raise InputError(
            f"no stored scoring file or catalog score matches the trait {trait!r}",
            field="trait",
            hint="name PGS ids with pgs_ids, or store the catalog metadata (MCP: search_scores stores it on "
            "first use; shell: `prsgazer catalog metadata pull`)",
        )
    return [h.pgs_id for h in found]
