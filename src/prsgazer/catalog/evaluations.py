"""Scores' catalog evaluations from the stored metadata (offline): model quality, evaluation
ancestry and trait, for reports and explanations. See docs/catalog.md ("Quality and interpretation").

One evaluation per score: `clean.best_performance` ranked for the person's ancestry group (an
ancestry-matched sample set first, then one with AUROC / C-index, then the largest).
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from prsgazer.catalog.metadata import CatalogTables
from prsgazer.engine.interpret.quality import ModelQuality, ancestry_shares, model_quality
from prsgazer.errors import PrsgazerError


class StoredEvaluation(BaseModel):
    """What the stored catalog metadata says about one score."""

    quality: ModelQuality | None = None
    evaluation_ancestry: dict[str, float] = Field(default_factory=dict)
    trait: str | None = None
    trait_efo: list[str] = Field(default_factory=list)


#: Loaded tables of the stored release, keyed by the release and its sheets' CIDs (a long-lived
#: process such as the MCP server reads them once).
_TABLES: dict[tuple[str, ...], CatalogTables] = {}


def stored_tables(store: Any) -> CatalogTables | None:
    """The stored release's cleaned sheets (cached while they are unchanged), or None if none is stored."""
    from prsgazer.catalog.metadata import load_metadata, metadata_status

    try:
        status = metadata_status(store)
        if status["release"] is None:
            return None
        key = (status["release"], *sorted(v["cid"] for v in status["sheets"].values()))
        if key not in _TABLES:
            _TABLES.clear()
            _TABLES[key] = load_metadata(store)
        return _TABLES[key]
    except PrsgazerError:
        return None


def release_key(store: Any) -> str:
    """What the evaluations depend on (the stored release), for cache keys; "" when none is stored."""
    from prsgazer.catalog.metadata import metadata_status

    try:
        status = metadata_status(store)
    except PrsgazerError:
        return ""
    if status["release"] is None:
        return ""
    return f"{status['release']}:{','.join(sorted(v['cid'] for v in status['sheets'].values()))}"


def stored_evaluations(store: Any, pgs_ids: list[str], ancestry: str | None = None) -> dict[str, StoredEvaluation]:
    """Per catalog score in `pgs_ids`, its best evaluation for `ancestry` (default European), its
    evaluation ancestries and reported trait. Scores the stored metadata does not know are left out."""
    from prsgazer.catalog.clean import best_performance

    tables = stored_tables(store)
    if tables is None or not pgs_ids:
        return {}
    mine = tables.scores.filter(pl.col("pgs_id").is_in(pgs_ids))
    traits = dict(mine.select("pgs_id", "trait_reported").iter_rows())
    efo: dict[str, list[str]] = {}
    if "trait_efo_ids" in mine.columns:
        efo = {p: [str(i) for i in ids or []] for p, ids in mine.select("pgs_id", "trait_efo_ids").iter_rows()}
    out = {p: StoredEvaluation(trait=t, trait_efo=efo.get(p, [])) for p, t in traits.items()}
    if tables.performance_metrics is None or tables.evaluation_sample_sets is None:
        return out
    best = best_performance(tables.performance_metrics, tables.evaluation_sample_sets, ancestry=ancestry or "European")
    for row in best.filter(pl.col("pgs_id").is_in(pgs_ids)).iter_rows(named=True):
        metric = "auroc" if row.get("auroc_estimate") is not None else "c_index"
        quality = model_quality(
            auroc=row.get("auroc_estimate"),
            c_index=row.get("c_index_estimate"),
            ci_lower=row.get(f"{metric}_ci_lower"),
            ci_upper=row.get(f"{metric}_ci_upper"),
            covariates=row.get("covariates"),
        )
        if quality is not None and not 0.0 <= quality.value <= 1.0:
            quality = None  # a malformed catalog value: no label rather than an error
        out[row["pgs_id"]] = StoredEvaluation(
            quality=quality,
            evaluation_ancestry=ancestry_shares(row.get("ancestries") or None),
            trait=traits.get(row["pgs_id"]),
            trait_efo=efo.get(row["pgs_id"], []),
        )
    return out


def stored_efo_traits(store: Any, efo_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Ontology id → (label, description) of `efo_ids` from the stored `efo_traits` sheet (offline); ids
    it does not hold, or no stored metadata, are left out. They tell a disease from a quantity
    (`engine.interpret.traits`)."""
    tables = stored_tables(store)
    wanted = sorted({i.replace(":", "_") for i in efo_ids if i})
    if tables is None or tables.efo_traits is None or not wanted:
        return {}
    sheet = tables.efo_traits
    cols = ["efo_id", "label", *(["description"] if "description" in sheet.columns else [])]
    out: dict[str, tuple[str, str]] = {}
    for row in sheet.filter(pl.col("efo_id").is_in(wanted)).select(cols).iter_rows(named=True):
        out[row["efo_id"]] = (row.get("label") or "", row.get("description") or "")
    return out
