"""MCP server under load (issue 14): N clients × M tool calls over streamable HTTP on loopback.

Run: `uv run python bench/bench_mcp_load.py [--clients 8] [--calls 100]`.

Starts `prsgazer serve --http --port 0` as a subprocess with its own PRSGAZER_HOME / PRSGAZER_CACHE_DIR
(a temp dir, removed afterwards), stores a few small synthetic files in it, then runs N concurrent
FastMCP clients, each making M calls in a fixed rotation of store-reading tools — `query_files`,
`list_tasks`, `lineage`, `download_file` (which re-verifies the blob and writes a copy) — and checks
every answer (the CID it asked for, the bytes of the copy). Prints the number of calls, errors
(exceptions or wrong answers), throughput and latency percentiles (p50, p95, p99, max).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("DO_NOT_TRACK", "1")


def _populate(home: Path, cache: Path, n_files: int) -> list[tuple[str, bytes]]:
    """Store `n_files` small synthetic scoring files in the server's home; returns (CID, bytes)."""
    env = {**os.environ, "PRSGAZER_HOME": str(home), "PRSGAZER_CACHE_DIR": str(cache)}
    code = f"""
import sys
from pathlib import Path
from prsgazer.storage import LocalStore
from prsgazer.synthetic.files import random_cohort, random_score, write_scorefile
store = LocalStore({str(home)!r})
cohort = random_cohort(1, 300, seed=1)
for k in range({n_files}):
    p = write_scorefile(random_score(cohort, 100, seed=k).rows, Path({str(cache)!r}) / f"S{{k}}.txt", pgs_id=f"S{{k}}")
    a = store.put(p, "scoring_file", pgs_id=f"S{{k}}", genome_build="GRCh37")
    print(a.cid, p)
"""
    cache.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    pairs = []
    for line in out.split("\n"):
        if line.strip():
            cid, path = line.split(" ", 1)
            pairs.append((cid, Path(path).read_bytes()))
    return pairs


def _start(home: Path, cache: Path, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PRSGAZER_HOME": str(home), "PRSGAZER_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "prsgazer", "serve", "--http", "--port", "0"]
    with open(workdir / "server-stderr.log", "w") as err:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=workdir)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("prsgazer MCP server listening on "):
        proc.kill()
        raise SystemExit(f"the server did not start: {first!r}\n{(workdir / 'server-stderr.log').read_text()}")
    return proc, first.split(" on ", 1)[1].split()[0]


async def _client(url: str, k: int, calls: int, files: list[tuple[str, bytes]], lat: list[float],
                  errors: list[str]) -> None:  # fmt: skip
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    async with Client(StreamableHttpTransport(url), timeout=120) as c:
        for i in range(calls):
            cid, data = files[(k + i) % len(files)]
            kind = i % 4
            t = time.perf_counter()
            try:
                if kind == 0:
                    kv = {"keyvalues": {"asset": "scoring_file"}}
                    got: Any = (await c.call_tool("query_files", kv)).structured_content
                    ok = got["n_total"] == len(files)
                elif kind == 1:
                    got = (await c.call_tool("list_tasks", {})).structured_content
                    ok = bool(got["tasks"])
                elif kind == 2:
                    got = (await c.call_tool("lineage", {"cid": cid})).structured_content
                    ok = got["root"]["cid"] == cid
                else:
                    got = (await c.call_tool("download_file", {"cid": cid})).structured_content
                    ok = Path(got["path"]).read_bytes() == data
                if not ok:
                    errors.append(f"client {k} call {i}: wrong answer from tool #{kind}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                errors.append(f"client {k} call {i}: {type(exc).__name__}: {exc}")
            lat.append(time.perf_counter() - t)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def _load(
    url: str, clients: int, calls: int, files: list[tuple[str, bytes]]
) -> tuple[list[float], list[str], float]:
    lat: list[float] = []
    errors: list[str] = []
    t = time.perf_counter()
    await asyncio.gather(*(_client(url, k, calls, files, lat, errors) for k in range(clients)))
    return lat, errors, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--files", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsgazer-mcp-load-") as tmp:
        d = Path(tmp)
        files = _populate(d / "home", d / "cache", a.files)
        proc, url = _start(d / "home", d / "cache", d)
        try:
            asyncio.run(_load(url, 1, 4, files))  # warm-up: imports, first connection
            lat, errors, wall = asyncio.run(_load(url, a.clients, a.calls, files))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = (d / "server-stderr.log").read_text()
    n = len(lat)
    load = os.getloadavg()[0]
    print(f"MCP over streamable HTTP on loopback ({url.split('/mcp')[0]}), {os.cpu_count()} cores, load {load:.1f}")
    tools = "query_files, list_tasks, lineage, download_file"
    print(f"clients × calls        {a.clients} × {a.calls} = {n} calls ({tools})")
    print(f"errors                 {len(errors)}")
    print(f"wall                   {wall:.1f} s   ({n / wall:.0f} calls/s)")
    print(f"latency p50 / p95      {1000 * _pct(lat, 0.5):.0f} ms / {1000 * _pct(lat, 0.95):.0f} ms")
    print(f"latency p99 / max      {1000 * _pct(lat, 0.99):.0f} ms / {1000 * max(lat):.0f} ms   "
          f"(mean {1000 * statistics.fmean(lat):.0f} ms)")  # fmt: skip
    print(f"server tracebacks      {log.count('Traceback')}")
    for e in errors[:10]:
        print("  " + e)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
