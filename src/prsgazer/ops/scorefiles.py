"""Scoring files as the doors name them: PGS Catalog ids resolved to verified harmonised files
(`resolve_pgs_ids`), and local files stored with what their header says (`ingest_scorefile`).
See docs/catalog.md and docs/storage.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prsgazer.assets import ScoringFile
from prsgazer.cid import cid_of_file
from prsgazer.engine.scorefile import read_scorefile
from prsgazer.errors import InputError


def resolve_pgs_ids(store: Any, ids: list[str], build: str | None) -> list[Path]:
    """Download (or reuse from the store) the harmonised scoring files of PGS Catalog ids; their paths."""
    from prsgazer.catalog import download_scoring_files

    if build is None:
        raise InputError("--pgs-id needs --build GRCh37|GRCh38 to pick the harmonised file", field="--build")
    results = asyncio.run(download_scoring_files(ids, build=build, store=store))
    return [Path(store.fetch(r.asset.cid).path) for r in results]


def ingest_scorefile(store: Any, path: str | Path, *, source: str = "local") -> ScoringFile:
    """Store a scoring file (parsed first: a file that does not parse is refused) with the fields its
    header gives (pgs_id, name, trait, builds, row count). The same bytes give the same asset; bytes
    already stored as a scoring file keep their record (a catalog download stays one)."""
    cid = cid_of_file(path)
    if store.has(cid):
        got = store.get(cid)
        if isinstance(got, ScoringFile):
            return got
    sf = read_scorefile(path)
    h = sf.header
    accessions = sf.accessions
    asset = ScoringFile(
        path=Path(path),
        pgs_id=accessions[0] if len(accessions) == 1 else (h.pgs_id or ""),
        pgs_name=h.pgs_name or "",
        trait=h.trait_reported or "",
        trait_efo=list(h.trait_efo),
        genome_build=h.genome_build or "",
        hm_build=(h.HmPOS_build or "") if sf.harmonised else "",
        n_variants=sf.variants.height,
        weight_type=h.weight_type or "",
        source=source,
    )
    return store.upload(asset)  # type: ignore[no-any-return]
