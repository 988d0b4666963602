"""Every door gives the same stored records: the CLI (`--store`) and the Flyte tasks store identical
PrsResult, MatchLog, ReferenceScores and Distribution records (same CIDs, same fields) for the same
inputs, because both go through `prsgazer.ops`. Each door runs in its own empty home and cache, so
nothing one computed is reused by the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prsgazer.cli import main

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


#: Fields that describe a run rather than its result.
_RUN_FIELDS = {"created", "metrics"}


def _use_home(monkeypatch: pytest.MonkeyPatch, base: Path) -> Any:
    from prsgazer import storage
    from prsgazer.config import reset_settings

    monkeypatch.setenv("PRSGAZER_HOME", str(base / "home"))
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(base / "cache"))
    reset_settings()
    storage._stores.clear()
    return storage.default_store()


def _records(store: Any, asset: str) -> dict[str, dict[str, Any]]:
    out = {}
    for a in store.query(asset=asset):
        kv = {k: v for k, v in a.to_keyvalues().items() if k not in _RUN_FIELDS}
        out[a.cid] = {**kv, "filename": a.filename}
    return out


async def test_cli_and_tasks_store_identical_prs_results(
    synth_panel, person_vcf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.tasks import normalize_genotypes, score

    _, files = synth_panel
    vcf, _ = person_vcf
    # door 1: the tasks, on what a user stored
    store = _use_home(monkeypatch, tmp_path / "tasks")
    stored_vcf = store.put(vcf, "vcf")
    genotypes = await normalize_genotypes(stored_vcf)
    sfs = [ingest_scorefile(store, f) for f in files]
    by_task = await score(genotypes, sfs, min_overlap=0.2)  # a variant-only VCF: absent sites are unknown
    tasks_records = {k: _records(store, k) for k in ("prs_result", "match_log", "genotypes")}
    # door 2: the command line
    store = _use_home(monkeypatch, tmp_path / "cli")
    args = ["score", str(vcf), "--out", str(tmp_path / "out.tsv"), "--store", "--min-overlap", "0.2"]
    assert main([*args, *[a for f in files for a in ("-s", str(f))]]) == 0
    cli_records = {k: _records(store, k) for k in ("prs_result", "match_log", "genotypes")}
    assert len(cli_records["prs_result"]) == len(by_task) == len(files)
    assert cli_records == tasks_records
    assert all(r["code_version"] and r["params"]["min_overlap"] == 0.2 for r in cli_records["prs_result"].values())
    # and the CLI's own table holds the same numbers as the stored results
    import polars as pl

    table = pl.read_csv(tmp_path / "out.tsv", separator="\t", null_values="NA")
    for r in by_task:
        stored = pl.read_csv(store.fetch(r.cid).path, separator="\t", null_values="NA")
        assert table.filter(pl.col("pgs_id") == r.pgs_id)["sum"].to_list() == stored["sum"].to_list()


async def test_cli_and_tasks_store_identical_distributions(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prsgazer.ops.panels import register_panel
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.tasks import aggregate_distributions, reference_batch

    info, files = synth_panel
    store = _use_home(monkeypatch, tmp_path / "tasks")
    panel = register_panel(store, info.prefix, info.prefix.name)
    sfs = [ingest_scorefile(store, f) for f in files[:3]]
    scores = await reference_batch(panel, sfs)
    dists = await aggregate_distributions(panel, scores)
    assert len(dists) == 3
    tasks_records = {k: _records(store, k) for k in ("reference_panel", "reference_scores", "distribution")}

    store = _use_home(monkeypatch, tmp_path / "cli")
    args = ["reference", "distributions", str(info.prefix), "--out", str(tmp_path / "dist.tsv"), "--store"]
    assert main([*args, *[a for f in files[:3] for a in ("-s", str(f))]]) == 0
    cli_records = {k: _records(store, k) for k in ("reference_panel", "reference_scores", "distribution")}
    assert cli_records == tasks_records
    # the files the CLI wrote without the store are byte for byte the stored distributions
    from prsgazer.cid import cid_of_file

    written = {cid_of_file(p) for p in (tmp_path / "cli" / "cache" / "reference" / "distributions").glob("*.parquet")}
    assert written == set(tasks_records["distribution"])
