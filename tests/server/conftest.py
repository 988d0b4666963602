"""Fixtures for the MCP server tests: an allowed upload directory with real data, an in-process client.

Every test has its own PRSGAZER_HOME (tests/conftest.py); subprocess servers get the same environment.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from prsgazer.config import reset_settings

CINECA_VCF = "genomes/cineca/cineca_synthetic_subset.vcf.gz"
HEIGHT = "scorefiles/PGS001229_22.txt"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def inputs(isolated_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The only allowed upload directory, holding copies of the CINECA VCF and the PGS001229 scoring file."""
    d = isolated_env / "inputs"
    d.mkdir()
    shutil.copy(shared_data / CINECA_VCF, d / "cineca.vcf.gz")
    shutil.copy(shared_data / HEIGHT, d / "PGS001229_22.txt")
    monkeypatch.setenv("PRSGAZER_MCP_ALLOWED_DIRS", str(d))
    monkeypatch.setenv("PRSGAZER_MCP_MAX_UPLOAD_BYTES", str(5 * 1024 * 1024))
    reset_settings()
    return d


@pytest.fixture
async def client(inputs: Path) -> AsyncIterator[Any]:
    """A FastMCP client connected in-process to a freshly built server."""
    from fastmcp import Client

    from prsgazer.server import build_server

    async with Client(build_server()) as c:
        yield c


def server_env(**extra: str) -> dict[str, str]:
    """The test's environment (isolated home, allowed dirs) for a `prsgazer serve` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(FASTMCP_CHECK_FOR_UPDATES="off", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1", **extra)
    return env


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "prsgazer", "serve", *args]


async def upload_inputs(c: Any) -> tuple[str, str]:
    """Upload the CINECA VCF and the height scoring file through the tools; their CIDs."""
    vcf = await c.call_tool("upload_file", {"path": "cineca.vcf.gz", "keyvalues": {"genome_build": "GRCh37"}})
    sf = await c.call_tool(
        "upload_file",
        {
            "path": "PGS001229_22.txt",
            "keyvalues": {"asset": "scoring_file", "pgs_id": "PGS001229", "genome_build": "GRCh37"},
        },
    )
    return vcf.structured_content["file"]["cid"], sf.structured_content["file"]["cid"]


def engine_sums(vcf_path: Path, scorefile: Path, build: str = "GRCh37") -> dict[str, Any]:
    """The engine's own numbers for the same inputs (sample → (sum, avg))."""
    from prsgazer.engine.scoring.run import run_scoring
    from prsgazer.ops.params import ScoreParams, Tuning, run_options

    run = run_scoring(vcf_path, [scorefile], run_options(ScoreParams(), Tuning.from_settings(), build=build))
    return {r["sample_id"]: (r["sum"], r["avg"]) for r in run.table.to_dicts()}


@pytest.fixture
def catalog(fake_catalog_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings pointing at a fake PGS Catalog on 127.0.0.1 (REST API, file server, bulk metadata)."""
    fake_catalog_server.reset()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", fake_catalog_server.rest_url)
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", fake_catalog_server.ftp_url)
    monkeypatch.setenv("PRSGAZER_CATALOG_RETRIES", "1")
    monkeypatch.setenv("PRSGAZER_CATALOG_BACKOFF", "0.01")
    monkeypatch.setenv("PRSGAZER_CATALOG_RATE_LIMIT", "1000")
    monkeypatch.setenv("PRSGAZER_CATALOG_RATE_PERIOD", "1")
    reset_settings()
    yield fake_catalog_server
    fake_catalog_server.reset()
