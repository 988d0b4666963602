"""Glue shared by workflows: resolving what the user named into stored assets, fan-out of fetches."""

from __future__ import annotations

import asyncio

from prsgazer.assets import Asset, Genotypes, ScoringFile, Vcf
from prsgazer.errors import InputError, NotFoundError
from prsgazer.tasks import fetch_scoring_file, normalize_genotypes
from prsgazer.workflows.models import Failure


def error_text(exc: BaseException) -> str:
    """A one-line reason for a failure (Flyte wraps task errors; keep the innermost message)."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


async def genotypes_for(store, *, genotypes_cid: str = "", vcf_cid: str = "", sample_id: str = "",
                        coverage: str = "") -> Genotypes:  # fmt: skip
    """Genotypes ready to score from a genotypes CID, a VCF CID, or a sample id (its newest VCF)."""
    if genotypes_cid:
        asset: Asset = store.get(genotypes_cid)
    elif vcf_cid:
        asset = store.get(vcf_cid)
    elif sample_id:
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
        asset = found[0]
    else:
        raise InputError("name the genotypes: sample_id, vcf_cid or genotypes_cid", field="sample_id")
    if isinstance(asset, Genotypes):
        return asset
    if isinstance(asset, Vcf):
        return await normalize_genotypes(asset, coverage=coverage)
    raise InputError(f"{asset.cid} is a {asset.asset_key}, not a VCF or genotypes", field="vcf_cid")


async def fetch_all(pgs_ids: list[str], build: str) -> tuple[list[ScoringFile], list[Failure]]:
    """Fetch every scoring file concurrently; a failure is recorded, the others go on."""
    ids = list(dict.fromkeys(pgs_ids))
    got = await asyncio.gather(*(fetch_scoring_file(p, build) for p in ids), return_exceptions=True)
    files: list[ScoringFile] = []
    failures: list[Failure] = []
    for pgs_id, res in zip(ids, got, strict=True):
        if isinstance(res, BaseException):
            if not isinstance(res, Exception):
                raise res
            failures.append(Failure(pgs_id=pgs_id, step="fetch_scoring_file", error=error_text(res)))
        else:
            files.append(res)
    return files, failures


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
