"""The notebook app run as a script on the embedded demo data (`python app.py --out DIR`, what marimo
does with a notebook file): it exits 0, and its table holds the numbers of the `prs_report` workflow
and of the engine called directly on the same files — compared value by value.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from .conftest import APP, app_env, use_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def script_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("nb-script")
    out = base / "out"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(APP), "--out", str(out)], env=app_env(base), capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    seconds = time.perf_counter() - t0
    print(f"\napp script on a cold store: {seconds:.1f} s (demo data generated, prs_report computed)")
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = json.loads((out / "run.json").read_text())
    table = pl.read_csv(out / run["tsv"], separator="\t", null_values="NA", infer_schema_length=None)
    return {"base": base, "out": out, "run": run, "table": table, "stdout": proc.stdout,
            "html": (out / run["html"]).read_text()}  # fmt: skip


def _demo_inputs() -> tuple[dict[str, Any], Any]:
    from prsgazer.bundles import fetch_bundle, load_bundle

    got = fetch_bundle("demo")  # already stored by the app: a lookup
    assert got.source.startswith("store")
    ids = [s["pgs_id"] for s in load_bundle("demo").generator["scores"]]
    return {"vcf_cid": got.cid("person"), "sample_id": "DEMO_PERSON", "pgs_ids": ids, "panel": got.cid("panel")}, got


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def test_script_exits_0_and_prints_the_table(script_run: dict[str, Any]) -> None:
    table, run = script_run["table"], script_run["run"]
    assert script_run["stdout"].startswith("pgs_id\ttrait\tstatus\t")
    assert sorted(table["pgs_id"].to_list()) == ["DEMO001", "DEMO002", "DEMO003", "DEMO004"] == sorted(run["pgs_ids"])
    assert (table["status"] == "ok").all() and (table["method"] == "same_variants").all()
    assert run["cid"].startswith("bafkrei") and run["cached"] is False


def test_table_equals_the_prs_report_workflow(script_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from prsgazer import runner
    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    use_store(script_run["base"], monkeypatch)
    inputs, _ = _demo_inputs()
    outcome = asyncio.run(runner.run("prs_report", inputs, mode="local"))
    store = default_store()
    report = Report.model_validate_json(Path(store.fetch(outcome.outputs["cid"]).path).read_text())
    assert outcome.outputs["cid"] == script_run["run"]["cid"]  # the same stored report, whichever door
    rows = {r["pgs_id"]: r for r in script_run["table"].iter_rows(named=True)}
    groups = ["AFR", "AMR", "EAS", "EUR", "SAS", "ALL"]
    assert report.superpopulations == groups and report.superpopulation == "EUR"
    for s in report.scores:
        row = rows[s.pgs_id]
        assert (row["n_matched"], row["n_variants"]) == (s.n_matched, s.n_variants)
        assert _close(row["sum"], s.sum) and _close(row["coverage"], s.overlap)
        for g in groups:
            assert _close(row[f"percentile_{g}"], s.percentile_in(g).percentile), (s.pgs_id, g)
        eur = s.percentile_in("EUR")
        assert _close(row["percentile"], eur.percentile) and _close(row["z"], eur.z)
        assert row["reading"] == s.interpretation.headline and row["reliability"] == s.interpretation.reliability
        assert row["prs_result_cid"] == s.prs_result_cid and row["scoring_file_cid"] == s.scoring_file_cid


def test_numbers_equal_the_engine_on_the_same_files(
    script_run: dict[str, Any], engine_report: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Independent of the store, the workflows and every cache: the engine on the demo files."""
    from prsgazer.storage import default_store

    use_store(script_run["base"], monkeypatch)
    _, got = _demo_inputs()
    store = default_store()
    vcf = Path(store.fetch(got.cid("person")).path)
    panel = Path(store.fetch(got.cid("panel")).path).with_suffix("")
    files = [Path(store.fetch(got.cid(f"score:{p}")).path) for p in ("DEMO001", "DEMO002", "DEMO003", "DEMO004")]
    scored, pct = engine_report(vcf, panel, files)
    rows = {r["pgs_id"]: r for r in script_run["table"].iter_rows(named=True)}
    for r in scored.table.iter_rows(named=True):
        assert _close(rows[r["pgs_id"]]["sum"], r["sum"])
    for r in pct.iter_rows(named=True):
        assert _close(rows[r["pgs_id"]][f"percentile_{r['superpopulation']}"], r["percentile"])
        if r["superpopulation"] == "EUR":
            assert _close(rows[r["pgs_id"]]["z"], r["z"])


def test_html_report_is_self_contained(script_run: dict[str, Any]) -> None:
    html = script_run["html"]
    assert html.startswith("<!DOCTYPE html>") and 'id="prs-results"' in html
    assert len(re.findall(r'<tr data-pgs-id="DEMO00\d" data-status="ok">', html)) == 4
    figures = re.findall(r'<figure class="prs-plot" data-pgs-id="(DEMO00\d)"><svg', html)
    assert sorted(figures) == ["DEMO001", "DEMO002", "DEMO003", "DEMO004"]
    assert "<script" not in html.lower() and "<link" not in html.lower() and "<img" not in html.lower()
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls  # XML namespaces only
    assert script_run["run"]["cid"] in html and "vcf DEMO_PERSON.vcf.gz" in html  # CID and lineage
