"""Results are keyed by the code that made them: the code version is derived from the sources, so an
engine change can never be served a result computed by the old code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prsgazer.ops import runtime as version_mod

SRC = Path(__file__).resolve().parents[2] / "src"


def _version_of(src: Path) -> str:
    code = "from prsgazer.ops.runtime import code_version; print(code_version())"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(src), "PATH": ""}, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def test_any_engine_or_ops_change_gives_a_new_version(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    base = _version_of(copy)
    assert base == version_mod.code_version()  # the same bytes give the same version anywhere
    # a change to a default deep in the engine (it would change numbers): a new version
    match = copy / "prsgazer" / "engine" / "scoring" / "match.py"
    text = match.read_text()
    match.write_text(text.replace("DEFAULT_MIN_OVERLAP = 0.75", "DEFAULT_MIN_OVERLAP = 0.8"))
    changed = _version_of(copy)
    assert changed != base
    match.write_text(text)
    assert _version_of(copy) == base
    # a change in the operations layer (how outputs are written): a new version too
    ops = copy / "prsgazer" / "ops" / "score.py"
    ops.write_text(ops.read_text() + "\n# a comment is a change too: the version never guesses\n")
    assert _version_of(copy) not in (base, changed)


def test_a_result_stored_by_other_code_is_not_served(monkeypatch: pytest.MonkeyPatch, synth_panel) -> None:
    """The same inputs under a new code version are computed again, never taken from the old record."""
    from prsgazer.ops import runtime
    from prsgazer.ops.params import ScoreParams
    from prsgazer.ops.score import score_stored
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.storage import default_store
    from prsgazer.storage.plink import put_pfile

    info, files = synth_panel
    store = default_store()
    genotypes = put_pfile(store, info.holdout_prefix, "genotypes", genome_build="GRCh38")
    sf = ingest_scorefile(store, files[1])
    (first,) = score_stored(store, genotypes, [sf], ScoreParams())
    assert first.metrics["cached"] is False and first.code_version == version_mod.code_version()
    (again,) = score_stored(store, genotypes, [sf], ScoreParams())
    assert again.cid == first.cid and again.metrics["cached"] is True  # same code: a lookup
    monkeypatch.setattr(runtime, "code_version", lambda: "0123456789abcdef")  # as after an upgrade
    (upgraded,) = score_stored(store, genotypes, [sf], ScoreParams())
    assert upgraded.metrics["cached"] is False and upgraded.task_key != first.task_key
    assert len(store.query(asset="prs_result", pgs_id=first.pgs_id)) == 1  # same bytes: the record is updated
