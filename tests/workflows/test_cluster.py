"""Launching on a cluster: `prsgazer run … --remote` and the MCP `run_workflow(remote=True)` say what to
configure when there is no cluster, no shared store or credentials in the forwarded options; and the
issue's acceptance run: a second machine with an empty PRSGAZER_HOME on the same `file://` remote gets
the same report CID from what the remote holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prsgazer.config import reset_settings

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_remote_runs_say_what_to_configure(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from prsgazer.cli import main

    monkeypatch.delenv("FLYTE_ADMIN_ENDPOINT", raising=False)
    args = ["run", "cohort_scores", "--remote", "--pgs-ids", "PGS000001", "--genotypes-cid", "bafkreixyz"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no Flyte cluster is configured" in err and ".flyte/config.yaml" in err and "admin.endpoint" in err
    assert "FLYTE_ADMIN_ENDPOINT" in err and "docs/cluster.md" in err

    monkeypatch.setenv("FLYTE_ADMIN_ENDPOINT", "dns:///flyte.example.org")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "field 'PRSGAZER_REMOTE'" in err and "shared store" in err

    monkeypatch.setenv("PRSGAZER_REMOTE", "s3://lab-bucket/prsgazer")
    options = {"endpoint_url": "https://minio", "key": "AK", "client_kwargs": {"aws_secret_access_key": "S"}}
    monkeypatch.setenv("PRSGAZER_REMOTE_OPTIONS", json.dumps(options))
    reset_settings()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds credentials (client_kwargs.aws_secret_access_key, key)" in err and "Flyte secrets" in err


async def test_mcp_run_workflow_remote_without_a_cluster_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastmcp import Client
    from fastmcp.exceptions import ToolError

    from prsgazer.server import build_server

    monkeypatch.delenv("FLYTE_ADMIN_ENDPOINT", raising=False)
    async with Client(build_server()) as client:
        with pytest.raises(ToolError, match="no Flyte cluster is configured"):
            inputs = {"pgs_ids": ["PGS000001"], "genotypes_cid": "bafk"}
            await client.call_tool("run_workflow", {"name": "cohort_scores", "remote": True, "inputs": inputs})


def _machine(home: Path, remote: str) -> dict[str, str]:
    """A machine's environment: its own store and cache, its own Flyte local cache, the shared remote."""
    (home / "flyte").mkdir(parents=True, exist_ok=True)
    (home / "flyte" / "config.yaml").write_text("task:\n  project: prsgazer\n  domain: development\n")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PRSGAZER_", "FLYTE"))}
    return {**keep, "PRSGAZER_HOME": str(home / "store"), "PRSGAZER_CACHE_DIR": str(home / "cache"),
            "PRSGAZER_REMOTE": remote, "FLYTECTL_CONFIG": str(home / "flyte" / "config.yaml"),
            "DO_NOT_TRACK": "1"}  # fmt: skip


def _prsgazer(env: dict[str, str], cwd: Path, *args: str) -> str:
    exe = Path(sys.executable).parent / "prsgazer"
    proc = subprocess.run([str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_a_second_machine_gets_the_same_report_from_the_shared_remote(tmp_path: Path) -> None:
    remote = f"file://{tmp_path / 'shared'}"
    report = ["run", "prs_report", "--sample-id", "DEMO_PERSON", "--pgs-ids", "DEMO001,DEMO002", "--panel",
              "demo_panel", "--json"]  # fmt: skip
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    env_a = _machine(a, remote)
    _prsgazer(env_a, a, "bundle", "fetch", "demo")  # stored on A and pushed to the remote
    first = json.loads(_prsgazer(env_a, a, *report))["outputs"]
    env_b = _machine(b, remote)
    second = json.loads(_prsgazer(env_b, b, *report))["outputs"]
    assert second["cid"] == first["cid"] and second["asset"] == "prs_report"
    assert first["metrics"]["cached"] is False and second["metrics"]["cached"] is True  # B computed nothing
    assert not (b / "store" / "blobs").exists() or len(list((b / "store" / "blobs").iterdir())) < len(
        list((a / "store" / "blobs").iterdir())
    )  # B fetched only what its steps read
