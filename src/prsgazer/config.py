"""Settings from the environment (prefix `PRSGAZER_`), with defaults; see .env.template.

Nothing is read at import time: call `get_settings()`. Tests and CLIs that change the
environment call `get_settings.cache_clear()` (or `reset_settings()`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("prsgazer", appauthor=False))


def _default_cache() -> Path:
    return Path(platformdirs.user_cache_dir("prsgazer", appauthor=False))


class Settings(BaseSettings):
    """All configurable values. Each maps to `PRSGAZER_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PRSGAZER_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Storage root (blobs + metadata).")
    cache_dir: Path = Field(
        default_factory=_default_cache,
        description="Derived, re-creatable data (parsed files, downloads).",
    )
    verify_on_read: bool = Field(
        default=True,
        description="Re-hash a blob before handing it out (once per process per file state).",
    )
    lock_timeout: float = Field(default=120.0, description="Seconds to wait for the metadata lock.")
    log_level: str = Field(default="WARNING", description="loguru level for the CLI and server.")

    # --- engine ---
    engine_min_overlap: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="Minimum matched / scoring-file rows for a score to be computed.",
    )
    engine_min_founders_for_freq: int = Field(
        default=50,
        ge=1,
        description="Founders needed to mean-impute from target allele frequencies (plink2: 50).",
    )
    engine_filter_pass: str = Field(
        default="PASS,.",
        description="Comma-separated VCF FILTER values whose calls are used; '*' accepts all.",
    )
    engine_min_dp: int | None = Field(default=None, description="VCF calls with a lower DP are set missing.")
    engine_min_gq: int | None = Field(default=None, description="VCF calls with a lower GQ are set missing.")
    engine_min_qual: float | None = Field(
        default=None, description="VCF records with a lower QUAL are set missing."
    )
    engine_block_cells: int = Field(
        default=8_000_000, ge=1024, description="Genotype cells (variants × samples) read per scoring chunk."
    )

    @property
    def engine_filter_pass_list(self) -> list[str] | None:
        """`engine_filter_pass` as a list; None when every FILTER value is accepted."""
        values = [v.strip() for v in self.engine_filter_pass.split(",") if v.strip()]
        return None if "*" in values else values

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings so the next `get_settings()` re-reads the environment."""
    get_settings.cache_clear()
