"""Fixtures for the notebook app tests: an isolated store per module for subprocess runs, a served app."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "src" / "prsgazer" / "notebooks" / "app.py"


def app_env(base: Path, **extra: str) -> dict[str, str]:
    """The environment of an app subprocess: its own store and cache under `base`, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PRSGAZER_HOME=str(base / "home"), PRSGAZER_CACHE_DIR=str(base / "cache"), DO_NOT_TRACK="1",
               MARIMO_SKIP_UPDATE_CHECK="1", PYTHONUNBUFFERED="1", **extra)  # fmt: skip
    return env


def use_store(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this test process at the store under `base` (the one an app subprocess used)."""
    from prsgazer import storage
    from prsgazer.config import reset_settings

    monkeypatch.setenv("PRSGAZER_HOME", str(base / "home"))
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(base / "cache"))
    reset_settings()
    storage._stores.clear()


@dataclass
class Served:
    proc: subprocess.Popen[str]
    reader: threading.Thread
    url: str
    first_lines: list[str]
    base: Path


def start_notebook(base: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Served:
    """`prsgazer notebook …` in a subprocess; returns once its URL is printed and answers HTTP."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "prsgazer", "notebook", *args], env=env or app_env(base), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    first: list[str] = []
    end = time.monotonic() + timeout
    while not any(line.startswith("prsgazer notebook: ") for line in first):
        try:
            first.append(lines.get(timeout=max(0.1, end - time.monotonic())))
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"no URL printed in {timeout} s: {first}") from None
    url = next(line for line in first if line.startswith("prsgazer notebook: ")).split(": ", 1)[1]
    health = url.split("?")[0].rstrip("/") + "/health"
    while True:
        try:
            with urllib.request.urlopen(health.replace("0.0.0.0", "127.0.0.1"), timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the notebook server did not answer at {health} (exit {proc.poll()})")
        time.sleep(0.2)
    return Served(proc=proc, reader=reader, url=url, first_lines=first, base=base)


def stop(served: Served) -> None:
    served.proc.terminate()  # the CLI exec'd marimo: this process is the server
    try:
        served.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait()
    served.reader.join(timeout=10)
    if served.proc.stdout is not None:
        served.proc.stdout.close()


@pytest.fixture(scope="module")
def served_cold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app served on a free port over an empty store (the demo is generated on first use)."""
    base = tmp_path_factory.mktemp("nb-served")
    served = start_notebook(base, "--port", "0")
    try:
        yield served
    finally:
        stop(served)
