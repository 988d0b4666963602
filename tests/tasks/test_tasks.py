"""Tasks called as plain Python (their engine numbers, caching, lineage, metrics, partial failure)."""

from __future__ import annotations

import polars as pl
import pytest

from prsgazer.engine.scoring.run import run_scoring
from prsgazer.ops.params import ScoreParams, Tuning, run_options
from prsgazer.tasks import fetch_scoring_file, normalize_genotypes, score

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _expected(cineca) -> pl.DataFrame:
    exp = pl.read_csv(cineca.expected, separator="\t")
    return exp.select(pl.col("IID").alias("iid"), pl.col("PGS001229_SUM").alias("expected_sum"))


async def test_normalize_and_score_equal_the_engine_and_plink2(cineca) -> None:
    from prsgazer.storage import default_store

    store = default_store()
    g = await normalize_genotypes(cineca.vcf)
    assert g.vcf_cid == cineca.vcf.cid and g.n_samples == 2504 and g.genome_build in ("GRCh37", "")
    (res,) = await score(g, [cineca.height])
    assert (res.pgs_id, res.status, res.n_matched, res.n_variants) == ("PGS001229", "ok", 782, 835)
    assert res.summary["excluded_by"] == {"is_ambiguous": 47} and res.summary["unmatched_by"] == {"no_candidate": 6}
    got = pl.read_csv(store.fetch(res.cid).path, separator="\t")

    options = run_options(ScoreParams(), Tuning.from_settings(), build="GRCh37")
    direct = run_scoring(store.fetch(cineca.vcf.cid).path, [store.fetch(cineca.height.cid).path], options)
    assert got["sum"].to_list() == direct.table["sum"].to_list()
    assert got["denom"].unique().to_list() == [1564]

    joined = got.with_columns(pl.col("sample_id").str.split("_").list.first().alias("iid")).join(
        _expected(cineca), on="iid"
    )
    assert joined.height == 2504
    assert (joined["sum"] - joined["expected_sum"]).abs().max() < 5e-6

    # lineage: result → genotypes → vcf, result → scoring file, result → match log
    lin = store.lineage(res.cid)
    vias = {p.via: p for p in lin.root.parents}
    assert vias["genotypes_cid"].parents[0].cid == cineca.vcf.cid
    assert vias["scoring_file_cid"].cid == cineca.height.cid
    log = pl.read_parquet(store.fetch(res.match_log_cid).path)
    assert log.filter(pl.col("match_status") == "matched").height == 782


async def test_cache_hits_on_same_bytes_and_recomputes_on_changed_bytes(cineca, tmp_path) -> None:
    from prsgazer.storage import default_store

    store = default_store()
    g = await normalize_genotypes(cineca.vcf)
    (first,) = await score(g, [cineca.height])
    assert first.metrics["cached"] is False
    assert first.metrics["duration_s"] > 0 and first.metrics["peak_rss_mb"] > 0 and first.metrics["cpu_s"] >= 0
    again_g = await normalize_genotypes(cineca.vcf)
    assert again_g.cid == g.cid and again_g.metrics["cached"] is True
    (again,) = await score(g, [cineca.height])
    assert again.cid == first.cid and again.metrics["cached"] is True

    # one changed weight → a new scoring file CID → computed, and its sum differs
    text = (cineca.data / "scorefiles/PGS001229_22.txt").read_text()
    changed = tmp_path / "PGS001229_changed.txt"
    changed.write_text(text.replace("1.045457e-02", "2.045457e-02", 1))
    sf2 = store.put(changed, "scoring_file", pgs_id="PGS001229", genome_build="GRCh37")
    (third,) = await score(g, [sf2])
    assert third.metrics["cached"] is False and third.cid != first.cid
    a = pl.read_csv(store.fetch(first.cid).path, separator="\t")["sum"]
    b = pl.read_csv(store.fetch(third.cid).path, separator="\t")["sum"]
    assert (a != b).any()

    # a corrupt cached result is a miss, never handed out
    import os

    blob = store.blob_path(first.cid)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"garbage")
    store._verified.clear()
    (fourth,) = await score(g, [cineca.height])
    assert fourth.metrics["cached"] is False and fourth.cid == first.cid


async def test_a_failing_score_does_not_sink_the_others(cineca) -> None:
    g = await normalize_genotypes(cineca.vcf)
    results = await score(g, [cineca.height, cineca.other])
    by_id = {r.pgs_id: r for r in results}
    assert by_id["PGS001229"].status == "ok"
    assert by_id["PGS000802"].status == "failed" and by_id["PGS000802"].reason == "no variant matched"


async def test_fetch_finds_stored_files_and_refuses_unknown_ids(cineca) -> None:
    from prsgazer.errors import InputError, NotFoundError

    got = await fetch_scoring_file("PGS001229", "GRCh37")
    assert got.cid == cineca.height.cid and got.path is None
    with pytest.raises(NotFoundError, match="no stored scoring file"):
        await fetch_scoring_file("MY_SCORE", "GRCh37")
    with pytest.raises(InputError, match="needs a build"):
        await fetch_scoring_file("PGS000999", "")
