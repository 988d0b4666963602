"""Flyte task environments: what every task gets on a cluster. See docs/cluster.md and docs/workflows.md.

Three environments: `light` (catalog look-ups, aggregation, reports), `compute` (normalising,
scoring, batch reference scoring) and `orchestrator` (the workflows: they only chain tasks). On a
cluster each task runs in its own pod with:

- **environment variables** (`task_env`): telemetry switches, the pod's own local store on its
  ephemeral disk (`POD_ENV`), and the deployer's settings forwarded
  from the launching environment (`FORWARDED_SETTINGS`: the shared remote, its options, push mode and
  TTL, the Hub endpoint, catalog endpoints and limits, the memory limit; plus the S3 endpoint/region
  variables). Local paths (`PRSGAZER_HOME`, …) and credentials are never forwarded.
- **secrets** (`task_secrets`): credentials as Flyte secrets, mounted as the variables the store
  reads (by default by the remote's scheme: the AWS key pair for s3://, `PRSGAZER_HF_TOKEN` for
  hf://; `PRSGAZER_CLUSTER_SECRETS` names others, or `none`).
- **Flyte's task cache**, versioned by `StoreCodeVersion`: the sources of the code that computes
  (`engine/`, `ops/`, `tasks/`, `assets/`) and the store the outputs live in, so a rerun is a
  cache hit on a cluster too and a different store never receives another store's pointers.
- **the image** (`task_image`): a prebuilt `PRSGAZER_IMAGE`, or the one Flyte builds with the same
  locked environment as the repository's Dockerfile (Python 3.11, plink2, `uv.lock` without dev
  dependencies); task code travels in Flyte's code bundle.

Flyte binds environments when this module is imported (the `@env.task` decorators need them), so
that is when the launching environment is read. It is only read: no settings are cached, nothing is
written and Flyte is not called. Local runs execute tasks in-process and ignore env vars, secrets and
images.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flyte

_REPO = Path(__file__).resolve().parents[3]
_PACKAGE = Path(__file__).resolve().parents[1]

#: The task image's Python (the Dockerfile's `FROM python:3.11-…` must agree; a test checks).
PYTHON_VERSION = (3, 11)
#: Debian packages of the task image (the Dockerfile installs the same).
APT_PACKAGES = ("plink2", "ca-certificates")
#: Where a pod keeps its local store and cache: its own ephemeral disk (the Dockerfile sets the same).
POD_ENV = {"PRSGAZER_HOME": "/tmp/prsgazer", "PRSGAZER_CACHE_DIR": "/tmp/prsgazer-cache"}
#: `uv sync` options of both images: exactly uv.lock, no dev dependencies.
UV_SYNC_ARGS = "--locked --no-dev"

#: Environment variables every task process gets (no telemetry, no update checks).
TASK_ENV_VARS = {"DO_NOT_TRACK": "1", "FASTMCP_CHECK_FOR_UPDATES": "off", "MARIMO_SKIP_UPDATE_CHECK": "1"}

#: Settings (`prsgazer.config.Settings` field names) forwarded from the launching environment.
FORWARDED_SETTINGS = (
    "remote", "remote_options", "remote_push", "remote_ttl", "hf_endpoint", "verify_on_read", "reverify_seconds",
    "lock_timeout",
    "log_level", "catalog_rest_url", "catalog_ftp_url", "catalog_rate_limit", "catalog_rate_period",
    "catalog_timeout", "catalog_connect_timeout", "catalog_read_timeout", "catalog_retries", "catalog_backoff",
    "catalog_backoff_max", "catalog_cache_ttl", "catalog_max_downloads", "catalog_hf_repo", "memory_limit",
    "batch_cache_scorefiles",
    "reference_base_url",
)  # fmt: skip
#: Settings that are paths or choices of the launching machine: meaningless in a pod.
LOCAL_SETTINGS = (
    "home", "cache_dir", "panels_dir", "chain_dir", "image", "cluster_secrets", "mcp_allowed_dirs",
    "mcp_max_upload_bytes", "mcp_host", "mcp_port", "mcp_allowed_hosts", "mcp_allowed_origins", "notebook_host",
    "notebook_port",
)  # fmt: skip
#: Credentials: never forwarded as plain variables (declare them as Flyte secrets, `PRSGAZER_CLUSTER_SECRETS`).
SECRET_SETTINGS = ("hf_token", "catalog_hf_token", "mcp_token", "notebook_token")
#: Non-secret variables of the S3 client (an S3-compatible endpoint, the region) forwarded as they are.
FORWARDED_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION")


def _names(setting: str) -> tuple[str, ...]:
    """The environment variables a setting is read from (its validation aliases, else PRSGAZER_<NAME>)."""
    from prsgazer.config import Settings

    alias = Settings.model_fields[setting].validation_alias
    choices = getattr(alias, "choices", None)
    return tuple(str(c) for c in choices) if choices else (f"PRSGAZER_{setting.upper()}",)


def task_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables every cluster task gets: telemetry switches, its own local store (`POD_ENV`), the
    forwarded settings (under their PRSGAZER_ name, whichever alias set them) and the S3 client's
    non-secret variables."""
    environ = os.environ if environ is None else environ
    out = {**TASK_ENV_VARS, **POD_ENV}
    for setting in FORWARDED_SETTINGS:
        names = _names(setting)
        value = next((environ[n] for n in names if environ.get(n, "").strip()), None)
        if value is not None:
            out[f"PRSGAZER_{setting.upper()}"] = value
    out.update({n: environ[n] for n in FORWARDED_VARIABLES if environ.get(n, "").strip()})
    return out


def task_secrets(environ: Mapping[str, str] | None = None) -> list[flyte.Secret]:
    """Flyte secrets mounted in every cluster task as the variables the store reads."""
    from prsgazer.config import cluster_secret_pairs
    from prsgazer.errors import InputError

    environ = os.environ if environ is None else environ
    given = environ.get("PRSGAZER_CLUSTER_SECRETS", "")
    try:
        pairs = cluster_secret_pairs(given, environ.get("PRSGAZER_REMOTE", ""))
    except ValueError as exc:
        raise InputError(
            f"bad setting: PRSGAZER_CLUSTER_SECRETS={given!r}: {exc}",
            hint="fix the variable in the environment or .env (see docs/cluster.md)",
        ) from None
    return [flyte.Secret(key=key, as_env_var=env) for env, key in pairs]


def task_image(environ: Mapping[str, str] | None = None) -> flyte.Image | str:
    """The image tasks run in on a cluster (unused by local runs): `PRSGAZER_IMAGE`, else the image Flyte
    builds from the repository's lock file (from the installed distribution outside a checkout)."""
    environ = os.environ if environ is None else environ
    prebuilt = environ.get("PRSGAZER_IMAGE", "").strip()
    if prebuilt:
        return prebuilt
    image = flyte.Image.from_debian_base(python_version=PYTHON_VERSION, name="prsgazer").with_apt_packages(
        *APT_PACKAGES
    )
    pyproject = _REPO / "pyproject.toml"
    if pyproject.exists():
        return image.with_uv_project(pyproject, project_install_mode="dependencies_only", extra_args=UV_SYNC_ARGS)
    from prsgazer import __version__  # installed from a wheel: install the same distribution in the image

    return image.with_pip_packages(f"prsgazer=={__version__}")


def store_scope() -> str:
    """Which store task outputs live in: the shared remote's URL, else the local store's root."""
    from prsgazer.config import get_settings

    s = get_settings()
    return s.remote.strip() or str(Path(s.home).resolve())


class StoreCodeVersion:
    """Flyte cache version (a `flyte.CachePolicy`): the sources of the code that computes outputs and
    the store they live in. A rerun with the same inputs is then a cache hit; any change to that code
    (never a hand-bumped string) or another store is a miss, and the store's own result keys decide."""

    def get_version(self, salt: str, params: Any) -> str:
        h = hashlib.sha256(salt.encode())
        h.update(_code_digest().encode())
        h.update(store_scope().encode())
        return h.hexdigest()


@functools.cache
def _code_digest() -> str:
    """The sources that decide a task's outputs: engine and ops (`code_version`), tasks and assets."""
    from prsgazer.engine.version import source_digest
    from prsgazer.ops.runtime import code_version

    return code_version() + "".join(source_digest(_PACKAGE / part) for part in ("tasks", "assets"))


#: Task outputs are cached by Flyte on their inputs (CIDs and typed fields) and `StoreCodeVersion`.
TASK_CACHE = flyte.Cache(behavior="auto", policies=[StoreCodeVersion()])

_IMAGE = task_image()
_ENV = task_env()
_SECRETS: list[str | flyte.Secret] = [*task_secrets()]

light = flyte.TaskEnvironment(
    name="prsgazer-light",
    image=_IMAGE,
    resources=flyte.Resources(cpu=1, memory="1Gi"),
    env_vars=_ENV,
    secrets=_SECRETS,
    cache=TASK_CACHE,
)
compute = flyte.TaskEnvironment(
    name="prsgazer-compute",
    image=_IMAGE,
    resources=flyte.Resources(cpu=2, memory="6Gi"),
    env_vars=_ENV,
    secrets=_SECRETS,
    cache=TASK_CACHE,
    depends_on=[light],
)

#: Workflows are tasks that call tasks; they only orchestrate, so they need little (and are never cached:
#: each run decides afresh what to reuse).
orchestrator = flyte.TaskEnvironment(
    name="prsgazer-workflows",
    image=_IMAGE,
    resources=flyte.Resources(cpu=1, memory="1Gi"),
    env_vars=_ENV,
    secrets=_SECRETS,
    depends_on=[light, compute],
)
