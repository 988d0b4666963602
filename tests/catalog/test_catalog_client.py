"""The REST client against the fake catalog: endpoints, pagination, errors, retries, rate limit, cache."""

from __future__ import annotations

import asyncio
import time

import pytest

from prsgazer.catalog import CatalogClient, RateLimiter, ResponseCache
from prsgazer.catalog.client import normalize_pgs_id, normalize_trait_id
from prsgazer.catalog.http import normalize_url, retry_after_seconds
from prsgazer.config import get_settings
from prsgazer.errors import CatalogError, InputError, NotFoundError

from .catalog_fake import FakeCatalog

pytestmark = pytest.mark.anyio


async def test_score_record_matches_the_real_header(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        s = await c.score("pgs000001")
    assert s.id == "PGS000001"
    assert s.name == "PRS77_BC"
    assert s.trait_reported == "Breast cancer"
    assert [t.id for t in s.trait_efo] == ["EFO_0000305"]
    assert s.variants_number == 77
    assert s.variants_genomebuild == "NR"
    assert s.publication is not None and s.publication.firstauthor == "Mavaddat N"
    assert s.harmonized_url(
        "GRCh38",
    ).endswith("/scores/PGS000001/ScoringFiles/Harmonized/PGS000001_hmPOS_GRCh38.txt.gz")
    assert s.ftp_scoring_file.endswith("/scores/PGS000001/ScoringFiles/PGS000001.txt.gz")
    assert s.ancestry_distribution["gwas"]["dist"] == {"EUR": 100.0}


async def test_unknown_id_is_not_found_and_never_cached(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        for _ in range(2):
            with pytest.raises(NotFoundError, match="PGS999999 is not in the PGS Catalog"):
                await c.score("PGS999999")
    assert online.count("/rest/score/PGS999999") == 2


async def test_malformed_ids_fail_before_any_request(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        with pytest.raises(InputError, match="not a PGS Catalog score id"):
            await c.score("PGS1")
        with pytest.raises(InputError):
            await c.trait("not a trait")
    assert online.rest_hits() == []


def test_id_normalisation() -> None:
    assert normalize_pgs_id(" pgs004255 ") == "PGS004255"
    assert normalize_trait_id("EFO:0000305") == "EFO_0000305"
    assert normalize_trait_id("efo_0000305") == "EFO_0000305"
    assert normalize_trait_id("MONDO_0004989") == "MONDO_0004989"
    assert normalize_trait_id("Orphanet_1234") == "Orphanet_1234"


async def test_pagination_follows_next_with_limit_and_offset(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        records = await c.get_all("score/all", page_size=2)
    assert [r["id"] for r in records] == ["PGS000001", "PGS000002", "PGS000802", "PGS001229", "PGS004255"]
    queries = [h.query for h in online.rest_hits()]
    assert queries == ["limit=2", "limit=2&offset=2", "limit=2&offset=4"]


async def test_max_results_stops_paging(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        scores = await c.all_scores(max_results=3)
    assert len(scores) == 3
    assert len(online.rest_hits()) == 1  # one page of 250 held all of them


async def test_page_size_is_bounded_like_the_server(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        with pytest.raises(InputError, match="page size"):
            await c.get_all("score/all", page_size=251)
        # the server's own refusal is an error with its message, not retried
        with pytest.raises(CatalogError, match="less than or equal to 250"):
            await c.get_json("score/all", {"limit": 300})
    assert online.count("/rest/score/all") == 1


async def test_trait_publication_performance_and_sample_set(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        by_trait = await c.scores_by_trait("EFO:0000305")
        with_children = await c.scores_by_trait("EFO_0000305", include_children=True)
        traits = await c.search_traits("breast")
        trait = await c.trait("EFO_0004339")
        pub = await c.publication("PGP000001")
        perf = await c.performance("PGS000001")
        pss = await c.sample_set("PSS000004")
        several = await c.scores(["PGS000002", "PGS000001", "PGS000002"])
        with pytest.raises(NotFoundError, match="PGS999999"):
            await c.scores(["PGS000001", "PGS999999"])
        with pytest.raises(NotFoundError):
            await c.sample_set("PSS999999")
        info = await c.info()
    assert [s.id for s in by_trait] == ["PGS000001"] == [s.id for s in with_children]
    assert [t.id for t in traits] == ["EFO_0000305", "EFO_1000649"]
    assert trait.label == "body height" and trait.associated_pgs_ids == ["PGS001229"]
    assert pub.associated_pgs_ids["development"] == ["PGS000001", "PGS000002"]
    assert [p.id for p in perf] == ["PPM000001", "PPM000002"]
    odds = perf[0].performance_metrics.find("OR")
    assert odds is not None and (odds.estimate, odds.ci_lower, odds.ci_upper) == (1.55, 1.52, 1.58)
    assert perf[0].sampleset is not None and perf[0].sampleset.n_individuals == 67054
    assert pss.n_individuals == 320000
    assert pss.ancestry_fractions() == pytest.approx({"European": 0.9375, "South Asian": 0.0625})
    assert [s.id for s in several] == ["PGS000002", "PGS000001"]
    assert info.release_date == "2024-06-11"
    assert any(
        "pgs_ids=PGS000002%2CPGS000001" in h.query or "pgs_ids=PGS000002,PGS000001" in h.query
        for h in online.rest_hits()
    )


async def test_unknown_endpoint_is_a_404_not_found(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        with pytest.raises(NotFoundError, match="This REST endpoint does not exist"):
            await c.get_json("nonsense/endpoint")


async def test_5xx_is_retried_until_it_recovers(online: FakeCatalog) -> None:
    online.add_fault("/rest/score/PGS000002", "status", status=500, times=1)
    online.add_fault("/rest/score/PGS000002", "status", status=503, times=1)
    async with CatalogClient() as c:
        s = await c.score("PGS000002")
        assert c.stats.retries == 2
    assert s.name == "PRS77_ERpos"
    assert online.count("/rest/score/PGS000002") == 3


async def test_persistent_5xx_gives_up_with_the_url_and_caches_nothing(online: FakeCatalog) -> None:
    online.add_fault("/rest/score/PGS000002", "status", status=502, times=10)
    async with CatalogClient() as c:
        with pytest.raises(CatalogError, match=r"score/PGS000002: gave up after 4 attempts: HTTP 502"):
            await c.score("PGS000002")
    assert online.count("/rest/score/PGS000002") == 4  # 1 + PRSGAZER_CATALOG_RETRIES=3
    cache_dir = get_settings().catalog_cache_dir / "http"
    assert not list(cache_dir.rglob("*.json"))


async def test_429_retry_after_is_honoured(online: FakeCatalog) -> None:
    online.add_fault("/rest/score/PGS000802", "status", status=429, retry_after="1")
    async with CatalogClient() as c:
        t0 = time.monotonic()
        s = await c.score("PGS000802")
        elapsed = time.monotonic() - t0
        assert c.stats.rate_limited == 1
    assert s.name == "CRC_19"
    assert elapsed >= 0.95  # waited the server's Retry-After, not the 0.01 s backoff
    hits = [h.at for h in online.rest_hits()]
    assert hits[1] - hits[0] >= 0.95


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None, {"message": "request limit exceeded", "availableIn": "33 seconds"}) == 33.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert retry_after_seconds(None, None) is None


async def test_client_rate_limit_keeps_under_the_server_throttle(online: FakeCatalog, monkeypatch) -> None:
    """Server allows 3 requests per second; a client limited the same way is never refused."""
    online.throttle = (3, 1.0)
    limiter = RateLimiter(3, 1.0)
    async with CatalogClient(limiter=limiter) as c:
        t0 = time.monotonic()
        ids = ["PGS000001", "PGS000002", "PGS000802", "PGS001229", "PGS004255", "PGS000001", "PGS000002"]
        results = await asyncio.gather(*(c.get_json(f"score/{i}", use_cache=False) for i in ids))
        elapsed = time.monotonic() - t0
        assert c.stats.rate_limited == 0
    assert [r["id"] for r in results] == ids
    assert elapsed >= 2.0  # 7 requests at 3/s need two full windows
    times = sorted(h.at for h in online.rest_hits())
    for i in range(3, len(times)):  # any 4 consecutive requests span at least the window
        assert times[i] - times[i - 3] >= 0.99


async def test_unlimited_client_is_throttled_and_recovers(online: FakeCatalog) -> None:
    online.throttle = (2, 1.0)
    async with CatalogClient() as c:  # the test settings allow 1000/s: the server will refuse some
        results = await asyncio.gather(*(c.get_json(f"score/PGS00000{i}", use_cache=False) for i in (1, 2, 1)))
        assert c.stats.rate_limited >= 1
    assert [r["id"] for r in results] == ["PGS000001", "PGS000002", "PGS000001"]


async def test_rate_limiter_counts_from_the_response() -> None:
    limiter = RateLimiter(2, 0.3)
    t0 = time.monotonic()
    async with limiter.slot() as waited:
        assert waited < 0.05
        await asyncio.sleep(0.2)  # a slow request keeps its slot until 0.3 s after it finished
    async with limiter.slot():
        pass
    async with limiter.slot():  # third request: waits for the first slot, freed at ~0.5 s
        pass
    assert time.monotonic() - t0 >= 0.49
    limiter.pause(0.2)
    t1 = time.monotonic()
    async with limiter.slot():
        pass
    assert time.monotonic() - t1 >= 0.19


async def test_responses_are_cached_until_the_ttl(online: FakeCatalog) -> None:
    clock = [1000.0]
    cache = ResponseCache(get_settings().catalog_cache_dir / "http", ttl=60, clock=lambda: clock[0])
    async with CatalogClient(cache=cache) as c:
        a = await c.score("PGS004255")
        b = await c.score("PGS004255")
        assert c.stats.cache_hits == 1
        assert online.count("/rest/score/PGS004255") == 1
        clock[0] += 61
        await c.score("PGS004255")
        assert online.count("/rest/score/PGS004255") == 2
    assert a == b
    entries = list((get_settings().catalog_cache_dir / "http").rglob("*.json"))
    assert len(entries) == 1 and not list((get_settings().catalog_cache_dir / "http").rglob("*.tmp"))


async def test_stale_cache_is_served_only_when_the_catalog_is_down(online: FakeCatalog) -> None:
    clock = [1000.0]
    cache = ResponseCache(get_settings().catalog_cache_dir / "http", ttl=60, clock=lambda: clock[0])
    async with CatalogClient(cache=cache) as c:
        await c.score("PGS000001")
        clock[0] += 3600
        online.add_fault("/rest/score/PGS000001", "status", status=500, times=10)
        s = await c.score("PGS000001")
        assert c.stats.stale_hits == 1
    assert s.id == "PGS000001"


async def test_zero_ttl_disables_the_cache(online: FakeCatalog) -> None:
    cache = ResponseCache(get_settings().catalog_cache_dir / "http", ttl=0)
    async with CatalogClient(cache=cache) as c:
        await c.score("PGS000001")
        await c.score("PGS000001")
    assert online.count("/rest/score/PGS000001") == 2


def test_cache_key_ignores_parameter_order(tmp_path) -> None:
    cache = ResponseCache(tmp_path, ttl=60)
    cache.put("http://x/rest/score/search?trait_id=EFO_1&limit=2", {"ok": 1})
    assert cache.get("http://x/rest/score/search?limit=2&trait_id=EFO_1").body == {"ok": 1}
    assert normalize_url("http://x/a?b=1&a=2#frag") == "http://x/a?a=2&b=1"
    # a damaged entry is dropped, not fatal
    cache.path_for("http://x/broken").parent.mkdir(parents=True, exist_ok=True)
    cache.path_for("http://x/broken").write_text("{not json")
    assert cache.get("http://x/broken") is None
    assert not cache.path_for("http://x/broken").exists()


async def test_timeouts_are_retried(online: FakeCatalog, monkeypatch) -> None:
    monkeypatch.setenv("PRSGAZER_CATALOG_TIMEOUT", "0.3")
    from prsgazer.config import reset_settings

    reset_settings()
    online.add_fault("/rest/score/PGS001229", "slow", delay=1.0)
    async with CatalogClient() as c:
        s = await c.score("PGS001229")
        assert c.stats.retries == 1
    assert s.name == "GBE_INI50"


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://127.0.0.1:9/rest/", "the connection was refused"),
     ("http://prsgazer-unreachable.invalid/rest/", "the name does not resolve")],
)  # fmt: skip
async def test_unreachable_catalog_fails_at_once(env, monkeypatch, url: str, why: str) -> None:
    """What waiting cannot fix (nothing listens, the name does not resolve) is not retried: a clear
    UnreachableError (exit code 3) within a few seconds, whatever the retry settings."""
    import time

    from prsgazer.config import reset_settings
    from prsgazer.errors import UnreachableError

    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", url)
    monkeypatch.setenv("PRSGAZER_CATALOG_RETRIES", "6")
    monkeypatch.setenv("PRSGAZER_CATALOG_BACKOFF", "2")
    reset_settings()
    t0 = time.monotonic()
    async with CatalogClient() as c:
        with pytest.raises(UnreachableError) as exc:
            await c.score("PGS000001")
        assert c.stats.retries == 0
    assert time.monotonic() - t0 < 5
    assert why in str(exc.value) and url.split("/rest")[0] in str(exc.value) and "offline" in str(exc.value)
    assert exc.value.exit_code == 3 and isinstance(exc.value, CatalogError)
