"""Tasks `fetch_scoring_files` (many score ids → the stored, verified ScoringFiles, and why any could
not be had) and `fetch_scoring_file` (one id). See docs/workflows.md.

Workflows fetch all their scores in one task: on a cluster a pod costs seconds to start, and most ids
are a look-up in the store; catalog downloads within it run concurrently.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from prsgazer.assets import ScoringFile
from prsgazer.ops.report import Failure
from prsgazer.ops.runtime import measure, portable
from prsgazer.tasks.env import light
from prsgazer.tasks.runtime import current_run, input_errors_are_final, push_pending, run_op, stamped


def _effective_build(sf: ScoringFile) -> str:
    return sf.hm_build or sf.genome_build


def find_scoring_file(
    store: Any, pgs_id: str, build: str = "", found: list[ScoringFile] | None = None
) -> ScoringFile | None:
    """The stored scoring file for `pgs_id` in `build` (any build when empty), if any (`found`: the
    stored scoring files with that id, when already queried).

    Several candidates: a PGS Catalog download wins over other sources, then the newest upload.
    """
    if found is None:
        found = [a for a in store.query(asset="scoring_file", pgs_id=pgs_id) if isinstance(a, ScoringFile)]
    if build:
        found = [a for a in found if _effective_build(a) in (build, "")]
    found.sort(
        key=lambda a: (a.source == "pgs_catalog", bool(_effective_build(a)), str(a.extra.get("created", ""))),
        reverse=True,
    )
    for candidate in found:
        try:
            store.verify(candidate.cid)
        except Exception:  # noqa: BLE001 - a corrupt or missing copy is just not a candidate
            continue
        return candidate
    return None


def stored_or_refused(
    store: Any, pgs_id: str, build: str = "", found: list[ScoringFile] | None = None
) -> ScoringFile | None:
    """The stored scoring file, or None when it is to be downloaded from the PGS Catalog; an id that is
    neither stored nor a catalog accession (or a download without a build) is an input error."""
    from prsgazer.engine.scorefile.header import is_catalog_accession
    from prsgazer.errors import InputError, NotFoundError

    stored = find_scoring_file(store, pgs_id, build, found)
    if stored is None:
        if not is_catalog_accession(pgs_id):
            raise NotFoundError(
                f"no stored scoring file with pgs_id {pgs_id!r}" + (f" in {build}" if build else ""),
                field="pgs_id",
                hint="upload the scoring file (MCP: upload_file with its path; shell: "
                "`prsgazer storage put FILE`), or give a PGS Catalog id (MCP: search_scores finds them)",
            )
        if not build:
            raise InputError("a PGS Catalog download needs a build (GRCh37 or GRCh38)", field="build")
    return stored


@light.task(retries=3)
async def fetch_scoring_file(pgs_id: str, build: str = "") -> ScoringFile:
    """Find a scoring file in the store, or download it (verified) from the PGS Catalog.

    Args:
        pgs_id: a PGS Catalog id (PGS000001) or the id of a stored custom/synthetic scoring file.
        build: GRCh37 or GRCh38: the harmonised positions wanted (required for catalog downloads).
    """
    from prsgazer.errors import CatalogError
    from prsgazer.storage import default_store

    # the catalog client retries transient failures itself (with backoff); what it gives up on is final
    with measure("fetch_scoring_file") as m:
        stored = await run_op(stored_or_refused, pgs_id, build)
        if stored is None:
            from prsgazer.catalog.client import CatalogClient
            from prsgazer.catalog.download import download_scoring_file

            store = await asyncio.to_thread(default_store)
            with input_errors_are_final(CatalogError):
                async with CatalogClient() as client:
                    stored = (await download_scoring_file(client, pgs_id, build=build, store=store)).asset
            await asyncio.to_thread(push_pending, store)
    out = portable(stored)
    out.metrics = m.as_dict()
    return stamped(out, current_run())


@dataclass
class FetchedScoringFiles:
    """`fetch_scoring_files` output: the files had (in the order asked) and the ids that could not be."""

    files: list[ScoringFile] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def _look_up(store, pgs_ids: list[str], build: str) -> list[ScoringFile | Exception | None]:  # type: ignore[no-untyped-def]
    """Per id: the stored file, None (to download), or why it cannot be had (one store query for all)."""
    from prsgazer.errors import InputError

    stored = [a for a in store.query(asset="scoring_file", pgs_id=pgs_ids) if isinstance(a, ScoringFile)]
    out: list[ScoringFile | Exception | None] = []
    for pgs_id in pgs_ids:
        try:
            out.append(stored_or_refused(store, pgs_id, build, [a for a in stored if a.pgs_id == pgs_id]))
        except InputError as exc:
            out.append(exc)
    return out


@light.task(retries=3)
async def fetch_scoring_files(pgs_ids: list[str], build: str = "") -> FetchedScoringFiles:
    """Find scoring files in the store, or download them (verified, concurrently) from the PGS Catalog.
    An id that cannot be had is a failure with its reason, not an error of the task.

    Args:
        pgs_ids: PGS Catalog ids or ids of stored custom/synthetic scoring files.
        build: GRCh37 or GRCh38: the harmonised positions wanted (required for catalog downloads).
    """
    from prsgazer.errors import CatalogError, InputError

    ids = list(dict.fromkeys(pgs_ids))
    with measure("fetch_scoring_files") as m:
        found = await run_op(_look_up, ids, build)
        missing = [p for p, f in zip(ids, found, strict=True) if f is None]
        if missing:
            from prsgazer.catalog.client import CatalogClient
            from prsgazer.catalog.download import download_scoring_file
            from prsgazer.storage import default_store

            store = await asyncio.to_thread(default_store)
            async with CatalogClient() as client:
                got = await asyncio.gather(
                    *(download_scoring_file(client, p, build=build, store=store) for p in missing),
                    return_exceptions=True,
                )
            for p, res in zip(missing, got, strict=True):
                if isinstance(res, BaseException) and not isinstance(res, (InputError, CatalogError)):
                    raise res  # the store or the machine failed: the task fails (and is retried)
                # the catalog client retried with backoff; what it gave up on is this id's failure
                found[ids.index(p)] = res if isinstance(res, Exception) else res.asset
            await asyncio.to_thread(push_pending, store)
    out = FetchedScoringFiles()
    for pgs_id, res in zip(ids, found, strict=True):
        if isinstance(res, ScoringFile):
            out.files.append(portable(res))
        else:
            text = str(res).strip().splitlines()
            out.failures.append(Failure(pgs_id=pgs_id, step="fetch_scoring_file", error=text[-1] if text else ""))
    metrics = m.as_dict()
    out.files = stamped([dataclasses.replace(f, metrics=metrics) for f in out.files], current_run())
    return out
