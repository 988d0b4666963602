"""Offline search over the cleaned catalog metadata. See docs/catalog.md ("Search and ranking").

Case-insensitive token search on reported trait, mapped trait labels and ids, score id and name, and
publication (first author, title, journal, doi, PMID, PGP id). Every query token must match some field
(stop words such as "of" and "the" are ignored). Ranking, first difference wins:
1. relevance: per token the best field match (an exact id 100; trait words 10 exact / 6 prefix /
   3 inside a word; score name 5/3/2; publication 3/2/1), plus 40 when the whole query equals a trait
   label or 20 when it appears inside one;
2. has performance metrics in the catalog;
3. best discrimination (AUROC, else C-index) of the best evaluation (see clean.best_performance);
4. larger evaluation sample;
5. PGS id.
"""

from __future__ import annotations

import math
import re
from typing import Any

import polars as pl
from pydantic import BaseModel

from prsgazer.catalog.metadata import CatalogTables
from prsgazer.engine.interpret.quality import QualityLabel, ancestry_code, quality_label
from prsgazer.engine.scorefile.header import normalize_build
from prsgazer.errors import InputError

STOP_WORDS = frozenset({"a", "an", "and", "for", "in", "of", "on", "or", "the", "to", "with", "score", "scores"})
_TOKEN = re.compile(r"[a-z0-9]+(?:[_:.][a-z0-9]+)*")

#: (exact word, word prefix, inside a word) points per field group
_WEIGHTS = {
    "trait": (10.0, 6.0, 3.0),
    "name": (5.0, 3.0, 2.0),
    "publication": (3.0, 2.0, 1.0),
}
ID_POINTS = 100.0
PHRASE_EQUAL = 40.0
PHRASE_INSIDE = 20.0


class SearchHit(BaseModel):
    """One score found by `search_scores`."""

    pgs_id: str
    pgs_name: str | None = None
    trait_reported: str | None = None
    trait_efo_labels: list[str] = []
    trait_efo_ids: list[str] = []
    n_variants: int | None = None
    genome_build: str | None = None
    builds_available: list[str] = []
    pgp_id: str | None = None
    first_author: str | None = None
    year: int | None = None
    journal: str | None = None
    n_evaluations: int = 0
    quality_metric: str | None = None
    quality_value: float | None = None
    quality_label: QualityLabel | None = None
    evaluation_n: int | None = None
    evaluation_ancestry: list[str] = []
    relevance: float = 0.0
    matched: list[str] = []


def tokenize(text: str) -> list[str]:
    """Lower-case tokens; ontology ids keep their separator (`EFO:0000305` → `efo_0000305`)."""
    return [t.replace(":", "_") for t in _TOKEN.findall(text.lower())]


def _words(*texts: Any) -> set[str]:
    out: set[str] = set()
    for t in texts:
        if t:
            out.update(tokenize(str(t)))
    return out


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _num(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def build_documents(tables: CatalogTables) -> list[dict[str, Any]]:
    """One searchable record per score, joining publications and the best evaluation."""
    df = tables.scores
    if tables.publications is not None and "pgp_id" in df.columns:
        pub_cols = [
            c for c in ("pgp_id", "first_author", "title", "journal", "year") if c in tables.publications.columns
        ]
        df = df.join(tables.publications.select(pub_cols), on="pgp_id", how="left", suffix="_pub")
    if tables.best_performance is not None:
        best_cols = [
            c
            for c in (
                "pgs_id",
                "auroc_estimate",
                "c_index_estimate",
                "n_evaluations",
                "n_individuals",
                "ancestries",
            )
            if c in tables.best_performance.columns
        ]
        df = df.join(tables.best_performance.select(best_cols), on="pgs_id", how="left")
    docs = []
    for row in df.to_dicts():
        labels = [str(x) for x in _as_list(row.get("trait_efo_labels"))]
        ids = [str(x) for x in _as_list(row.get("trait_efo_ids"))]
        stages = [
            e.get("ancestry")
            for stage in ("ancestry_gwas", "ancestry_dev", "ancestry_eval")
            for e in _as_list(row.get(stage))
            if isinstance(e, dict) and e.get("ancestry")
        ]
        auroc, cidx = _num(row.get("auroc_estimate")), _num(row.get("c_index_estimate"))
        metric, value = (
            ("AUROC", auroc) if auroc is not None else ("C-index", cidx) if cidx is not None else (None, None)
        )
        trait_text = " | ".join([str(row.get("trait_reported") or ""), *labels]).lower()
        docs.append(
            {
                "hit": {
                    "pgs_id": row["pgs_id"],
                    "pgs_name": row.get("pgs_name"),
                    "trait_reported": row.get("trait_reported"),
                    "trait_efo_labels": labels,
                    "trait_efo_ids": ids,
                    "n_variants": row.get("n_variants"),
                    "genome_build": row.get("genome_build"),
                    "builds_available": _as_list(row.get("builds_available")),
                    "pgp_id": row.get("pgp_id"),
                    "first_author": row.get("first_author"),
                    "year": row.get("year"),
                    "journal": row.get("journal"),
                    "n_evaluations": int(row.get("n_evaluations") or 0),
                    "quality_metric": metric,
                    "quality_value": value,
                    "quality_label": quality_label(value) if value is not None and 0 <= value <= 1 else None,
                    "evaluation_n": row.get("n_individuals"),
                    "evaluation_ancestry": [str(a) for a in _as_list(row.get("ancestries"))],
                },
                "ids": {t.lower() for t in [row["pgs_id"], *ids, row.get("pgp_id") or ""] if t}
                | {str(row.get("pmid") or "").lower(), str(row.get("doi") or "").lower()} - {""},
                "trait_words": _words(row.get("trait_reported"), *labels),
                "trait_text": trait_text,
                "trait_phrases": {p.strip() for p in trait_text.split("|") if p.strip()},
                "name_words": _words(row.get("pgs_name"), row["pgs_id"]),
                "pub_words": _words(
                    row.get("first_author"),
                    row.get("title"),
                    row.get("journal"),
                    row.get("doi"),
                    row.get("pgp_id"),
                ),
                "ancestry_codes": {
                    c for c in (ancestry_code(a) for a in [*stages, *_as_list(row.get("ancestries"))]) if c
                },
            }
        )
    return docs


def _field_points(token: str, words: set[str], weights: tuple[float, float, float]) -> float:
    exact, prefix, inside = weights
    if token in words:
        return exact
    if len(token) >= 3 and any(w.startswith(token) for w in words):
        return prefix
    if len(token) >= 4 and any(token in w for w in words):
        return inside
    return 0.0


def _relevance(tokens: list[str], phrase: str, doc: dict[str, Any]) -> tuple[float, list[str]]:
    total = 0.0
    matched: set[str] = set()
    for tok in tokens:
        best, where = 0.0, ""
        if tok in doc["ids"]:
            best, where = ID_POINTS, "id"
        for group, key in (("trait", "trait_words"), ("name", "name_words"), ("publication", "pub_words")):
            pts = _field_points(tok, doc[key], _WEIGHTS[group])
            if pts > best:
                best, where = pts, group
        if best == 0.0:
            return 0.0, []
        total += best
        matched.add(where)
    if phrase and matched != {"id"}:
        if phrase in doc["trait_phrases"]:
            total += PHRASE_EQUAL
        elif phrase in doc["trait_text"]:
            total += PHRASE_INSIDE
    return total, sorted(matched)


def search_scores(
    tables: CatalogTables,
    query: str,
    *,
    build: str | None = None,
    min_variants: int | None = None,
    max_variants: int | None = None,
    ancestry: str | None = None,
    has_performance: bool | None = None,
    limit: int | None = 20,
) -> list[SearchHit]:
    """Scores matching `query` and the filters, best first (ranking in the module docstring).

    Args:
        build: only scores with a file in this build (harmonised or as published).
        min_variants / max_variants: bounds on the number of variants.
        ancestry: developed or evaluated in this group (EUR, AFR, EAS, SAS, AMR or a catalog label).
        has_performance: True for scores with catalog performance metrics, False for those without.
        limit: most hits returned (None for all).
    """
    if tables._docs is None:
        tables._docs = build_documents(tables)
    want_build = None
    if build:
        try:
            want_build = normalize_build(build)
        except ValueError as exc:
            raise InputError(str(exc), field="build") from None
    want_anc = None
    if ancestry:
        want_anc = ancestry_code(ancestry)
        if want_anc is None:
            raise InputError(f"{ancestry!r} is not an ancestry group", field="ancestry", hint="e.g. EUR or European")
    all_tokens = tokenize(query)
    tokens = [t for t in all_tokens if t not in STOP_WORDS] or all_tokens
    phrase = " ".join(query.lower().split())
    hits: list[tuple[tuple[Any, ...], SearchHit]] = []
    for doc in tables._docs:
        h = doc["hit"]
        if want_build and want_build not in h["builds_available"]:
            continue
        n = h["n_variants"]
        if min_variants is not None and (n is None or n < min_variants):
            continue
        if max_variants is not None and (n is None or n > max_variants):
            continue
        if want_anc and want_anc not in doc["ancestry_codes"]:
            continue
        if has_performance is not None and (h["n_evaluations"] > 0) != has_performance:
            continue
        if tokens:
            rel, matched = _relevance(tokens, phrase, doc)
            if rel == 0.0:
                continue
        else:
            rel, matched = 0.0, []
        hit = SearchHit(**h, relevance=rel, matched=matched)
        key = (
            -rel,
            -(h["n_evaluations"] > 0),
            -(h["quality_value"] or 0.0),
            -(h["evaluation_n"] or 0),
            h["pgs_id"],
        )
        hits.append((key, hit))
    hits.sort(key=lambda kv: kv[0])
    out = [h for _, h in hits]
    return out if limit is None else out[:limit]


class TraitHit(BaseModel):
    efo_id: str
    label: str
    description: str | None = None
    n_scores: int = 0
    relevance: float = 0.0


def search_traits_local(tables: CatalogTables, query: str, *, limit: int | None = 20) -> list[TraitHit]:
    """Traits of the local EFO sheet matching `query` (id exact, or all tokens in label/description)."""
    if tables.efo_traits is None:
        raise InputError(
            "the stored metadata has no efo_traits sheet",
            hint="run `prsgazer catalog metadata refresh --force`, or search online with --online",
        )
    counts: dict[str, int] = {}
    if "trait_efo_ids" in tables.scores.columns:
        exploded = tables.scores.select(pl.col("trait_efo_ids").explode()).drop_nulls()
        for efo_id, n in exploded.group_by("trait_efo_ids").len().iter_rows():
            counts[efo_id] = n
    tokens = [t for t in tokenize(query) if t not in STOP_WORDS] or tokenize(query)
    phrase = " ".join(query.lower().split())
    hits = []
    for row in tables.efo_traits.iter_rows(named=True):
        efo, label = row["efo_id"], row.get("label") or ""
        if efo.lower() in tokens:
            rel = ID_POINTS
        else:
            label_words, desc_words = _words(label), _words(row.get("description"))
            rel = 0.0
            for tok in tokens:
                pts = max(_field_points(tok, label_words, (10, 6, 3)), _field_points(tok, desc_words, (2, 1, 0.5)))
                if pts == 0:
                    rel = 0.0
                    break
                rel += pts
            if rel and label.lower() == phrase:
                rel += PHRASE_EQUAL
        if rel:
            hits.append(
                TraitHit(
                    efo_id=efo,
                    label=label,
                    description=row.get("description"),
                    n_scores=counts.get(efo, 0),
                    relevance=rel,
                )
            )
    hits.sort(key=lambda h: (-h.relevance, -h.n_scores, h.label))
    return hits if limit is None else hits[:limit]
