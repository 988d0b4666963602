"""Real Flyte local runs of workflows and tasks through the registry/runner and `prsgazer run`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from prsgazer import registry, runner
from prsgazer.errors import AssetError, InputError, NotFoundError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_cohort_scores_local_run_equals_engine(cineca) -> None:
    from prsgazer.engine.scoring.run import run_scoring
    from prsgazer.ops.params import ScoreParams, Tuning, run_options
    from prsgazer.storage import default_store

    store = default_store()
    outcome = await runner.run(
        "cohort_scores", {"pgs_ids": ["PGS001229", "PGS000802", "NOT_STORED"], "vcf_cid": cineca.vcf.cid}
    )
    assert outcome.mode == "local" and outcome.kind == "workflow"
    out = outcome.outputs
    assert (out["n_total"], out["n_ok"], out["n_failed"], out["n_cached"]) == (3, 1, 2, 0)
    failures = {f["pgs_id"]: f for f in out["failures"]}
    assert failures["NOT_STORED"]["step"] == "fetch_scoring_file"
    assert "no stored scoring file" in failures["NOT_STORED"]["error"]
    assert failures["PGS000802"]["step"] == "match"
    ok = next(r for r in out["results"] if r["pgs_id"] == "PGS001229")
    got = pl.read_csv(store.fetch(ok["cid"]).path, separator="\t")
    options = run_options(ScoreParams(), Tuning.from_settings(), build="GRCh37")
    direct = run_scoring(store.fetch(cineca.vcf.cid).path, [store.fetch(cineca.height.cid).path], options)
    assert got["sum"].to_list() == direct.table["sum"].to_list()
    assert got["avg"].to_list() == direct.table["avg"].to_list()

    # the rerun is served from the store
    again = await runner.run("cohort_scores", {"pgs_ids": ["PGS001229"], "vcf_cid": cineca.vcf.cid})
    assert again.outputs["n_cached"] == 1 and again.outputs["results"][0]["cid"] == ok["cid"]


async def test_flyte_local_database_stays_out_of_the_source_tree(cineca, tmp_path) -> None:
    """Flyte keeps its local run database beside the config it finds (`.flyte/config.yaml` here, in the
    source tree); runs prsgazer starts keep it under PRSGAZER_CACHE_DIR."""
    from flyte._persistence._db import LocalDB

    from conftest import REPO

    await runner.run("normalize_genotypes", {"vcf": {"genome_build": "GRCh37"}})
    assert runner.pin_flyte_local_cache().name == "flyte"
    conn = LocalDB.get_sync()
    (db_file,) = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
    assert db_file and not Path(db_file).resolve().is_relative_to(REPO), db_file
    # (opened by the first run of this process: under that test's PRSGAZER_CACHE_DIR)
    assert Path(db_file).parent.name == "flyte" and Path(db_file).parent.parent.name == "cache", db_file


async def test_task_through_the_runner_binds_assets_by_filters(cineca) -> None:
    g = await runner.run("normalize_genotypes", {"vcf": {"genome_build": "GRCh37"}})
    assert g.outputs["vcf_cid"] == cineca.vcf.cid
    res = await runner.run(
        "score", {"genotypes": g.outputs["cid"], "scoring_files": {"pgs_id": "PGS001229"}, "min_overlap": "0.5"}
    )
    (r,) = res.outputs
    assert r["n_matched"] == 782 and r["status"] == "ok"


async def test_bad_input_comes_back_as_input_errors(cineca) -> None:
    with pytest.raises(NotFoundError, match="no stored scoring file"):
        await runner.run("fetch_scoring_file", {"pgs_id": "NOPE", "build": "GRCh37"})
    with pytest.raises(InputError, match="name the genotypes"):
        await runner.run("cohort_scores", {"pgs_ids": ["PGS001229"]})


def test_registry_lists_every_task_with_signatures() -> None:
    entries = registry.entries()
    assert {"normalize_genotypes", "fetch_scoring_file", "score", "cohort_scores"} <= set(entries)
    score = entries["score"].as_dict()
    params = {p["name"]: p for p in score["params"]}
    assert params["genotypes"]["asset"] == "genotypes" and params["genotypes"]["required"]
    assert params["scoring_files"]["type"] == "list[ScoringFile]"
    assert params["min_overlap"]["default"] == -1.0 and "matched fraction" in params["min_overlap"]["description"]
    assert score["output"] == "list[PrsResult]" and entries["cohort_scores"].kind == "workflow"


def test_bind_refuses_ambiguity_unknown_and_missing(cineca) -> None:
    from prsgazer.storage import default_store

    store = default_store()
    e = registry.get("score")
    with pytest.raises(InputError, match="needs 'genotypes'"):
        registry.bind(e, {"scoring_files": [cineca.height.cid]})
    with pytest.raises(InputError, match="no parameter 'colour'"):
        registry.bind(e, {"colour": "red"})
    with pytest.raises(InputError, match="expected a number"):
        registry.bind(registry.get("cohort_scores"), {"pgs_ids": ["x"], "min_overlap": "lots"})
    # two scoring files match genome_build=GRCh37: ambiguous for a single-asset parameter
    store.put(cineca.data / "scorefiles/customgrch37.txt", "scoring_file", pgs_id="custom", genome_build="GRCh37")
    with pytest.raises(NotFoundError, match="no asset matches"):
        registry.bind(registry.get("normalize_genotypes"), {"vcf": {"sample_id": "nobody"}})
    with pytest.raises(NotFoundError):
        registry.bind(e, {"genotypes": {"sample_id": "nobody"}, "scoring_files": [cineca.height.cid]})
    sf_param = registry.Param(name="sf", type="ScoringFile", required=True, asset="scoring_file")
    with pytest.raises(AssetError, match="2 assets match") as exc:
        registry._bind_asset(store, sf_param, {"genome_build": "GRCh37"})
    assert cineca.height.cid in str(exc.value)
    with pytest.raises(NotFoundError):
        registry.get("no_such_task")


def test_cli_run_and_tasks(cineca, capsys) -> None:
    from prsgazer.cli import main

    assert main(["tasks", "--json"]) == 0
    listed = {t["name"] for t in json.loads(capsys.readouterr().out)}
    assert "cohort_scores" in listed
    code = main(["run", "cohort_scores", "--pgs-ids", "PGS001229", "--vcf-cid", cineca.vcf.cid, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    outcome = json.loads(captured.out)
    assert outcome["outputs"]["n_ok"] == 1 and outcome["outputs"]["results"][0]["n_matched"] == 782
    assert main(["run", "cohort_scores", "--pgs-ids", "PGS001229"]) == 2
    assert "name the genotypes" in capsys.readouterr().err
    assert main(["run", "no_such_workflow"]) == 2


async def test_a_run_where_every_score_failed_is_a_failure(cineca, capsys) -> None:
    """Nothing computed: the runner raises with each score's reason (exit 2: the inputs were at fault),
    the CLI exits 2 and says why, the MCP tool result is an error; a partial success stays a success."""
    from fastmcp import Client
    from fastmcp.exceptions import ToolError

    from prsgazer.errors import NothingComputedError
    from prsgazer.server import build_server

    inputs = {"pgs_ids": ["PGS000802", "NOT_STORED"], "vcf_cid": cineca.vcf.cid}
    with pytest.raises(NothingComputedError) as info:
        await runner.run("cohort_scores", inputs)
    assert info.value.exit_code == 2
    reasons = {p: (step, why) for p, step, why in info.value.reasons}
    assert reasons["PGS000802"] == ("match", "no variant matched")
    assert reasons["NOT_STORED"][0] == "fetch_scoring_file" and "no stored scoring file" in reasons["NOT_STORED"][1]


    async with Client(build_server()) as client:
        with pytest.raises(ToolError) as exc:
            await client.call_tool("run_workflow", {"name": "cohort_scores", "inputs": inputs})
        assert "no score was computed" in str(exc.value) and "PGS000802 (match)" in str(exc.value)
        partial = {"pgs_ids": ["PGS001229", "NOT_STORED"], "vcf_cid": cineca.vcf.cid}
        ok = (await client.call_tool("run_workflow", {"name": "cohort_scores", "inputs": partial})).structured_content
        assert ok["outputs"]["n_ok"] == 1 and ok["outputs"]["n_failed"] == 1


def test_cli_run_exits_2_when_nothing_was_computed(cineca, capsys) -> None:
    from prsgazer.cli import main

    code = main(["run", "cohort_scores", "--pgs-ids", "PGS000802,NOT_STORED", "--vcf-cid", cineca.vcf.cid])
    err = capsys.readouterr().err
    assert code == 2 and "no score was computed" in err and "PGS000802 (match)" in err and "NOT_STORED" in err
