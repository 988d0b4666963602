"""Settings from the environment (prefix `PRSGAZER_`), with defaults; see .env.template.

Nothing is read at import time: call `get_settings()`. Tests and CLIs that change the
environment call `get_settings.cache_clear()` (or `reset_settings()`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from prsgazer.errors import InputError


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("prsgazer", appauthor=False))


def _default_cache() -> Path:
    return Path(platformdirs.user_cache_dir("prsgazer", appauthor=False))


class Settings(BaseModel):
    """All configurable values. Each maps to `PRSGAZER_<NAME>` in the environment (`from_env`)."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from `environ` (default: the process environment): `PRSGAZER_<NAME>` for each
        field, names matched in any case, or the names a field's `validation_alias` lists (the first
        one set wins); JSON objects for dict fields. Unset variables keep their defaults.

        Read by this one function instead of pydantic-settings, whose import took 45 ms of every
        command's start (docs/benchmarks.md)."""
        env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
        values: dict[str, Any] = {}
        for name, f in cls.model_fields.items():
            alias = f.validation_alias
            names = [str(a) for a in alias.choices] if isinstance(alias, AliasChoices) else [f"PRSGAZER_{name}"]
            for var in names:
                if var.upper() in env:
                    values[name] = env[var.upper()]
                    break
        return cls.model_validate(values)

    home: Path = Field(default_factory=_default_home, description="Storage root (blobs + metadata).")
    cache_dir: Path = Field(
        default_factory=_default_cache,
        description="Derived, re-creatable data (parsed files, downloads).",
    )
    verify_on_read: bool = Field(
        default=True,
        description="Re-hash a blob before handing it out (once per file state, and every PRSGAZER_REVERIFY_SECONDS).",
    )
    lock_timeout: float = Field(default=120.0, description="Seconds to wait for the metadata lock.")
    reverify_seconds: float = Field(
        default=600.0,
        ge=0,
        description="A long-running process re-hashes a blob it verified before when this many seconds have passed "
        "(sooner when the file's inode, size, mtime or ctime changed).",
    )
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="WARNING", description="loguru level for the CLI and server."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    image: str = Field(
        default="",
        description="Prebuilt task image for cluster runs (empty: Flyte builds one from pyproject.toml + uv.lock).",
    )
    cluster_secrets: str = Field(
        default="",
        description="Flyte secrets mounted in cluster tasks, as ENV_VAR=secret-key pairs separated by commas "
        "(`none`: no secrets, e.g. with IRSA); empty: by the remote, s3:// gets AWS_ACCESS_KEY_ID="
        "prsgazer-aws-access-key-id and AWS_SECRET_ACCESS_KEY=prsgazer-aws-secret-access-key, hf:// gets "
        "PRSGAZER_HF_TOKEN=prsgazer-hf-token.",
    )

    @field_validator("cluster_secrets")
    @classmethod
    def _secrets(cls, value: str) -> str:
        parse_cluster_secrets(value)
        return value

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

    @field_validator("remote_options", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not a JSON object ({exc})") from None
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
    mcp_allowed_hosts: str = Field(
        default="",
        description="Comma-separated extra names clients may use in the Host header of `serve --http` (the bound "
        "address and localhost always work); anything else is refused (421).",
    )
    mcp_allowed_origins: str = Field(
        default="",
        description="Comma-separated browser origins (e.g. https://app.example) allowed to call `serve --http`; "
        "other cross-site origins are refused (403).",
    )
    mcp_token: SecretStr | None = Field(
        default=None,
        description="Bearer token HTTP clients must send (`Authorization: Bearer …`); unset: no auth, which "
        "`serve --http` allows on a loopback host only.",
    )

    # --- notebook app (docs/notebook.md) ---
    notebook_host: str = Field(default="127.0.0.1", description="Interface `prsgazer notebook` binds to.")
    notebook_port: int = Field(default=2718, ge=0, le=65535, description="Port of `prsgazer notebook` (0: any free).")
    notebook_token: SecretStr | None = Field(
        default=None,
        description="Access token of `prsgazer notebook` on a non-loopback interface (unset: a random one, "
        "printed with the URL); never needed on a loopback host.",
    )

    # --- reference panels (docs/reference.md) ---
    memory_limit: str = Field(
        default="2GB",
        description="Memory a batch scoring run may use (e.g. 2GB, 1500MiB): sets chunk and group sizes, and the "
        "rounds a batch whose entries would not fit is matched and scored in.",
    )
    batch_cache_scorefiles: bool = Field(
        default=False,
        description="Batch scoring runs (reference distributions) also write the parsed-file cache entry of each "
        "scoring file they parse. Off: a batch keeps its results, which a rerun reads, and parses a file again in "
        "about the time its entry takes to write (entries written by person or cohort runs are read either way).",
    )

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?)(b?)\s*", value.lower()):
            raise ValueError("not a memory size such as 2GB, 1500MiB or 800M")
        return value
    reference_base_url: str = Field(
        default="https://ftp.ebi.ac.uk/pub/databases/spot/pgs/resources/",
        description="Where the PGS Catalog reference packs (pgsc_1000G_v1.tar.zst, …) are downloaded from.",
    )
    chain_dir: Path | None = Field(
        default=None,
        description="UCSC chain files found by name (hg19ToHg38.over.chain.gz, hg38ToHg19.over.chain.gz) to lift "
        "scoring files in the other build.",
    )
    panels_dir: Path | None = Field(
        default=None,
        description="Where downloaded and synthesized panels are installed (by name).",
    )
    @property
    def chain_path(self) -> Path:
        """`chain_dir`, or `<home>/chains`."""
        return self.chain_dir or self.home / "chains"

    @property
    def panels_path(self) -> Path:
        """`panels_dir`, or `<home>/panels`."""
        return self.panels_dir or self.home / "panels"

    @property
    def catalog_cache_dir(self) -> Path:
        """Where the catalog keeps its HTTP response cache and partial downloads."""
        return self.cache_dir / "catalog"


#: The Flyte secrets a remote's scheme needs by default: (environment variable, secret key).
DEFAULT_CLUSTER_SECRETS: dict[str, tuple[tuple[str, str], ...]] = {
    "s3": (("AWS_ACCESS_KEY_ID", "prsgazer-aws-access-key-id"),
           ("AWS_SECRET_ACCESS_KEY", "prsgazer-aws-secret-access-key")),
    "hf": (("PRSGAZER_HF_TOKEN", "prsgazer-hf-token"),),
}
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SECRET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def parse_cluster_secrets(value: str) -> tuple[tuple[str, str], ...] | None:
    """`ENV=key,ENV=key` → ((ENV, key), …); `none` → (); empty → None (the remote's defaults).

    A malformed pair is a ValueError saying which and what is allowed (the settings turn it into an
    InputError naming PRSGAZER_CLUSTER_SECRETS)."""
    text = value.strip()
    if not text:
        return None
    if text.lower() == "none":
        return ()
    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        env, eq, key = (x.strip() for x in part.partition("="))
        if not eq or not _ENV_NAME.fullmatch(env) or not _SECRET_KEY.fullmatch(key):
            raise ValueError(
                f"{part!r} is not ENV_VAR=secret-key (an upper-case variable name, then the Flyte secret's key), "
                "e.g. AWS_ACCESS_KEY_ID=prsgazer-aws-access-key-id; or `none`"
            )
        pairs.append((env, key))
    return tuple(pairs)


def cluster_secret_pairs(cluster_secrets: str, remote: str) -> tuple[tuple[str, str], ...]:
    """The (environment variable, Flyte secret key) pairs cluster tasks mount: the ones named in
    PRSGAZER_CLUSTER_SECRETS, else the defaults of the remote's scheme (none for file:// or no remote)."""
    given = parse_cluster_secrets(cluster_secrets)
    if given is not None:
        return given
    scheme = remote.strip().split("://", 1)[0].lower() if "://" in remote else ""
    return DEFAULT_CLUSTER_SECRETS.get({"s3a": "s3"}.get(scheme, scheme), ())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use.

    A bad value is an `InputError` (exit code 2) naming the variable, the value and what is allowed.
    """
    try:
        return Settings.from_env()
    except ValidationError as exc:
        raise settings_error(exc) from None


def settings_error(exc: ValidationError) -> InputError:
    """One line per bad variable: `PRSGAZER_X='value': what is allowed`."""
    parts = []
    for err in exc.errors():
        name = "PRSGAZER_" + "_".join(str(p) for p in err["loc"][:1]).upper()
        parts.append(f"{name}={err.get('input')!r}: {err['msg']}")
    return InputError(
        "bad setting: " + "; ".join(parts),
        hint="fix the variable in the environment or .env (see .env.template)",
    )


def reset_settings() -> None:
    """Forget cached settings so the next `get_settings()` re-reads the environment."""
    get_settings.cache_clear()


_COMPUTED_DEFAULTS = {
    "home": "platform user-data dir (`~/.local/share/prsgazer`)",
    "cache_dir": "platform user-cache dir (`~/.cache/prsgazer`)",
    "panels_dir": "`$PRSGAZER_HOME/panels`",
    "chain_dir": "`$PRSGAZER_HOME/chains`",
}


def _default_text(name: str, f: Any) -> str | None:
    """A setting's default as written in .env.template; None when computed at run time or unset."""
    if name in _COMPUTED_DEFAULTS:
        return None
    value = f.get_default(call_default_factory=True)
    if value in (None, "", {}, []):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_SECTIONS = {
    "home": "storage",
    "image": "cluster runs (docs/cluster.md)",
    "catalog_rest_url": "PGS Catalog (docs/catalog.md)",
    "remote": "remote storage (docs/storage.md, docs/cluster.md)",
    "mcp_allowed_dirs": "MCP server (docs/mcp.md)",
    "notebook_host": "notebook app (docs/notebook.md)",
    "memory_limit": "computation and reference panels (docs/reference.md)",
}


def settings_env_template() -> str:
    """`.env.template`, generated from `Settings` (a test keeps the file equal to it)."""
    out = [
        "# prsgazer settings: the deployer's choices, one environment variable each (prefix PRSGAZER_).",
        "# Copy to .env (never committed) or export in the environment. A value below is the default;",
        "# a commented line means the default is computed at run time or unset.",
        "# Choices that change a score's numbers are not settings: they are parameters of each command",
        "# (e.g. `prsgazer score --min-overlap`), recorded with every output.",
        "# Generated from prsgazer.config.Settings: uv run python scripts/sync_readme_settings.py",
    ]
    for name, f in Settings.model_fields.items():
        if name in _SECTIONS:
            out += ["", f"# --- {_SECTIONS[name]} " + "-" * max(3, 96 - len(_SECTIONS[name]) - 7)]
        out.append(f"# {f.description}")
        if name in _COMPUTED_DEFAULTS:
            out.append(f"# Default: {_COMPUTED_DEFAULTS[name].replace('`', '')}.")
        default = _default_text(name, f)
        var = f"PRSGAZER_{name.upper()}"
        out.append(f"{var}={default}" if default is not None else f"# {var}=")
    return "\n".join(out) + "\n"


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


def is_loopback(host: str) -> bool:
    """Whether a bind host (a `PRSGAZER_*_HOST` value) is this machine only: servers need no token there."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
