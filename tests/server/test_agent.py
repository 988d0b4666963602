"""An agent that has read nothing but the tools: a realistic conversation through a real MCP client.

The user says only: "my whole-genome VCF is me.vcf.gz; what does it say about breast cancer?". The server's world
holds what a deployed server has: the PGS Catalog (the local fake), its metadata stored, and an
installed reference panel. Every argument the agent passes comes from the tool list, the server's
instructions or an earlier result (CIDs, fields, ids, names in error hints) — nothing out of band. The
report's numbers are then checked against the engine called directly on the same files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from loguru import logger

from prsgazer.config import reset_settings

pytestmark = pytest.mark.anyio

COVERED = ["PGS000001_hmPOS_GRCh38.txt.gz", "PGS000002_hmPOS_GRCh38.txt.gz"]


@pytest.fixture(scope="module")
def covered_panel(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An installed panel (PANELS_DIR/covered38) whose SNPs include the breast-cancer scores' sites, and a
    held-out person of the same simulation."""
    from prsgazer.synthetic.simulate import cover_sites, synthesize_panel

    panels = tmp_path_factory.mktemp("panels")
    sites = cover_sites([shared_data / "scorefiles" / f for f in COVERED]).sites
    info = synthesize_panel(panels / "covered38" / "covered38", 400, 3000, seed=8, genome_build="GRCh38",
                            n_holdout=1, cover=sites)  # fmt: skip
    (panels / "covered38" / ".installed.json").write_text(
        json.dumps({"name": "covered38", "source": "test", "prefixes": {"covered38": "GRCh38"}})
    )
    assert info.holdout_prefix is not None
    return panels, info.holdout_prefix


@pytest.fixture
def world(inputs: Path, catalog: Any, covered_panel: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the deployed server has: the catalog metadata stored, an installed panel; the user's VCF in the
    allowed directory."""
    import asyncio

    from prsgazer.catalog import pull_metadata
    from prsgazer.synthetic.simulate import write_person_vcf

    panels, holdout = covered_panel
    monkeypatch.setenv("PRSGAZER_PANELS_DIR", str(panels))
    reset_settings()
    asyncio.run(pull_metadata())
    write_person_vcf(holdout, inputs / "me.vcf.gz", sample_index=0, sample_id="ME", genome_build="GRCh38")
    return inputs


def text_of(result: Any) -> dict[str, Any]:
    return result.structured_content


@pytest.mark.slow
async def test_an_agent_gets_from_a_vcf_to_an_explained_report(world: Path) -> None:
    from prsgazer.server import build_server

    log: list[str] = []
    sink = logger.add(lambda m: log.append(str(m)), level="WARNING", format="{level}: {message}")
    try:
        async with Client(build_server()) as c:
            await conversation(c, world, log)
    finally:
        logger.remove(sink)


async def conversation(c: Any, world: Path, log: list[str]) -> None:
    # what the agent knows: the server's instructions and the tool list
    instructions = c.instructions
    tools = {t.name: t for t in await c.list_tools()}
    for name in re.findall(r"\b([a-z]+_[a-z_]+)\b(?=[ (])", instructions):
        if name in {"prs_report", "vcf_cid", "pgs_ids"}:
            continue
        assert name in tools, f"the instructions name {name}, which is no tool"

    # 1. the user's VCF: only its path is known; the file says what it is
    up = text_of(await c.call_tool("upload_file", {"path": "me.vcf.gz"}))
    vcf_cid = up["file"]["cid"]
    assert up["file"]["asset"] == "vcf" and up["detected"]
    build = up["file"]["fields"]["genome_build"]
    sample = up["file"]["fields"]["sample_id"]
    assert (build, sample) == ("GRCh38", "ME")

    # 2. scores for the trait, in the VCF's build (search_scores' schema lists the builds)
    assert set(tools["search_scores"].input_schema["properties"]["build"]["anyOf"][0]["enum"]) == {"GRCh37", "GRCh38"}
    found = text_of(await c.call_tool("search_scores", {"text": "breast cancer", "build": build, "limit": 5}))
    assert not any("downloaded" in n for n in found["notes"])  # stored metadata: no download on this search
    pgs_ids = [h["pgs_id"] for h in found["hits"] if build in h["builds"]][:2]
    assert pgs_ids == ["PGS000001", "PGS000002"]

    # 3. the workflow's parameters, from list_tasks
    flows = text_of(await c.call_tool("list_tasks", {"kind": "workflow"}))
    report = next(t for t in flows["tasks"] if t["name"] == "prs_report")
    params = {p["name"]: p for p in report["params"]}
    assert {"vcf_cid", "pgs_ids", "panel"} <= set(params) and all(p["description"] for p in params.values())

    # 3a. a plausible guess at a panel name fails, and the error says which tool lists the real ones
    guess = {"vcf_cid": vcf_cid, "pgs_ids": pgs_ids, "panel": "1000G"}
    with pytest.raises(ToolError) as failed:
        await c.call_tool("run_workflow", {"name": "prs_report", "inputs": guess})
    message = str(failed.value)
    assert message.startswith("run_workflow bad input:") and "MCP list_panels" in message
    assert "prsgazer " not in message.split("MCP list_panels")[0]  # the MCP way comes first, not a shell command
    assert any("run_workflow bad input" in line and '"1000G"' in line for line in log), log  # the server log says why
    hinted = re.search(r"MCP (\w+)", message)
    assert hinted is not None and hinted.group(1) in tools

    # 3b. follow the hint: an installed panel of the VCF's build
    panels = text_of(await c.call_tool(hinted.group(1), {}))
    usable = [p for p in panels["panels"] if p["installed"] and build in p["build"].split("/")]
    assert [p["name"] for p in usable] == ["covered38"]

    # 4. the report; a variant-only VCF of undeclared coverage leaves the scores' other positions missing, and
    # the error says how to declare what the user said ("whole-genome")
    inputs = {**guess, "panel": usable[0]["name"]}
    with pytest.raises(ToolError) as failed:
        await c.call_tool("run_workflow", {"name": "prs_report", "inputs": inputs})
    message = str(failed.value)
    assert message.startswith("run_workflow bad input: prs_report: no score was computed")
    assert "below the minimum" in message
    assert "declare its coverage as wgs" in message and "stored VCF's coverage field" in message
    # upload_file's description says how to add a field the file cannot tell
    assert '"coverage": "wgs"' in tools["upload_file"].input_schema["properties"]["keyvalues"]["description"]
    again = text_of(await c.call_tool("upload_file", {"path": "me.vcf.gz", "keyvalues": {"coverage": "wgs"}}))
    assert again["file"]["cid"] == vcf_cid and again["already_stored"] and again["file"]["fields"]["coverage"] == "wgs"
    run = text_of(await c.call_tool("run_workflow", {"name": "prs_report", "inputs": inputs}))
    out = run["outputs"]
    assert out["asset"] == "prs_report" and out["n_ok"] == 2 and out["cid"] in run["cids"]

    # 5. its explanation
    ex = text_of(await c.call_tool("explain_result", {"cid": out["cid"]}))
    assert ex["sample_id"] == "ME" and [s["pgs_id"] for s in ex["scores"]] == pgs_ids
    for s in ex["scores"]:
        assert s["trait_kind"] == "disease" and s["percentile"] is not None and s["headline"] in ex["text"]
        assert "will or will not develop" in s["caveats"][-1]
        assert s["quality"] is not None and s["reliability"] in {"low", "moderate", "high"}  # the catalog evaluated it
    assert "not a diagnosis" in ex["text"]

    # the numbers the agent relays are the engine's on the same files
    await same_as_engine(c, world, out, ex)


async def same_as_engine(c: Any, world: Path, out: dict[str, Any], ex: dict[str, Any]) -> None:
    from prsgazer.engine.reference.percentile import panel_percentiles
    from prsgazer.engine.scoring.run import run_scoring
    from prsgazer.ops.params import ScoreParams, Tuning, run_options
    from prsgazer.storage import default_store

    store = default_store()
    doc = json.loads(Path(text_of(await c.call_tool("download_file", {"cid": out["cid"]}))["path"]).read_text())
    files = [Path(store.fetch(s["scoring_file_cid"]).path) for s in doc["scores"]]
    panel = Path(store.fetch(out["panel_cid"]).path).with_suffix("")
    options = run_options(ScoreParams(), Tuning.from_settings(), build="GRCh38", coverage=doc["coverage"] or None,
                          reference=f"{panel}.pgen")  # fmt: skip
    scored = run_scoring(world / "me.vcf.gz", files, options)
    pct, _, _ = panel_percentiles(world / "me.vcf.gz", files, scored, options, panel, every_group=True)
    sums = dict(scored.table.select("pgs_id", "sum").iter_rows())
    group = ex["scores"][0]["reference_group"]
    for s in ex["scores"]:
        assert s["sum"] == pytest.approx(sums[s["pgs_id"]], rel=1e-12, abs=1e-12)
        want = pct.filter((pl.col("pgs_id") == s["pgs_id"]) & (pl.col("superpopulation") == group))
        assert s["percentile"] == pytest.approx(want["percentile"][0])


#: Messages that name a shell command only, on purpose: (module, words of the command, why) — CLI-only
#: operations, or faults of the installation only its operator can repair (no tool an agent calls can).
SHELL_ONLY = [
    ("catalog/search.py", "catalog metadata refresh", "search_traits_local serves `prsgazer catalog traits` only"),
    ("catalog/metadata.py", "catalog metadata pull --force", "refresh is a CLI command"),
    ("catalog/metadata.py", "catalog metadata pull` first", "publishing is a CLI command"),
    ("storage/store.py", "storage push", "a pending push, a corrupt remote copy: the operator's to repair"),
]


def test_no_hint_that_can_reach_an_agent_names_only_a_shell_command() -> None:
    """Every error message outside the CLI that names a `prsgazer …` command also names the MCP way (or says
    it is for a shell), so an agent is never told to run a command it cannot run."""
    import ast

    src = Path(__file__).resolve().parents[2] / "src" / "prsgazer"
    offenders, allowed = [], set()
    for path in src.rglob("*.py"):
        rel = str(path.relative_to(src))
        if rel.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not getattr(node.func, "id", "").endswith("Error"):
                continue
            text = "".join(
                str(n.value) for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            )
            if not re.search(r"`prsgazer [a-z]", text) or "MCP" in text or "shell" in text:
                continue
            why = next((w for m, words, w in SHELL_ONLY if m == rel and words in text), None)
            if why is None:
                offenders.append(f"{rel}:{node.lineno}: {text[:120]}")
            else:
                allowed.add(why)
    assert not offenders, "\n".join(offenders)
    assert allowed == {w for *_, w in SHELL_ONLY}  # every exception is still needed


async def test_the_server_log_records_each_failing_call_with_its_reason(client: Any) -> None:
    log: list[str] = []
    sink = logger.add(lambda m: log.append(str(m)), level="WARNING", format="{level}: {message}")
    try:
        with pytest.raises(ToolError, match=r"list_tasks bad input: argument 'kind'"):
            await client.call_tool("list_tasks", {"kind": "job"})  # refused by the schema, before the tool runs
        with pytest.raises(ToolError, match="explain_result bad input"):
            await client.call_tool("explain_result", {"cid": "not-a-cid"})  # refused by the tool
    finally:
        logger.remove(sink)
    assert any(line.startswith("WARNING: tool list_tasks bad input: argument 'kind'") and '"job"' in line
               for line in log), log  # fmt: skip
    assert any(line.startswith("WARNING: tool explain_result bad input") and "not-a-cid" in line for line in log), log
