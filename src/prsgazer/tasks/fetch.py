"""Task `fetch_scoring_file`: a score id (+ build) → a stored, verified ScoringFile. See docs/workflows.md."""

from __future__ import annotations

import asyncio

from prsgazer.assets import ScoringFile
from prsgazer.ops.runtime import measure, portable
from prsgazer.tasks.env import light
from prsgazer.tasks.runtime import current_run, input_errors_are_final, push_pending, run_op, stamped


def _effective_build(sf: ScoringFile) -> str:
    return sf.hm_build or sf.genome_build


def find_scoring_file(store, pgs_id: str, build: str = "") -> ScoringFile | None:
    """The stored scoring file for `pgs_id` in `build` (any build when empty), if any.

    Several candidates: a PGS Catalog download wins over other sources, then the newest upload.
    """
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


def stored_or_refused(store, pgs_id: str, build: str = "") -> ScoringFile | None:  # type: ignore[no-untyped-def]
    """The stored scoring file, or None when it is to be downloaded from the PGS Catalog; an id that is
    neither stored nor a catalog accession (or a download without a build) is an input error."""
    from prsgazer.engine.scorefile.header import is_catalog_accession
    from prsgazer.errors import InputError, NotFoundError

    stored = find_scoring_file(store, pgs_id, build)
    if stored is None:
        if not is_catalog_accession(pgs_id):
            raise NotFoundError(
                f"no stored scoring file with pgs_id {pgs_id!r}" + (f" in {build}" if build else ""),
                field="pgs_id",
                hint="upload it with `prsgazer storage put FILE --asset scoring_file pgs_id=…` "
                "or give a PGS Catalog id",
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
