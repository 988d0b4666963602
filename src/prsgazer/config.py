"""Settings from the environment (prefix `PRSGAZER_`), with defaults; see .env.template.

Nothing is read at import time: call `get_settings()`. Tests and CLIs that change the
environment call `get_settings.cache_clear()` (or `reset_settings()`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

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

    image: str = Field(
        default="",
        description="Prebuilt task image for cluster runs (empty: Flyte builds one from pyproject.toml + uv.lock).",
    )

    # --- catalog ---
    catalog_rest_url: str = Field(
        default="https://www.pgscatalog.org/rest/",
        description="PGS Catalog REST API base URL (ends with /rest/).",
    )
    catalog_ftp_url: str = Field(
        default="https://ftp.ebi.ac.uk/pub/databases/spot/pgs/",
        description="Base of the PGS Catalog file server (scores/, metadata/) over HTTPS.",
    )
    catalog_rate_limit: int = Field(
        default=90,
        ge=1,
        description="REST requests allowed per rate period (the API documents 100 per minute).",
    )
    catalog_rate_period: float = Field(default=60.0, gt=0, description="Seconds of the rate window.")
    catalog_timeout: float = Field(default=30.0, gt=0, description="Seconds for one REST request.")
    catalog_connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to connect.")
    catalog_read_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a download may go without receiving data before it is retried.",
    )
    catalog_retries: int = Field(
        default=5, ge=0, description="Retries after a failed request or download (429, 5xx, network)."
    )
    catalog_backoff: float = Field(
        default=1.0, ge=0, description="Base seconds of exponential backoff between retries."
    )
    catalog_backoff_max: float = Field(default=60.0, ge=0, description="Longest single wait between retries.")
    catalog_cache_ttl: float = Field(
        default=86400.0,
        ge=0,
        description="Seconds a cached REST response stays fresh (0 disables the response cache).",
    )
    catalog_max_downloads: int = Field(default=4, ge=1, description="Concurrent scoring-file downloads.")
    catalog_hf_repo: str = Field(
        default="",
        description="HuggingFace dataset repo (owner/name) to publish/pull cleaned catalog metadata.",
    )
    catalog_hf_token: SecretStr | None = Field(
        default=None,
        description="HuggingFace token for publishing; unset uses huggingface_hub's own login (HF_TOKEN).",
    )

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
    # --- MCP server (docs/mcp.md) ---
    mcp_allowed_dirs: str = Field(
        default="",
        description="Directories the MCP `upload_file` tool may read, separated by ':' (';' on Windows); "
        "empty: `$PRSGAZER_HOME/inputs` and `~/Documents/prsgazer`.",
    )
    mcp_max_upload_bytes: int = Field(
        default=4 * 1024**3, ge=1, description="Largest file (bytes) the MCP `upload_file` tool accepts."
    )
    mcp_host: str = Field(default="127.0.0.1", description="Interface `prsgazer serve --http` binds to.")
    mcp_port: int = Field(default=8765, ge=0, le=65535, description="Port of `prsgazer serve --http` (0: any free).")
    mcp_token: SecretStr | None = Field(
        default=None,
        description="Bearer token HTTP clients must send (`Authorization: Bearer …`); unset: no auth, which "
        "`serve --http` allows on a loopback host only.",
    )

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
    engine_min_qual: float | None = Field(default=None, description="VCF records with a lower QUAL are set missing.")
    engine_block_cells: int = Field(
        default=8_000_000, ge=1024, description="Genotype cells (variants × samples) read per scoring chunk."
    )
    engine_scorefile_reader: Literal["auto", "compiled", "polars"] = Field(
        default="auto",
        description="Scoring-file reader: 'compiled' (numba, common layouts; the polars parser for the rest and "
        "for every error), 'polars' only, or 'auto' (compiled once loaded, or for large inputs).",
    )
    engine_scorefile_compiled_min_mb: int = Field(
        default=32, ge=0, description="'auto': use the compiled reader for at least this many MB of text to parse."
    )
    numba_256: bool = Field(
        default=False,
        description="Keep LLVM's 256-bit vectors in the compiled kernels on AVX-512 hosts (read at import).",
    )

    # --- reference panels (docs/reference.md) ---
    memory_limit: str = Field(
        default="2GB",
        description="Memory a batch scoring run may use (e.g. 2GB, 1500MiB): sets chunk and group sizes.",
    )
    reference_base_url: str = Field(
        default="https://ftp.ebi.ac.uk/pub/databases/spot/pgs/resources/",
        description="Where the PGS Catalog reference packs (pgsc_1000G_v1.tar.zst, …) are downloaded from.",
    )
    panels_dir: Path | None = Field(
        default=None,
        description="Where downloaded and synthesized panels are installed (by name).",
    )
    reference_dense_fraction: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Batch scoring: scores covering more of the variant union than this use BLAS, others a "
        "sparse kernel.",
    )

    reference_batch_size: int = Field(
        default=500,
        ge=1,
        description="reference_distributions: scoring files per reference_batch task (one pass over the panel each; "
        "batches run in parallel on a cluster).",
    )

    @property
    def panels_path(self) -> Path:
        """`panels_dir`, or `<home>/panels`."""
        return self.panels_dir or self.home / "panels"

    @property
    def engine_filter_pass_list(self) -> list[str] | None:
        """`engine_filter_pass` as a list; None when every FILTER value is accepted."""
        values = [v.strip() for v in self.engine_filter_pass.split(",") if v.strip()]
        return None if "*" in values else values

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def catalog_cache_dir(self) -> Path:
        """Where the catalog keeps its HTTP response cache and partial downloads."""
        return self.cache_dir / "catalog"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings so the next `get_settings()` re-reads the environment."""
    get_settings.cache_clear()


_COMPUTED_DEFAULTS = {
    "home": "platform user-data dir (`~/.local/share/prsgazer`)",
    "cache_dir": "platform user-cache dir (`~/.cache/prsgazer`)",
    "panels_dir": "`$PRSGAZER_HOME/panels`",
}


def settings_markdown() -> str:
    """The README's configuration table, generated from `Settings` (a test keeps the README equal to it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        if name in _COMPUTED_DEFAULTS:
            default = _COMPUTED_DEFAULTS[name]
        else:
            value = f.get_default(call_default_factory=True)
            if value in (None, "", {}, []):
                default = "(unset)"
            elif isinstance(value, bool):
                default = f"`{str(value).lower()}`"
            else:
                default = f"`{value}`"
        rows.append(f"| `PRSGAZER_{name.upper()}` | {default} | {f.description} |")
    return "\n".join(rows) + "\n"
