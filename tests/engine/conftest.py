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


@pytest.fixture
def kernel_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads `scoring.kernels.load` runs on in this test (it still loads them)."""
    import threading

    from prsgazer.engine.scoring import kernels

    loaded_on: list[str] = []
    real = kernels.load

    def recording(**kw: bool) -> None:
        loaded_on.append(threading.current_thread().name)
        real(**kw)

    monkeypatch.setattr(kernels, "load", recording)
    return loaded_on
