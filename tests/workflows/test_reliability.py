"""Workflow outputs that travel and runs that resume (issue 14, items 5 and 6).

- No local paths in stored bytes: the same `reference_distributions` run in two homes (different
  `PRSGAZER_HOME` and `PRSGAZER_CACHE_DIR`) stores outputs with identical CIDs.
- Resume at the granularity the docs promise: a `reference_distributions` run of several batches
  (`batch_size` scoring files each, one pass over the panel per batch) killed with SIGKILL mid-way
  keeps every batch it had finished; relaunched, it computes only the missing batches, and its
  outputs equal an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from prsgazer import runner

pytestmark = pytest.mark.anyio

N_FILES = 16
BATCH = 2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def many_scorefiles(synth_panel, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Sixteen scoring files over the synthetic panel's variants (several batches of work)."""
    from prsgazer.synthetic.simulate import read_simulated_pvar, write_scorefile

    info, _ = synth_panel
    d = tmp_path_factory.mktemp("many")
    pvar = read_simulated_pvar(info.prefix)
    plain = pvar.filter(~pl.concat_str("REF", "ALT").is_in(["AT", "TA", "CG", "GC"]))
    ids = [f"PGS9100{k:02d}" for k in range(N_FILES)]
    return [
        write_scorefile(plain, d / f"{pid}.txt", pgs_id=pid, n_variants=300 + 40 * k, seed=k, genome_build="GRCh38")
        for k, pid in enumerate(ids)
    ]


def _use_home(monkeypatch: pytest.MonkeyPatch, base: Path) -> Any:
    from prsgazer import storage
    from prsgazer.config import reset_settings

    monkeypatch.setenv("PRSGAZER_HOME", str(base / "home"))
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(base / "cache"))
    reset_settings()
    storage._stores.clear()
    return storage.default_store()


def _store_inputs(store: Any, synth_panel: Any, files: list[Path]) -> None:
    from prsgazer.storage.plink import put_pfile

    info, _ = synth_panel
    put_pfile(store, info.prefix, "reference_panel", panel="synth", genome_build="GRCh38",
              n_samples=info.n_samples, superpopulations=sorted(info.superpopulations))  # fmt: skip
    for f in files:
        store.put(f, "scoring_file", pgs_id=f.name.removesuffix(".txt"), genome_build="GRCh38")


def _cids(store: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in store.query():
        out.setdefault(a.asset_key, []).append(a.cid)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.slow
async def test_identical_runs_in_two_homes_store_identical_cids(
    synth_panel, many_scorefiles: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = many_scorefiles[:6]
    stored: list[dict[str, list[str]]] = []
    for home in ("first", "second/elsewhere"):
        store = _use_home(monkeypatch, tmp_path / home)
        _store_inputs(store, synth_panel, files)
        out = (await runner.run("reference_distributions", {"panel": "synth", "batch_size": 4})).outputs
        assert out["n_ok"] == len(files) and out["n_cached"] == 0
        stored.append(_cids(store))
    first, second = stored
    assert set(first) >= {"reference_panel", "scoring_file", "reference_scores", "distribution"}
    assert len(first["distribution"]) == len(first["reference_scores"]) == len(files)
    assert first == second  # every stored output: the same bytes in both homes


def _count(home: Path, asset: str) -> int:
    from prsgazer.storage import LocalStore

    try:
        return len(LocalStore(home).query(asset=asset))
    except Exception:  # noqa: BLE001 - the run may be mid-write; the next poll sees it
        return 0


@pytest.mark.slow
async def test_a_killed_multi_batch_run_resumes_batch_by_batch(
    synth_panel, many_scorefiles: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _use_home(monkeypatch, tmp_path / "killed")
    _store_inputs(store, synth_panel, many_scorefiles)
    home = store.root
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "prsgazer", "run", "reference_distributions", "--panel", "synth",
           "--batch-size", str(BATCH)]  # fmt: skip
    log = tmp_path / "killed-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while _count(home, "reference_scores") < BATCH and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):  # (gone already: the assertion below says why)
            os.killpg(proc.pid, signal.SIGKILL)  # mid-way: one batch's scores are stored, others are not
    finally:
        proc.wait()
    kept = _count(home, "reference_scores")
    assert BATCH <= kept < N_FILES, f"the run was not killed mid-way ({kept} of {N_FILES} kept): {log.read_text()}"

    from prsgazer import storage
    from prsgazer.config import reset_settings

    reset_settings()
    storage._stores.clear()
    again = (await runner.run("reference_distributions", {"panel": "synth", "batch_size": BATCH})).outputs
    assert again["n_ok"] == N_FILES and again["n_failed"] == 0
    assert again["n_cached"] == kept  # every score stored before the kill is reused; only the rest ran
    print(f"kill-and-resume (workflow): {kept} of {N_FILES} scores kept after SIGKILL; the rerun computed "
          f"{N_FILES - kept}")  # fmt: skip
    scores = storage.default_store().query(asset="reference_scores")
    assert len(scores) == N_FILES
    assert sum(bool(s.metrics.get("cached")) for s in scores) == 0  # stored records keep their first run's metrics
    resumed = _cids(storage.default_store())

    clean_store = _use_home(monkeypatch, tmp_path / "clean")
    _store_inputs(clean_store, synth_panel, many_scorefiles)
    clean = (await runner.run("reference_distributions", {"panel": "synth", "batch_size": BATCH})).outputs
    assert clean["n_ok"] == N_FILES and clean["n_cached"] == 0
    assert _cids(clean_store) == resumed  # the resumed run stored exactly what an uninterrupted one does


def _manifests(cache: Path) -> int:
    d = cache / "reference" / "batch"
    return sum(1 for p in d.glob("*.json") if (d / f"{p.name}.cid").exists()) if d.is_dir() else 0


@pytest.mark.slow
def test_reference_distributions_killed_mid_way_keeps_its_finished_passes(
    synth_panel, many_scorefiles: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reproduction: `prsgazer reference distributions` killed mid-way kept nothing (0 of 20). With
    `--batch-size` files per pass, the passes it finished are kept and a second run scores the rest."""
    from prsgazer.cli import main
    from prsgazer.config import get_settings

    info, _ = synth_panel
    cache = get_settings().cache_dir
    size = 4
    args = ["reference", "distributions", str(info.prefix), "--out", str(tmp_path / "killed.tsv"),
            "--batch-size", str(size), *[a for f in many_scorefiles for a in ("-s", str(f))]]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    log = tmp_path / "killed-cli.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prsgazer", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while _manifests(cache) < size and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    kept = _manifests(cache)
    assert size <= kept < N_FILES, f"the run was not killed mid-way ({kept} of {N_FILES} kept): {log.read_text()}"
    assert not (tmp_path / "killed.tsv").exists()
    capsys.readouterr()
    args[4] = str(tmp_path / "resumed.tsv")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"{N_FILES} score(s): {N_FILES - kept} computed, {kept} cached, 0 failed" in err, err
    print(f"kill-and-resume (CLI): {kept} of {N_FILES} scores kept after SIGKILL; the rerun computed {N_FILES - kept}")
    # the same table as a run that was never interrupted
    os.environ["PRSGAZER_CACHE_DIR"] = str(tmp_path / "clean-cache")
    try:
        args[4] = str(tmp_path / "clean.tsv")
        assert main(args) == 0
    finally:
        os.environ["PRSGAZER_CACHE_DIR"] = str(cache)
    resumed, clean = (pl.read_csv(tmp_path / n, separator="\t") for n in ("resumed.tsv", "clean.tsv"))
    per_status = resumed.group_by("status").agg(pl.col("pgs_id").n_unique()).sort("status").rows()
    assert per_status == [("cached", kept), ("ok", N_FILES - kept)]
    assert resumed.drop("status").equals(clean.drop("status"))  # every number as in an uninterrupted run
