"""Scoring files as the doors name them: PGS Catalog ids resolved to verified harmonised files
(`resolve_pgs_ids`), local files stored with what their header says (`ingest_scorefile`), and the
candidates a person can choose from by trait or id, offline (`score_candidates`).
See docs/catalog.md and docs/storage.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from prsgazer.assets import ScoringFile
from prsgazer.catalog.evaluations import stored_evaluations, stored_tables
from prsgazer.catalog.search import search_scores, tokenize
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
    return store.upload(asset)


# --------------------------------------------------------------------------------------------------
# candidates: the scores a person can choose from (the notebook's table, offline)
NO_METADATA = (
    "No PGS Catalog metadata is stored, so the catalog cannot be searched offline. Use local scoring "
    "files or the demo scores (or download the metadata when online)."
)


class Candidate(BaseModel):
    """One score to choose: stored already, or found in the catalog metadata (downloaded when run)."""

    pgs_id: str
    name: str = ""
    trait: str = ""
    source: str = Field(description="stored source (local, synthetic, pgs_catalog) or 'catalog' (not yet stored)")
    stored: bool = False
    n_variants: int | None = None
    builds: list[str] = Field(default_factory=list)
    quality: str | None = Field(default=None, description="quality label of the best evaluation")
    performance: str | None = Field(default=None, description="best reported performance, e.g. 'AUROC 0.630'")
    evaluation_ancestry: str | None = None
    scoring_file_cid: str = ""


class CandidateList(BaseModel):
    query: str = ""
    build: str = ""
    catalog_release: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _build_of(sf: ScoringFile) -> str:
    return sf.hm_build or sf.genome_build or ""


def _matches(tokens: list[str], sf: ScoringFile) -> bool:
    words = " ".join([sf.pgs_id, sf.pgs_name, sf.trait, *(sf.trait_efo or [])]).lower().replace(":", "_")
    return all(t in words for t in tokens)


def score_candidates(store: Any, query: str = "", *, build: str = "", limit: int = 25) -> CandidateList:
    """Stored scoring files matching `query` (all of them when it is empty), then catalog-metadata hits
    not stored yet, best first; only scores usable in `build` when it is given."""
    tokens = tokenize(query)
    out = CandidateList(query=query, build=build)
    stored: dict[str, ScoringFile] = {}
    skipped = 0
    for a in store.query(asset="scoring_file"):
        if not isinstance(a, ScoringFile) or not a.pgs_id or not _matches(tokens, a):
            continue
        if build and _build_of(a) not in (build, ""):
            skipped += 1
            continue
        stored.setdefault(a.pgs_id, a)
    stored = dict(sorted(stored.items()))
    evals = stored_evaluations(store, list(stored))
    for pgs_id, a in stored.items():
        e = evals.get(pgs_id)
        q = e.quality if e is not None else None
        shares = e.evaluation_ancestry if e is not None else {}
        out.candidates.append(
            Candidate(
                pgs_id=pgs_id,
                name=a.pgs_name,
                trait=a.trait or (e.trait if e is not None and e.trait else ""),
                source=a.source or "stored",
                stored=True,
                n_variants=a.n_variants,
                builds=[b for b in dict.fromkeys([a.hm_build, a.genome_build]) if b],
                quality=q.label if q is not None else None,
                performance=f"{q.metric} {q.value:.3f}" if q is not None else None,
                evaluation_ancestry=", ".join(f"{k} {v:.0%}" for k, v in shares.items()) or None,
                scoring_file_cid=a.cid,
            )
        )
    if skipped:
        out.notes.append(f"{skipped} stored scoring file(s) of another build than {build} are left out.")
    tables = stored_tables(store)
    if tables is None:
        out.notes.append(NO_METADATA)
    else:
        out.catalog_release = tables.release
        if tokens:
            for h in search_scores(tables, query, build=build or None, limit=limit):
                if h.pgs_id in stored:
                    continue
                out.candidates.append(
                    Candidate(
                        pgs_id=h.pgs_id,
                        name=h.pgs_name or "",
                        trait=h.trait_reported or ", ".join(h.trait_efo_labels),
                        source="catalog",
                        n_variants=h.n_variants,
                        builds=h.builds_available,
                        quality=h.quality_label,
                        performance=f"{h.quality_metric} {h.quality_value:.3f}" if h.quality_value is not None
                        else None,
                        evaluation_ancestry=", ".join(h.evaluation_ancestry) or None,
                    )
                )
    out.candidates = out.candidates[:limit] if tokens else out.candidates
    if tokens and not out.candidates:
        out.notes.append(f"No stored score or catalog score matches {query!r}; try fewer or broader words.")
    return out
