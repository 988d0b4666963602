"""Settings from the environment (prefix `PRSGAZER_`), with defaults; see .env.template.

Nothing is read at import time: call `get_settings()`. Tests and CLIs that change the
environment call `get_settings.cache_clear()` (or `reset_settings()`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
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

    # -- remote storage (docs/storage.md "Remotes", docs/cluster.md) ----------------------------
    remote: str = Field(
        default="",
        description="Shared remote store: `hf://datasets/<org>/<name>` or any fsspec URL (s3://…, file://…); "
        "empty = local only.",
    )
    remote_push: bool = Field(
        default=True,
        description="Push every upload/update/delete to the remote at once (false: only on `storage push`).",
    )
    remote_options: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON object of fsspec storage options for the remote (endpoint_url, key, secret, …).",
    )
    remote_ttl: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a listing of remote records stays fresh for queries (0: list on every query).",
    )
    hf_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PRSGAZER_HF_TOKEN", "HF_TOKEN"),
        description="HuggingFace Hub token for hf:// remotes (falls back to HF_TOKEN).",
    )
    hf_endpoint: str = Field(
        default="https://huggingface.co",
        validation_alias=AliasChoices("PRSGAZER_HF_ENDPOINT", "HF_ENDPOINT"),
        description="HuggingFace Hub endpoint for hf:// remotes (falls back to HF_ENDPOINT).",
    )

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
