"""Offline search over cleaned metadata built from the fixture sheets."""

from __future__ import annotations

import io

import polars as pl
import pytest

from prsgazer.catalog import CatalogTables, search_scores, search_traits_local
from prsgazer.catalog.clean import SHEETS, best_performance, clean_sheet
from prsgazer.catalog.search import tokenize
from prsgazer.errors import InputError

from .catalog_fake import FakeCatalog


@pytest.fixture
def tables(fake: FakeCatalog) -> CatalogTables:
    frames = {s: clean_sheet(s, pl.read_csv(io.BytesIO(fake.sheets[s]), infer_schema=False)) for s in SHEETS}
    best = best_performance(frames["performance_metrics"], frames["evaluation_sample_sets"])
    return CatalogTables(release="2024-06-11", best_performance=best, **frames)


def ids(hits) -> list[str]:
    return [h.pgs_id for h in hits]


def test_tokenize_keeps_ontology_ids() -> None:
    assert tokenize("Type 2 Diabetes (EFO:0001360), C-index") == [
        "type",
        "2",
        "diabetes",
        "efo_0001360",
        "c",
        "index",
    ]


def test_trait_phrase_ranks_the_exact_trait_first(tables: CatalogTables) -> None:
    hits = search_scores(tables, "breast cancer")
    assert ids(hits) == ["PGS000001", "PGS000002"]
    assert hits[0].relevance > hits[1].relevance
    assert hits[0].trait_efo_ids == ["EFO_0000305"] and hits[0].first_author == "Mavaddat N"
    assert (hits[0].quality_metric, hits[0].quality_value, hits[0].quality_label) == (
        "C-index",
        0.622,
        "modest",
    )
    assert ids(search_scores(tables, "BREAST Cancer")) == ids(hits)  # case-insensitive


def test_equal_relevance_is_ordered_by_evaluation_quality(tables: CatalogTables) -> None:
    hits = search_scores(tables, "cancer")
    # same relevance; AUROC 0.634 > C-index 0.622 > AUROC 0.603
    assert ids(hits) == ["PGS000002", "PGS000001", "PGS000802"]
    assert len({h.relevance for h in hits}) == 1


def test_ids_labels_names_and_publications(tables: CatalogTables) -> None:
    assert ids(search_scores(tables, "EFO_0000305")) == ["PGS000001"]
    assert ids(search_scores(tables, "efo:0000305")) == ["PGS000001"]
    assert ids(search_scores(tables, "pgs004255")) == ["PGS004255"]
    assert ids(search_scores(tables, "body height")) == ["PGS001229"]  # mapped EFO label
    assert ids(search_scores(tables, "height")) == ["PGS001229"]  # reported "Standing height"
    assert ids(search_scores(tables, "GenoBoost")) == ["PGS004255"]  # score name prefix
    assert set(ids(search_scores(tables, "mavaddat"))) == {"PGS000001", "PGS000002"}
    assert ids(search_scores(tables, "colorect")) == ["PGS000802"]  # word prefix
    assert ids(search_scores(tables, "the estrogen receptor")) == ["PGS000002"]  # stop word ignored
    assert search_scores(tables, "breast height") == []  # every token must match


def test_filters(tables: CatalogTables) -> None:
    assert ids(search_scores(tables, "cancer", min_variants=50)) == ["PGS000002", "PGS000001"]
    assert ids(search_scores(tables, "", max_variants=30)) == ["PGS004255", "PGS000802"]  # by quality
    assert ids(search_scores(tables, "cancer", ancestry="EAS")) == ["PGS000001", "PGS000802"]
    assert ids(search_scores(tables, "", ancestry="South Asian")) == ["PGS004255"]
    assert ids(search_scores(tables, "", ancestry="afr")) == ["PGS001229"]
    assert len(search_scores(tables, "", build="hg38")) == 5  # every score is harmonised to both builds
    assert search_scores(tables, "", has_performance=False) == []
    assert len(search_scores(tables, "", has_performance=True, limit=None)) == 5
    assert ids(search_scores(tables, "", limit=2)) == ["PGS004255", "PGS000002"]
    with pytest.raises(InputError, match="unknown genome build"):
        search_scores(tables, "x", build="hg17x")
    with pytest.raises(InputError, match="not an ancestry group"):
        search_scores(tables, "x", ancestry="NR")


def test_scores_without_evaluations_rank_after_evaluated_ones(tables: CatalogTables) -> None:
    perf = tables.performance_metrics.filter(pl.col("pgs_id") != "PGS000802")  # type: ignore[union-attr]
    t = CatalogTables(
        release=tables.release,
        scores=tables.scores,
        publications=tables.publications,
        best_performance=best_performance(perf, tables.evaluation_sample_sets),  # type: ignore[arg-type]
    )
    hits = search_scores(t, "cancer")
    assert ids(hits)[-1] == "PGS000802" and hits[-1].n_evaluations == 0 and hits[-1].quality_label is None
    assert ids(search_scores(t, "", has_performance=False)) == ["PGS000802"]


def test_local_trait_search(tables: CatalogTables) -> None:
    hits = search_traits_local(tables, "breast")
    assert [h.efo_id for h in hits] == ["EFO_0000305", "EFO_1000649"]
    assert hits[0].n_scores == 1
    assert [h.efo_id for h in search_traits_local(tables, "EFO_0004339")] == ["EFO_0004339"]
    assert search_traits_local(tables, "rheumatoid arthritis")[0].label == "rheumatoid arthritis"
