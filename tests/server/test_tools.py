"""The MCP tools through a real in-process MCP client (fastmcp.Client(server))."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import polars as pl
import pytest
from fastmcp.exceptions import ToolError

from .conftest import engine_sums, upload_inputs

pytestmark = pytest.mark.anyio

TOOLS = {
    "list_tasks", "run_task", "run_workflow", "upload_file", "query_files", "download_file", "delete_file",
    "lineage", "list_bundles", "fetch_bundle", "list_panels", "search_scores", "score_info", "explain_result",
}  # fmt: skip


async def test_every_tool_is_listed_with_described_parameters(client) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.description, t.name
        assert "ctx" not in t.input_schema.get("properties", {}), t.name
        for name, prop in t.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{t.name}.{name} has no description"
    assert tools["delete_file"].annotations.destructive_hint is True
    assert tools["query_files"].annotations.read_only_hint is True


async def test_list_tasks_comes_from_the_registry(client) -> None:
    from prsgazer import registry

    got = (await client.call_tool("list_tasks", {})).structured_content
    names = {t["name"] for t in got["tasks"]}
    assert names == set(registry.entries())
    assert got["n_workflows"] == sum(e.kind == "workflow" for e in registry.entries().values())
    score = next(t for t in got["tasks"] if t["name"] == "score")
    params = {p["name"]: p for p in score["params"]}
    assert params["genotypes"]["asset"] == "genotypes" and params["genotypes"]["required"]
    assert params["scoring_files"]["type"] == "list[ScoringFile]"
    assert params["min_overlap"]["default"] == -1.0 and "matched fraction" in params["min_overlap"]["description"]
    assert score["output"] == "list[PrsResult]"
    only = (await client.call_tool("list_tasks", {"kind": "workflow"})).structured_content
    assert {t["kind"] for t in only["tasks"]} == {"workflow"} and "cohort_scores" in {t["name"] for t in only["tasks"]}
    cohort = (await client.call_tool("list_tasks", {"category": "cohort"})).structured_content
    assert [t["name"] for t in cohort["tasks"]] == ["cohort_scores"]
    with pytest.raises(ToolError, match=r"no category 'nope'.*known: "):
        await client.call_tool("list_tasks", {"category": "nope"})


async def test_a_new_task_appears_with_no_server_edit(client, monkeypatch) -> None:
    """The server lists and runs whatever the registry holds (here: one extra entry)."""
    from prsgazer import registry
    from prsgazer.registry import Entry, Param

    known = dict(registry.entries())
    extra = Entry(
        name="brand_new", kind="task", category="novel", summary="A task added after the server was written.",
        description="", params=[Param(name="x", type="int", required=True)], output="int", task=None,
    )  # fmt: skip
    monkeypatch.setattr(registry, "entries", lambda: {**known, "brand_new": extra})
    got = (await client.call_tool("list_tasks", {"category": "novel"})).structured_content
    assert got["tasks"][0]["name"] == "brand_new" and got["tasks"][0]["params"][0]["name"] == "x"


async def test_upload_query_run_workflow_and_read_back_equal_the_engine(client, inputs: Path) -> None:
    vcf_cid, sf_cid = await upload_inputs(client)
    again = (await client.call_tool("upload_file", {"path": str(inputs / "cineca.vcf.gz")})).structured_content
    assert again["file"]["cid"] == vcf_cid and again["already_stored"] is True
    q = (await client.call_tool("query_files", {"keyvalues": {"asset": "vcf"}})).structured_content
    assert q["n_total"] == 1 and q["files"][0]["cid"] == vcf_cid and q["files"][0]["fields"]["genome_build"] == "GRCh37"

    steps: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append((progress, total, message))

    res = await client.call_tool(
        "run_workflow",
        {"name": "cohort_scores", "inputs": {"vcf_cid": vcf_cid, "pgs_ids": ["PGS001229"]}},
        progress_handler=on_progress,
    )
    out = res.structured_content
    assert out["kind"] == "workflow" and out["outputs"]["n_ok"] == 1
    (result,) = out["outputs"]["results"]
    assert "task_key" not in result
    assert result["cid"] in out["cids"] and out["outputs"]["genotypes_cid"] in out["cids"]
    assert result["n_matched"] == 782 and result["scoring_file_cid"] == sf_cid
    # progress: strictly increasing, labelled, ends complete
    values = [p for p, _, _ in steps]
    assert values == sorted(set(values)) and len(values) >= 3
    assert steps[0][2] == "cohort_scores: binding inputs" and steps[-1][0] == steps[-1][1]
    assert "finished" in steps[-1][2]

    # read the result back through the tools and compare with the engine on the same inputs
    got = (await client.call_tool("download_file", {"cid": result["cid"]})).structured_content
    table = pl.read_csv(got["path"], separator="\t")
    want = engine_sums(inputs / "cineca.vcf.gz", inputs / "PGS001229_22.txt")
    assert table.height == len(want) == 2504
    for row in table.iter_rows(named=True):
        assert (row["sum"], row["avg"]) == want[row["sample_id"]]

    lin = (await client.call_tool("lineage", {"cid": result["cid"]})).structured_content
    parents = {p["via"]: p for p in lin["root"]["parents"]}
    assert parents["scoring_file_cid"]["cid"] == sf_cid
    assert parents["genotypes_cid"]["parents"][0]["cid"] == vcf_cid


async def test_run_task_binds_assets_by_filters_and_refuses_ambiguity(client, inputs: Path, shared_data) -> None:
    vcf_cid, sf_cid = await upload_inputs(client)
    g = await client.call_tool(
        "run_task", {"name": "normalize_genotypes", "filters": {"vcf": {"genome_build": "GRCh37"}}}
    )
    genotypes = g.structured_content["outputs"]
    assert genotypes["vcf_cid"] == vcf_cid and genotypes["asset"] == "genotypes"
    res = await client.call_tool(
        "run_task",
        {
            "name": "score",
            "filters": {"genotypes": {"vcf_cid": vcf_cid}, "scoring_files": {"pgs_id": "PGS001229"}},
            "inputs": {"min_overlap": 0.5},
        },
    )
    (r,) = res.structured_content["outputs"]
    assert r["n_matched"] == 782 and r["status"] == "ok"

    # a second GRCh37 scoring file makes a single-asset filter ambiguous: an error listing both
    (inputs / "custom37.txt").write_bytes((shared_data / "scorefiles/customgrch37.txt").read_bytes())
    other = await client.call_tool(
        "upload_file",
        {"path": "custom37.txt", "keyvalues": {"asset": "scoring_file", "pgs_id": "custom", "genome_build": "GRCh37"}},
    )
    with pytest.raises(ToolError, match=r"2 assets match .*add filters to pick one") as exc:
        await client.call_tool(
            "run_task",
            {
                "name": "score",
                "filters": {"genotypes": {"vcf_cid": vcf_cid}, "scoring_files": [{"genome_build": "GRCh37"}]},
            },
        )
    assert sf_cid in str(exc.value)
    assert other.structured_content["file"]["cid"] in str(exc.value)


async def test_run_errors_are_clear_tool_errors(client) -> None:
    with pytest.raises(ToolError, match=r"no task or workflow named 'nope'.*known: .*cohort_scores"):
        await client.call_tool("run_workflow", {"name": "nope"})
    with pytest.raises(ToolError, match=r"score is a task, not a workflow.*use run_task"):
        await client.call_tool("run_workflow", {"name": "score"})
    with pytest.raises(ToolError, match=r"cohort_scores is a workflow.*use run_workflow"):
        await client.call_tool("run_task", {"name": "cohort_scores"})
    with pytest.raises(ToolError, match="name the genotypes"):
        await client.call_tool("run_workflow", {"name": "cohort_scores", "inputs": {"pgs_ids": ["PGS001229"]}})
    with pytest.raises(ToolError, match="has no parameter 'colour'"):
        await client.call_tool("run_workflow", {"name": "cohort_scores", "inputs": {"colour": "red"}})
    with pytest.raises(ToolError, match="expected a number"):
        await client.call_tool(
            "run_workflow", {"name": "cohort_scores", "inputs": {"pgs_ids": ["x"], "min_overlap": "lots"}}
        )
    with pytest.raises(ToolError, match="given both in filters and in inputs"):
        await client.call_tool(
            "run_task", {"name": "score", "filters": {"genotypes": {"a": 1}}, "inputs": {"genotypes": "x"}}
        )
    with pytest.raises(ToolError, match="no asset matches"):
        await client.call_tool("run_task", {"name": "normalize_genotypes", "filters": {"vcf": {"sample_id": "nobody"}}})


async def test_a_cancelled_run_stops_and_the_server_keeps_serving(client, monkeypatch) -> None:
    """The client gives up (timeout → cancellation): the run's coroutine is cancelled, the next call works."""
    from prsgazer import runner

    state = {"started": asyncio.Event(), "cancelled": False}

    async def slow_run(name, inputs=None, *, mode="local"):
        state["started"].set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    monkeypatch.setattr(runner, "run", slow_run)
    with pytest.raises(Exception, match="timed out"):
        await client.call_tool("run_workflow", {"name": "cohort_scores", "inputs": {"pgs_ids": ["X"], "vcf_cid": "y"}},
                               timeout=1.5)  # fmt: skip
    for _ in range(50):
        if state["cancelled"]:
            break
        await asyncio.sleep(0.05)
    assert state["started"].is_set() and state["cancelled"]
    assert (await client.call_tool("list_bundles", {})).structured_content["result"][0]["name"] == "demo"


async def test_long_runs_do_not_block_the_event_loop(client, monkeypatch) -> None:
    """While a run works (here: a blocking engine call in a thread), other requests are answered."""
    import time

    from prsgazer import runner

    async def busy_run(name, inputs=None, *, mode="local"):
        await asyncio.to_thread(time.sleep, 2.0)
        return runner.RunOutcome(name=name, kind="workflow", mode=mode, duration_s=2.0, outputs={"cid": "bafk"})

    monkeypatch.setattr(runner, "run", busy_run)
    run = asyncio.create_task(client.call_tool("run_workflow", {"name": "cohort_scores", "inputs": {"pgs_ids": ["X"]}}))
    await asyncio.sleep(0.3)
    t0 = time.perf_counter()
    await client.call_tool("list_bundles", {})
    assert time.perf_counter() - t0 < 1.0 and not run.done()
    assert (await run).structured_content["cids"] == ["bafk"]


async def test_storage_tools(client, inputs: Path) -> None:
    vcf_cid, sf_cid = await upload_inputs(client)
    everything = (await client.call_tool("query_files", {"limit": 1})).structured_content
    assert everything["n_total"] == 2 and len(everything["files"]) == 1 and everything["truncated"]
    anyof = (
        await client.call_tool("query_files", {"keyvalues": {"asset": ["vcf", "scoring_file"]}})
    ).structured_content
    assert anyof["n_total"] == 2
    with pytest.raises(ToolError, match="allowed: "):
        await client.call_tool("query_files", {"keyvalues": {"colour": "red"}})

    got = (await client.call_tool("download_file", {"cid": sf_cid})).structured_content
    assert Path(got["path"]).read_bytes() == (inputs / "PGS001229_22.txt").read_bytes()
    # into an allowed directory: copied; the same bytes again are fine, other bytes are never overwritten
    out = inputs / "out"
    out.mkdir()
    copied = (await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": str(out)})).structured_content
    assert (
        Path(copied["path"]) == out / "PGS001229_22.txt"
        and Path(copied["path"]).read_bytes() == Path(got["path"]).read_bytes()
    )
    await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": str(out)})
    (out / "PGS001229_22.txt").unlink()
    (out / "PGS001229_22.txt").write_text("mine")
    with pytest.raises(ToolError, match="exists with other content; not overwritten"):
        await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": str(out)})
    assert (out / "PGS001229_22.txt").read_text() == "mine"

    deleted = (await client.call_tool("delete_file", {"cid": sf_cid})).structured_content
    assert deleted == {"cid": sf_cid, "asset": "scoring_file", "filename": "PGS001229_22.txt", "deleted": True}
    with pytest.raises(ToolError, match="delete_file bad input"):
        await client.call_tool("delete_file", {"cid": sf_cid})
    left = (await client.call_tool("query_files", {})).structured_content
    assert [f["cid"] for f in left["files"]] == [vcf_cid]


async def test_companions_travel_with_a_panel(client, synth_panel, tmp_path: Path) -> None:
    from prsgazer.storage import default_store
    from prsgazer.storage.plink import put_pfile

    info, _ = synth_panel
    panel = put_pfile(default_store(), info.prefix, "reference_panel", panel="synth", genome_build="GRCh38")
    got = (await client.call_tool("download_file", {"cid": panel.cid})).structured_content
    main = Path(got["path"])
    # a synthetic panel carries its (empty) relatedness list for the ancestry PCA
    assert main.suffix == ".pgen" and set(got["companions"]) == {"pvar_cid", "psam_cid", "related_cid"}
    for p in got["companions"].values():
        assert Path(p).parent == main.parent and Path(p).name.startswith(main.stem + ".") and Path(p).exists()
    assert Path(got["companions"]["related_cid"]).name == main.stem + ".king.cutoff.out.id"
    with pytest.raises(ToolError, match="companion file of"):
        await client.call_tool("delete_file", {"cid": panel.pvar_cid})


async def test_bundles(client) -> None:
    listed = (await client.call_tool("list_bundles", {})).structured_content["result"]
    assert "demo" in {b["name"] for b in listed}
    with pytest.raises(ToolError, match=r"no bundle named 'nope'.*known: demo"):
        await client.call_tool("fetch_bundle", {"name": "nope"})


async def test_config_resource_and_prompts(client, inputs: Path) -> None:
    from prsgazer import __version__, registry
    from prsgazer.config import get_settings

    (res,) = await client.read_resource("prsgazer://config")
    cfg = json.loads(res.text)
    assert cfg["storage_root"] == str(get_settings().home)
    assert cfg["allowed_upload_dirs"] == [str(inputs)] and cfg["max_upload_bytes"] == 5 * 1024 * 1024
    assert cfg["n_workflows"] + cfg["n_tasks"] == len(registry.entries())
    assert cfg["versions"]["prsgazer"] == __version__ and cfg["versions"]["fastmcp"].startswith("4.")
    assert cfg["remote"].startswith("none")

    prompts = {p.name for p in await client.list_prompts()}
    assert {"compute_and_interpret_prs", "explain_my_result"} <= prompts
    got = await client.get_prompt("compute_and_interpret_prs", {"trait": "type 2 diabetes", "vcf_path": "me.vcf.gz"})
    text = got.messages[0].content.text
    assert "type 2 diabetes" in text and "upload_file(path='me.vcf.gz'" in text
    assert "search_scores" in text and "explain_result" in text and "not a diagnosis" in text


async def test_cancelling_a_real_flyte_run(client, inputs: Path, monkeypatch) -> None:
    """A real local Flyte run cancelled while scoring stores no result, and the server runs again afterwards."""
    import time

    from prsgazer.ops import score as pipeline

    vcf_cid, _ = await upload_inputs(client)
    # normalize first (cached afterwards, and Flyte initialised): the run below reaches scoring quickly
    await client.call_tool("run_task", {"name": "normalize_genotypes", "filters": {"vcf": vcf_cid}})
    original = pipeline.run_scoring
    calls: list[float] = []

    def slow_scoring(*args, **kwargs):
        calls.append(time.monotonic())
        time.sleep(5.0)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run_scoring", slow_scoring)
    args = {"name": "cohort_scores", "inputs": {"vcf_cid": vcf_cid, "pgs_ids": ["PGS001229"]}}
    t0 = time.monotonic()
    with pytest.raises(Exception, match="timed out"):
        await client.call_tool("run_workflow", args, timeout=2.5)
    cancelled_at = time.monotonic()
    assert len(calls) == 1 and calls[0] < cancelled_at < calls[0] + 5.0  # cancelled while scoring
    assert cancelled_at - t0 < 8
    monkeypatch.setattr(pipeline, "run_scoring", original)
    await asyncio.sleep(max(0.0, calls[0] + 5.5 - time.monotonic()))  # the abandoned thread ends on its own
    results = (await client.call_tool("query_files", {"keyvalues": {"asset": "prs_result"}})).structured_content
    assert results["n_total"] == 0  # the cancelled run stored nothing
    out = (await client.call_tool("run_workflow", args)).structured_content["outputs"]
    assert out["n_ok"] == 1 and out["results"][0]["n_matched"] == 782
