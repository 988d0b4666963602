"""Fixtures shared by every test package: the shared real data and the plink2 oracle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository (real PGS Catalog / CINECA files); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def plink2() -> str:
    """Path of the plink2 binary (the live oracle); skip when it is not installed."""
    exe = shutil.which("plink2")
    if exe is None:
        pytest.skip("plink2 not installed (apt-get install -y plink2; CI installs it)")
    return exe
