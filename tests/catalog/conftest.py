"""Fixtures for the catalog tests: a fake PGS Catalog on 127.0.0.1 and isolated settings/store.

Nothing here touches the internet: every URL points at the local server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import missing
from prsgazer.config import reset_settings

from .catalog_fake import FakeCatalog, data_dir

DATA = data_dir()
SCOREFILES = DATA / "scorefiles"


def _require_data() -> None:
    if not (SCOREFILES / "PGS000001.txt.gz").exists():
        missing(f"shared test data not found at {DATA} (expected ../shared/data beside the repo)")


@pytest.fixture
def fake(fake_catalog_server: FakeCatalog) -> Iterator[FakeCatalog]:
    """The fake catalog, with faults and request log cleared for this test."""
    _require_data()
    fake_catalog_server.reset()
    yield fake_catalog_server
    fake_catalog_server.reset()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolated PRSGAZER_HOME / cache and fast retry settings; proxies off."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PRSGAZER_CATALOG_RETRIES", "3")
    monkeypatch.setenv("PRSGAZER_CATALOG_BACKOFF", "0.01")
    monkeypatch.setenv("PRSGAZER_CATALOG_BACKOFF_MAX", "0.05")
    monkeypatch.setenv("PRSGAZER_CATALOG_RATE_LIMIT", "1000")
    monkeypatch.setenv("PRSGAZER_CATALOG_RATE_PERIOD", "1")
    monkeypatch.setenv("PRSGAZER_CATALOG_TIMEOUT", "10")
    monkeypatch.setenv("PRSGAZER_CATALOG_READ_TIMEOUT", "5")
    # unreachable by default: tests that talk to a catalog use the `online` fixture
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", "http://127.0.0.1:9/rest/")
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", "http://127.0.0.1:9/pub/databases/spot/pgs/")
    reset_settings()
    yield tmp_path
    reset_settings()


@pytest.fixture
def online(env: Path, fake: FakeCatalog, monkeypatch: pytest.MonkeyPatch) -> FakeCatalog:
    """Settings pointing at the fake catalog."""
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", fake.rest_url)
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", fake.ftp_url)
    reset_settings()
    return fake


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
