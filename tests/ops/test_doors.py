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


async def test_a_whole_genome_scored_against_a_panel_alike_from_both_doors(
    synth_panel, person_vcf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variant-only WGS VCF scored with a panel: the panel's variant table gives REF at the absent sites
    from the CLI (`score --panel`) as in the `score` task, so the sums, counts and overlap agree."""
    import polars as pl

    from prsgazer.assets import Vcf
    from prsgazer.storage.plink import put_pfile
    from prsgazer.tasks import normalize_genotypes, score

    info, files = synth_panel
    vcf, _ = person_vcf
    store = _use_home(monkeypatch, tmp_path / "tasks")
    panel = put_pfile(store, info.prefix, "reference_panel", panel="synth", genome_build="GRCh38",
                      n_samples=info.n_samples, superpopulations=sorted(info.superpopulations))  # fmt: skip
    stored = store.upload(Vcf(path=vcf, sample_id="P1", genome_build="GRCh38", coverage="wgs"))
    genotypes = await normalize_genotypes(stored)
    sfs = [store.put(f, "scoring_file", genome_build="GRCh38") for f in files]
    by_task = await score(genotypes, sfs, coverage="wgs", reference_panel=panel)
    assert {r.status for r in by_task} == {"ok"}
    _use_home(monkeypatch, tmp_path / "cli")
    out = tmp_path / "out.tsv"
    args = ["score", str(vcf), "--coverage", "wgs", "--panel", str(info.prefix), "--out", str(out)]
    assert main([*args, *[a for f in files for a in ("-s", str(f))]]) == 0
    table = pl.read_csv(out, separator="\t", null_values="NA")
    for r in by_task:
        row = table.filter(pl.col("pgs_id") == r.pgs_id)
        assert (row["n_matched"][0], row["overlap"][0]) == (r.n_matched, r.overlap), r.pgs_id
        stored_table = pl.read_csv(store.verify(r.cid), separator="\t", null_values="NA")
        assert row["sum"].to_list() == stored_table["sum"].to_list(), r.pgs_id
    # without the panel nothing supplies REF at the absent sites: fewer rows match
    bare = tmp_path / "bare.tsv"
    args = ["score", str(vcf), "--coverage", "wgs", "--min-overlap", "0", "--out", str(bare)]
    assert main([*args, *[a for f in files for a in ("-s", str(f))]]) == 0
    fewer = pl.read_csv(bare, separator="\t", null_values="NA")
    assert fewer["n_matched"].sum() < table["n_matched"].sum()


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
