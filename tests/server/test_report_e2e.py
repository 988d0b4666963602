"""An agent's full PRS session with `prs_report`, over every transport (in-process, stdio, HTTP).

The agent uploads a synthetic person's VCF, a reference panel (.pvar, .psam, then the .pgen naming
them) and scoring files through `upload_file`, runs `prs_report`, reads the report back with
`download_file` and asks `explain_result` for it. The report's numbers must equal the engine's
(`run_scoring` and `run_percentiles`) on the same files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from .conftest import serve_command, server_env
from .test_transports import start_http, stop

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

GROUPS = ["AFR", "AMR", "EAS", "EUR", "SAS", "ALL"]
TRAITS = ["Height (synthetic)", "Type 2 diabetes (synthetic)", "LDL (synthetic)", "Height second (synthetic)"]


@pytest.fixture
def report_inputs(inputs: Path, synth_panel, person_vcf, engine_report) -> dict[str, Any]:
    """The person's VCF, the panel's three files and the scoring files, in the allowed directory."""
    info, files = synth_panel
    for ext in (".pgen", ".pvar", ".psam"):
        shutil.copy(f"{info.prefix}{ext}", inputs / f"synth{ext}")
    shutil.copy(person_vcf[0], inputs / "P1.vcf.gz")
    names = []
    for f in files:
        shutil.copy(f, inputs / Path(f).name)
        names.append(Path(f).name)
    return {"dir": inputs, "pop": person_vcf[1], "scorefiles": names, "n_samples": info.n_samples,
            "superpopulations": sorted(info.superpopulations), "engine": engine_report}  # fmt: skip


async def upload(c: Any, path: str, **keyvalues: Any) -> str:
    got = await c.call_tool("upload_file", {"path": path, "keyvalues": keyvalues})
    return got.structured_content["file"]["cid"]


async def report_session(c: Any, ri: dict[str, Any]) -> None:
    d: Path = ri["dir"]
    vcf = await upload(c, "P1.vcf.gz", asset="vcf", sample_id="P1", genome_build="GRCh38", coverage="wgs",
                       superpopulation=ri["pop"])  # fmt: skip
    pvar = await upload(c, "synth.pvar", asset="pvar", panel="synth", genome_build="GRCh38")
    psam = await upload(c, "synth.psam", asset="psam", panel="synth")
    panel = await upload(c, "synth.pgen", asset="reference_panel", panel="synth", genome_build="GRCh38",
                         pvar_cid=pvar, psam_cid=psam, n_samples=ri["n_samples"],
                         superpopulations=ri["superpopulations"])  # fmt: skip
    ids = []
    for i, name in enumerate(ri["scorefiles"]):
        ids.append(f"PGS90000{i + 1}")
        await upload(c, name, asset="scoring_file", pgs_id=ids[-1], genome_build="GRCh38", trait=TRAITS[i])

    listed = (await c.call_tool("list_tasks", {"kind": "workflow"})).structured_content
    assert "prs_report" in {t["name"] for t in listed["tasks"]}
    steps: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append(message)

    run = await c.call_tool(
        "run_workflow",
        {"name": "prs_report", "inputs": {"vcf_cid": vcf, "pgs_ids": ids, "panel": "synth"}},
        progress_handler=on_progress,
    )
    out = run.structured_content["outputs"]
    assert out["asset"] == "prs_report" and out["panel_cid"] == panel and out["superpopulation"] == ri["pop"]
    assert out["cid"] in run.structured_content["cids"]
    assert steps[0] == "prs_report: binding inputs" and "finished" in (steps[-1] or "")

    # read the report back and compare with the engine
    got = (await c.call_tool("download_file", {"cid": out["cid"]})).structured_content
    doc = json.loads(Path(got["path"]).read_text())
    assert (doc["n_total"], doc["n_ok"]) == (4, 4) and doc["superpopulations"] == GROUPS
    engine_run, pct = ri["engine"](d / "P1.vcf.gz", d / "synth", [d / n for n in ri["scorefiles"]])
    sums = dict(engine_run.table.select("pgs_id", "sum").iter_rows())
    by_id = {s["pgs_id"]: s for s in doc["scores"]}
    assert set(by_id) == set(ids)
    for pgs_id, s in by_id.items():
        assert s["status"] == "ok" and s["sum"] == sums[pgs_id]
        summ = engine_run.match.summary(pgs_id)
        assert (s["n_matched"], s["n_variants"]) == (summ.n_matched, summ.n_variants)
        want = {r["superpopulation"]: r for r in pct.filter(pl.col("pgs_id") == pgs_id).iter_rows(named=True)}
        for e in s["percentiles"]:
            w = want[e["superpopulation"]]
            assert (e["percentile"], e["z"], e["n_reference"]) == (w["percentile"], w["z"], w["n_reference"])

    # and in plain language
    ex = (await c.call_tool("explain_result", {"cid": out["cid"]})).structured_content
    assert ex["asset"] == "prs_report" and ex["sample_id"] == "P1" and len(ex["scores"]) == 4
    for s in ex["scores"]:
        report_score = by_id[s["pgs_id"]]
        mine = next(e for e in report_score["percentiles"] if e["superpopulation"] == ri["pop"])
        assert s["reference_group"] == ri["pop"] and s["percentile"] == mine["percentile"]
        assert set(s["percentiles"]) == set(GROUPS)
        assert s["sum"] == report_score["sum"] and s["trait"] == report_score["trait"]
        assert s["headline"] in ex["text"] and any("not a diagnosis" in cav or "not a measurement" in cav
                                                   for cav in s["caveats"])  # fmt: skip
        assert s["reliability"] in {"low", "moderate", "high", "unknown"}
    assert any("Reference panel synth" in n for n in ex["notes"])
    lineage = json.dumps((await c.call_tool("lineage", {"cid": out["cid"]})).structured_content)
    for cid in (vcf, panel):
        assert cid in lineage


async def test_in_process(client, report_inputs: dict[str, Any]) -> None:
    await report_session(client, report_inputs)


async def test_stdio_subprocess(report_inputs: dict[str, Any], tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    transport = StdioTransport(
        command=sys.executable, args=serve_command()[1:], env=server_env(), cwd=str(tmp_path), log_file=log
    )
    async with Client(transport, timeout=180) as c:
        await report_session(c, report_inputs)
    assert "Traceback" not in log.read_text()


async def test_http(report_inputs: dict[str, Any], tmp_path: Path) -> None:
    proc, url = start_http(tmp_path, PRSGAZER_MCP_TOKEN="tok-123")
    try:
        async with Client(StreamableHttpTransport(url, auth="tok-123"), timeout=180) as c:
            await report_session(c, report_inputs)
    finally:
        stop(proc)


async def test_demo_bundle_chain(client) -> None:
    """fetch_bundle → prs_report by sample id → explain_result, as the compute_and_interpret_prs prompt suggests."""
    steps: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append(message)

    got = (await client.call_tool("fetch_bundle", {"name": "demo"}, progress_handler=on_progress)).structured_content
    assert got["source"] == "generated" and got["assets"]["person"]["sample_id"] == "DEMO_PERSON"
    assert steps[0] == "bundle demo: fetching" and steps[-1] == "bundle demo: ready (generated)"
    again = (await client.call_tool("fetch_bundle", {"name": "demo"})).structured_content
    assert again["source"] == "store" and again["assets"] == got["assets"]
    ids = [role.split(":", 1)[1] for role in got["assets"] if role.startswith("score:")]
    run = await client.call_tool(
        "run_workflow",
        {"name": "prs_report", "inputs": {"sample_id": "DEMO_PERSON", "pgs_ids": ids, "panel": "demo_panel"}},
    )
    rep = run.structured_content["outputs"]
    assert rep["superpopulation"] == "EUR" and rep["n_ok"] == 4
    ex = (await client.call_tool("explain_result", {"cid": rep["cid"]})).structured_content
    assert ex["superpopulation"] == "European" and [s["pgs_id"] for s in ex["scores"]] == ids
    assert all(s["percentile"] is not None and s["reference_group"] == "EUR" for s in ex["scores"])
    assert "Standing height (synthetic)" in ex["text"]
    # the wording follows the trait's EFO id: height and LDL are quantities, T2D and CAD diseases
    kinds = {s["pgs_id"]: s["trait_kind"] for s in ex["scores"]}
    assert kinds == {"DEMO001": "quantitative", "DEMO002": "disease", "DEMO003": "disease", "DEMO004": "quantitative"}
    height = ex["scores"][0]
    assert "develop" not in " ".join(height["caveats"]) and "not a measurement" in height["caveats"][-1]
    assert "will or will not develop type 2 diabetes (synthetic)" in ex["scores"][1]["caveats"][-1]
    assert all(s["reliability"] == "unknown" for s in ex["scores"])  # synthetic scores: never evaluated
    # the inferred ancestry, its confidence and what it means for the reading
    anc = next(n for n in ex["notes"] if n.startswith("Genetic ancestry"))
    assert "most similar to European (probability" in anc and "less accurate" in anc
    assert any("the person's inferred genetic ancestry" in n for n in ex["notes"])
    assert any("z_pc_mean" in n and "z_pc_meanvar" in n for n in ex["notes"])
    # against another group of the report: read afresh from that group's percentile
    afr = (await client.call_tool("explain_result", {"cid": rep["cid"], "superpopulation": "AFR"})).structured_content
    for s, before in zip(afr["scores"], ex["scores"], strict=True):
        assert s["reference_group"] == "AFR" and s["percentile"] == before["percentiles"]["AFR"]
    # one score's PrsResult is read through the report that placed it
    first = ex["scores"][0]
    one = (await client.call_tool("explain_result", {"cid": first["prs_result_cid"]})).structured_content
    assert one["asset"] == "prs_result" and one["related_cids"]["report"] == rep["cid"]
    assert [s["headline"] for s in one["scores"]] == [first["headline"]] and one["scores"][0]["percentile"] is not None
    prompt = await client.get_prompt("compute_and_interpret_prs", {"trait": "height"})
    assert "run_workflow('prs_report'" in prompt.messages[0].content.text
