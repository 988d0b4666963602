"""The cohort view: the app run as a script on stored multi-sample genotypes (`--genotypes CID
--scores … --panel CID`) scores every sample (`cohort_scores` + `percentile`) and its per-sample
table equals the engine's numbers on the same files, for every reference group.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from .conftest import APP, app_env, use_store

pytestmark = pytest.mark.slow


def test_cohort_view_equals_the_engine(synth_panel: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prsgazer.engine.reference.percentile import panel_percentiles
    from prsgazer.engine.scoring.run import run_scoring
    from prsgazer.ops.genotypes import ingest_genotypes
    from prsgazer.ops.panels import register_panel
    from prsgazer.ops.params import ScoreParams, Tuning, run_options
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.storage import default_store

    info, files = synth_panel
    use_store(tmp_path, monkeypatch)
    store = default_store()
    panel = register_panel(store, info.prefix, "synth", "GRCh38")
    cohort = ingest_genotypes(store, f"{info.holdout_prefix}.pgen", ScoreParams(), build="GRCh38")
    ids = [ingest_scorefile(store, f).pgs_id for f in files[1:]]
    out = tmp_path / "out"
    args = ["--genotypes", cohort.cid, "--scores", ",".join(ids), "--panel", panel.cid, "--out", str(out)]
    proc = subprocess.run([sys.executable, str(APP), *args], env=app_env(tmp_path), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = json.loads((out / "run.json").read_text())
    table = pl.read_csv(out / run["tsv"], separator="\t", null_values="NA", schema_overrides={"sample_id": pl.String})
    html = (out / run["html"]).read_text()
    assert run["tsv"].startswith("cohort-") and sorted(run["pgs_ids"]) == sorted(ids)
    assert 'id="prs-cohort"' in html and html.count('<figure class="prs-plot"') == len(ids)

    options = run_options(ScoreParams(), Tuning.from_settings(), build="GRCh38", reference=f"{info.prefix}.pgen")
    scored = run_scoring(info.holdout_prefix, files[1:], options)
    pct, labels, _ = panel_percentiles(info.holdout_prefix, files[1:], scored, options, info.prefix, every_group=True)
    assert labels == ["AFR", "AMR", "EAS", "EUR", "SAS", "ALL"]
    assert table.height == scored.table.height == 4 * len(ids)
    rows = {(r["sample_id"], r["pgs_id"]): r for r in table.iter_rows(named=True)}
    for r in scored.table.iter_rows(named=True):
        assert math.isclose(rows[(r["sample_id"], r["pgs_id"])]["sum"], r["sum"], rel_tol=1e-12, abs_tol=1e-12)
    for r in pct.iter_rows(named=True):
        mine = rows[(r["sample_id"], r["pgs_id"])]
        g = r["superpopulation"]
        assert math.isclose(mine[f"percentile_{g}"], r["percentile"], rel_tol=1e-12), (r["sample_id"], g)
        assert math.isclose(mine[f"z_{g}"], r["z"], rel_tol=1e-12, abs_tol=1e-12)

