"""Task `fetch_scoring_file`: a score id (+ build) → a stored, verified ScoringFile. See docs/workflows.md."""

from __future__ import annotations

import asyncio

from prsgazer.assets import ScoringFile
from prsgazer.ops.runtime import measure, portable
from prsgazer.tasks.env import light
from prsgazer.tasks.runtime import input_errors_are_final


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


@light.task(retries=3)
async def fetch_scoring_file(pgs_id: str, build: str = "") -> ScoringFile:
    """Find a scoring file in the store, or download it (verified) from the PGS Catalog.

    Args:
        pgs_id: a PGS Catalog id (PGS000001) or the id of a stored custom/synthetic scoring file.
        build: GRCh37 or GRCh38: the harmonised positions wanted (required for catalog downloads).
    """
    from prsgazer.errors import CatalogError

    # the catalog client retries transient failures itself (with backoff); what it gives up on is final
    with input_errors_are_final(CatalogError):
        from prsgazer.engine.scorefile.header import is_catalog_accession
        from prsgazer.errors import InputError, NotFoundError
        from prsgazer.storage import default_store

        store = default_store()
        with measure("fetch_scoring_file") as m:
            stored = await asyncio.to_thread(find_scoring_file, store, pgs_id, build)
            if stored is None:
                if not is_catalog_accession(pgs_id):
                    raise NotFoundError(
                        f"no stored scoring file with pgs_id {pgs_id!r}" + (f" in {build}" if build else ""),
                        field="pgs_id",
                        hint="upload the scoring file (MCP: upload_file with its path; shell: `prsgazer storage "
                        "put FILE`), or give a PGS Catalog id (MCP: search_scores finds them)",
                    )
                if not build:
                    raise InputError("a PGS Catalog download needs a build (GRCh37 or GRCh38)", field="build")
                from prsgazer.catalog.client import CatalogClient
                from prsgazer.catalog.download import download_scoring_file

                async with CatalogClient() as client:
                    result = await download_scoring_file(client, pgs_id, build=build, store=store)
                stored = result.asset
        out = portable(stored)
        out.metrics = m.as_dict()
        return out
