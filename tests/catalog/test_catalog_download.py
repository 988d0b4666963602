"""Scoring-file downloads: verification before storing, retries, resume, cached copies."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from conftest import missing
from prsgazer.assets import ScoringFile
from prsgazer.catalog import (
    CatalogClient,
    download_scoring_file,
    download_scoring_files,
    verify_scoring_file,
)
from prsgazer.config import get_settings
from prsgazer.errors import CatalogError, DownloadError, InputError, NotFoundError
from prsgazer.storage import cid_of_bytes, default_store

from .catalog_fake import FakeCatalog, data_dir

pytestmark = pytest.mark.anyio

HM37 = FakeCatalog.file_path("PGS000001", "GRCh37")


def _leftovers() -> list[Path]:
    d = get_settings().catalog_cache_dir / "downloads"
    return sorted(d.iterdir()) if d.exists() else []


def _stored_scoring_files() -> list:
    return default_store().query(asset="scoring_file")


async def test_harmonised_download_is_verified_and_stored(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS000001", build="hg19")
    a = r.asset
    assert isinstance(a, ScoringFile)
    assert r.cached is False and r.build == "GRCh37"
    assert a.cid == cid_of_bytes(online.files[HM37])  # the stored bytes are exactly the served file
    assert (a.pgs_id, a.pgs_name, a.trait, a.trait_efo) == (
        "PGS000001",
        "PRS77_BC",
        "Breast cancer",
        ["EFO_0000305"],
    )
    assert (a.hm_build, a.genome_build, a.n_variants, a.source) == ("GRCh37", "", 77, "pgs_catalog")
    assert a.filename == "PGS000001_hmPOS_GRCh37.txt.gz"
    assert Path(a.path).read_bytes() == online.files[HM37]
    assert online.count(HM37 + ".md5") == 1
    assert _leftovers() == []


async def test_a_stored_file_is_not_downloaded_again(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        first = await download_scoring_file(c, "PGS000001", build="GRCh37")
        again = await download_scoring_file(c, "PGS000001", build="GRCh37")
        other_build = await download_scoring_file(c, "PGS000001", build="GRCh38")
        forced = await download_scoring_file(c, "PGS000001", build="GRCh37", force=True)
    assert again.cached is True and again.asset.cid == first.asset.cid
    assert other_build.cached is False and other_build.asset.hm_build == "GRCh38"
    assert forced.cached is False and forced.asset.cid == first.asset.cid
    assert online.count(HM37) == 2  # first + forced
    assert len(_stored_scoring_files()) == 2


async def test_author_reported_file_gzipped_on_the_fly(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS001229", author_reported=True, build="GRCh37")
    a = r.asset
    assert (a.hm_build, a.genome_build, a.n_variants) == (
        "",
        "GRCh37",
        835,
    )  # header says 51209: chr22 subset
    assert a.filename == "PGS001229.txt.gz"


async def test_author_reported_in_another_build_is_refused(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        with pytest.raises(DownloadError, match="published in GRCh37, not GRCh38") as exc:
            await download_scoring_file(c, "PGS001229", author_reported=True, build="GRCh38")
    assert "drop --author-reported" in str(exc.value)
    assert online.count(FakeCatalog.file_path("PGS001229", None)) == 1  # not retried
    assert _stored_scoring_files() == [] and _leftovers() == []


async def test_dominant_recessive_and_dosage_files(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        dom = await download_scoring_file(c, "PGS000802", build="GRCh37")  # plain text, served gzipped
        dosage = await download_scoring_file(c, "PGS004255", build="GRCh38")
    assert (dom.asset.n_variants, dom.asset.trait) == (19, "Colorectal cancer")
    assert (dosage.asset.n_variants, dosage.asset.genome_build, dosage.asset.weight_type) == (
        30,
        "GRCh37",
        "beta",
    )


async def test_interrupted_transfer_resumes_with_a_range_request(online: FakeCatalog) -> None:
    path = FakeCatalog.file_path("PGS000002", "GRCh38")
    online.add_fault(path, "cut")
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS000002", build="GRCh38")
        assert c.stats.resumed == 1
    hits = [h for h in online.hits if h.path == path]
    assert [h.range is not None for h in hits] == [False, True]
    half = len(online.files[path]) // 2
    assert hits[1].range == f"bytes={half}-"
    assert r.asset.cid == cid_of_bytes(online.files[path])


async def test_truncated_gzip_is_retried_and_never_stored(online: FakeCatalog) -> None:
    online.serve_md5 = False  # let the gzip check, not the checksum, find the damage
    online.add_fault(HM37, "truncate_gzip")
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS000001", build="GRCh37")
        assert c.stats.retries == 1
    assert online.count(HM37) == 2
    assert r.asset.cid == cid_of_bytes(online.files[HM37])
    assert len(_stored_scoring_files()) == 1 and _leftovers() == []


async def test_a_download_that_stays_corrupt_gives_up(online: FakeCatalog) -> None:
    online.serve_md5 = False
    online.add_fault(HM37, "truncate_gzip", times=10)
    async with CatalogClient() as c:
        with pytest.raises(DownloadError, match="gave up after 4 attempts: gzip data is truncated or corrupt"):
            await download_scoring_file(c, "PGS000001", build="GRCh37")
    assert online.count(HM37) == 4
    assert _stored_scoring_files() == [] and _leftovers() == []


async def test_checksum_mismatch_is_retried(online: FakeCatalog) -> None:
    online.add_fault(HM37, "truncate_gzip")  # md5 sidecar on: the checksum catches it first
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS000001", build="GRCh37")
    assert r.asset.cid == cid_of_bytes(online.files[HM37])
    assert online.count(HM37) == 2


async def test_empty_response_is_retried(online: FakeCatalog) -> None:
    online.add_fault(HM37, "empty")
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS000001", build="GRCh37")
    assert r.asset.n_variants == 77 and online.count(HM37) == 2


async def test_wrong_score_in_the_file_is_refused_at_once(online: FakeCatalog) -> None:
    online.serve_md5 = False
    path = FakeCatalog.file_path("PGS000002", "GRCh37")
    online.add_fault(path, "substitute", source=HM37, times=10)
    async with CatalogClient() as c:
        with pytest.raises(DownloadError, match="header says pgs_id='PGS000001', but PGS000002 was requested"):
            await download_scoring_file(c, "PGS000002", build="GRCh37")
    assert online.count(path) == 1
    assert _stored_scoring_files() == [] and _leftovers() == []


async def test_wrong_build_in_the_file_is_refused(online: FakeCatalog) -> None:
    online.serve_md5 = False
    online.add_fault(HM37, "substitute", source=FakeCatalog.file_path("PGS000001", "GRCh38"))
    async with CatalogClient() as c:
        with pytest.raises(DownloadError, match="#HmPOS_build is 'GRCh38', but GRCh37 was requested"):
            await download_scoring_file(c, "PGS000001", build="GRCh37")
    assert _stored_scoring_files() == []


async def test_missing_file_is_not_found(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        with pytest.raises(NotFoundError, match="no such file"):
            await download_scoring_file(c, "PGS000802", build="GRCh38")
    assert online.count(FakeCatalog.file_path("PGS000802", "GRCh38")) == 1


async def test_server_errors_on_files_are_retried(online: FakeCatalog) -> None:
    online.add_fault(HM37, "status", status=503, times=2)
    async with CatalogClient() as c:
        r = await download_scoring_file(c, "PGS000001", build="GRCh37")
    assert r.asset.n_variants == 77 and online.count(HM37) == 3


async def test_build_is_required_for_harmonised_files(online: FakeCatalog) -> None:
    async with CatalogClient() as c:
        with pytest.raises(InputError, match="need --build GRCh37 or GRCh38"):
            await download_scoring_file(c, "PGS000001")
        with pytest.raises(InputError, match="unknown genome build"):
            await download_scoring_file(c, "PGS000001", build="GRCh99")
    assert online.hits == []


async def test_many_downloads_store_the_good_and_report_the_bad(online: FakeCatalog) -> None:
    results = await download_scoring_files(["PGS000001", "pgs000002"], build="GRCh38")
    assert [(r.pgs_id, r.asset.hm_build) for r in results] == [
        ("PGS000001", "GRCh38"),
        ("PGS000002", "GRCh38"),
    ]
    with pytest.raises(CatalogError, match=r"2 of 3 downloads failed: PGS000802: .*PGS001229: ") as exc:
        await download_scoring_files(["PGS000802", "PGS001229", "PGS004255"], build="GRCh38")
    assert "stored: PGS004255" in str(exc.value)
    assert {a.pgs_id for a in _stored_scoring_files()} == {"PGS000001", "PGS000002", "PGS004255"}


def test_verifier_on_local_files(tmp_path: Path) -> None:
    src = data_dir() / "scorefiles" / "PGS000001_hmPOS_GRCh38.txt.gz"
    if not src.exists():
        missing("shared data absent")
    good = verify_scoring_file(src, pgs_id="PGS000001", build="GRCh38")
    assert good.n_rows == 77 and good.header.HmPOS_build == "GRCh38"
    plain = tmp_path / "plain.txt.gz"
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    with pytest.raises(DownloadError, match="not gzip") as e1:
        verify_scoring_file(plain, pgs_id="PGS000001", build="GRCh38")
    assert e1.value.retryable
    header_only = tmp_path / "header.txt.gz"
    lines = gzip.decompress(src.read_bytes()).decode().splitlines(keepends=True)
    header_only.write_bytes(gzip.compress("".join(lines[:20]).encode()))
    with pytest.raises(DownloadError, match="no variant rows") as e2:
        verify_scoring_file(header_only, pgs_id="PGS000001", build="GRCh38")
    assert not e2.value.retryable


async def test_fetch_task_in_a_flyte_run_does_not_retry_what_the_client_gave_up_on(online: FakeCatalog) -> None:
    """The client retries with backoff (PRSGAZER_CATALOG_RETRIES=3 here: 4 attempts); once it gives up,
    the task fails for good instead of Flyte retrying it (which would multiply the attempts and the wait)."""
    from prsgazer import runner
    from prsgazer.errors import PrsgazerError

    online.add_fault(HM37, "status", status=503, times=100)
    with pytest.raises(PrsgazerError, match="PGS000001"):
        await runner.run("fetch_scoring_file", {"pgs_id": "PGS000001", "build": "GRCh37"})
    assert online.count(HM37) == 4
    assert _stored_scoring_files() == []
