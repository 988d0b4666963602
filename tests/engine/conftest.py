"""Engine test fixtures: an isolated cache directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from prsgazer.config import reset_settings


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "home"))
    reset_settings()
