"""The same agent session over every transport: in-process, a stdio subprocess, and HTTP on 127.0.0.1.

Each session uploads the CINECA VCF and a scoring file, runs `cohort_scores`, reads the result back
and checks its numbers equal the engine's on the same files, then asks for the explanation.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import polars as pl
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from .conftest import engine_sums, serve_command, server_env, upload_inputs

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def agent_session(c: Any, inputs: Path) -> None:
    vcf_cid, _ = await upload_inputs(c)
    tools = {t.name for t in await c.list_tools()}
    assert {"run_workflow", "explain_result", "upload_file"} <= tools
    run = await c.call_tool(
        "run_workflow", {"name": "cohort_scores", "inputs": {"vcf_cid": vcf_cid, "pgs_ids": ["PGS001229"]}}
    )
    (result,) = run.structured_content["outputs"]["results"]
    got = (await c.call_tool("download_file", {"cid": result["cid"]})).structured_content
    table = pl.read_csv(got["path"], separator="\t")
    want = engine_sums(inputs / "cineca.vcf.gz", inputs / "PGS001229_22.txt")
    assert {r["sample_id"]: (r["sum"], r["avg"]) for r in table.iter_rows(named=True)} == want
    explained = (await c.call_tool("explain_result", {"cid": result["cid"]})).structured_content
    assert explained["n_samples"] == 2504 and "2504 samples scored with PGS001229" in explained["text"]


async def test_in_process(client, inputs: Path) -> None:
    await agent_session(client, inputs)


async def test_stdio_subprocess(inputs: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    transport = StdioTransport(
        command=sys.executable, args=serve_command()[1:], env=server_env(), cwd=str(tmp_path), log_file=log
    )
    async with Client(transport, timeout=120) as c:
        await agent_session(c, inputs)
    assert "Traceback" not in log.read_text()


def start_http(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`prsgazer serve --http --port 0 …` as a subprocess; returns it with the URL it printed first."""
    with (tmp_path / "http-stderr.log").open("w") as err:
        proc = subprocess.Popen(
            serve_command("--http", "--port", "0", *args),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=server_env(**env),
            cwd=tmp_path,
        )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first:
        stop(proc)
        raise AssertionError(f"server exited ({proc.returncode}): {(tmp_path / 'http-stderr.log').read_text()}")
    assert first.startswith("prsgazer MCP server listening on http://127.0.0.1:"), first
    return proc, first.split(" on ", 1)[1].split()[0]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def http_server(inputs: Path, tmp_path: Path) -> Iterator[str]:
    proc, url = start_http(tmp_path)
    try:
        yield url
    finally:
        stop(proc)


async def test_http_on_loopback(http_server: str, inputs: Path) -> None:
    assert http_server.endswith("/mcp")
    async with Client(StreamableHttpTransport(http_server), timeout=120) as c:
        await agent_session(c, inputs)


async def test_http_refuses_foreign_hosts_and_origins(inputs: Path, tmp_path: Path) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends Host and Origin of its own.
    Both are refused before any tool runs; the server's own names and loopback origins still work,
    and PRSGAZER_MCP_ALLOWED_HOSTS / _ORIGINS widen the lists."""
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    call = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    proc, url = start_http(
        tmp_path, PRSGAZER_MCP_ALLOWED_HOSTS="prs.internal", PRSGAZER_MCP_ALLOWED_ORIGINS="https://app.example"
    )
    port = url.split(":")[2].split("/")[0]
    try:
        async with httpx2.AsyncClient() as h:
            async def status(**headers: str) -> int:
                r = await h.post(url, json=call, headers={**accept, **headers})
                return r.status_code

            assert await status(Host=f"evil.example:{port}") == 421
            assert await status(Origin="http://evil.example") == 403
            assert await status(Host=f"evil.example:{port}", Origin="http://evil.example") == 421
            assert await status() == 200  # the server's own address
            assert await status(Host=f"localhost:{port}", Origin=f"http://localhost:{port}") == 200
            assert await status(Origin="http://127.0.0.1:3000") == 200  # a loopback page (e.g. a local inspector)
            assert await status(Host=f"prs.internal:{port}") == 200
            assert await status(Origin="https://app.example") == 200
    finally:
        stop(proc)
    assert "Traceback" not in (tmp_path / "http-stderr.log").read_text()


@pytest.fixture
def http_server_with_token(inputs: Path, tmp_path: Path) -> Iterator[str]:
    proc, url = start_http(tmp_path, PRSGAZER_MCP_TOKEN="s3cret-token")
    try:
        yield url
    finally:
        stop(proc)


async def test_http_bearer_token(http_server_with_token: str) -> None:
    url = http_server_with_token
    async with httpx2.AsyncClient() as h:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = await h.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
            assert r.status_code == 401
    with pytest.raises(Exception):  # noqa: B017 - the client reports the 401 in its own way
        async with Client(StreamableHttpTransport(url, auth="wrong"), timeout=20) as c:
            await c.list_tools()
    async with Client(StreamableHttpTransport(url, auth="s3cret-token"), timeout=60) as c:
        assert "run_workflow" in {t.name for t in await c.list_tools()}


def test_http_refuses_an_open_interface_without_a_token(inputs: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        serve_command("--http", "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        env=server_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a bearer token" in done.stderr and "PRSGAZER_MCP_TOKEN" in done.stderr


def test_serve_options_need_http(inputs: Path, tmp_path: Path) -> None:
    t0 = time.monotonic()
    done = subprocess.run(
        serve_command("--port", "9"), capture_output=True, text=True, env=server_env(), cwd=tmp_path, timeout=120
    )
    assert done.returncode == 2 and "--host and --port need --http" in done.stderr
    assert time.monotonic() - t0 < 60
