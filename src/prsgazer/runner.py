"""Run a registered task or workflow through Flyte, locally or on a cluster. See docs/workflows.md.

The one place front doors (CLI, MCP server, notebook) start runs: inputs are bound from the store by
the registry, the run goes through `flyte.with_runcontext(...).run.aio` (never blocking the event
loop), and outputs come back as JSON-able data with the CIDs to chain further calls.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from prsgazer import registry
from prsgazer.assets import Asset
from prsgazer.errors import NothingComputedError, PrsgazerError

#: Where a run goes: this process (Flyte local mode) or the configured cluster.
Mode = Literal["local", "remote"]

_REPO = Path(__file__).resolve().parents[2]
_initialized: str | None = None


class RunOutcome(BaseModel):
    """What a run returned, JSON-able."""

    name: str
    kind: str
    mode: str
    run_name: str = ""
    run_url: str = ""
    duration_s: float
    outputs: Any


def flyte_config_path() -> Path | None:
    """`.flyte/config.yaml` of this checkout, if there is one (the CLI never uses ./config.yaml)."""
    p = _REPO / ".flyte" / "config.yaml"
    return p if p.exists() else None


#: Keys of fsspec storage options that hold credentials: they belong in Flyte secrets, not in task env vars.
_CREDENTIAL_KEYS = re.compile(r"(^|_)(key|secret|token|password|session)($|_)", re.I)


def check_cluster() -> Path | None:
    """What a remote run needs, checked before anything is launched: a Flyte cluster (admin.endpoint in
    `.flyte/config.yaml`, or FLYTE_ADMIN_ENDPOINT) and a shared store every pod reaches (PRSGAZER_REMOTE),
    whose credentials are Flyte secrets rather than PRSGAZER_REMOTE_OPTIONS (forwarded as plain task
    environment variables). Returns the Flyte config file used; anything missing is an InputError
    naming what to configure."""
    import flyte.config

    from prsgazer.config import get_settings
    from prsgazer.errors import InputError

    cfg = flyte_config_path()
    if not flyte.config.auto(str(cfg) if cfg else None).platform.endpoint:
        raise InputError(
            "no Flyte cluster is configured for --remote runs",
            file=str(cfg or _REPO / ".flyte" / "config.yaml"),
            field="admin.endpoint",
            hint="uncomment and fill the admin block of .flyte/config.yaml (endpoint, auth) or set "
            "FLYTE_ADMIN_ENDPOINT; or run here with --local (docs/cluster.md, step 1)",
        )
    s = get_settings()
    if not s.remote.strip():
        raise InputError(
            "a cluster run needs a shared store: every task runs in its own pod with its own empty disk",
            field="PRSGAZER_REMOTE",
            hint="set PRSGAZER_REMOTE=s3://bucket/prefix (or hf://datasets/org/name, or file:// on a volume every "
            "pod mounts) and push the inputs (in a shell: `prsgazer storage push`); docs/cluster.md, step 2",
        )
    found = sorted(_credential_keys(s.remote_options))
    if found:
        raise InputError(
            f"PRSGAZER_REMOTE_OPTIONS holds credentials ({', '.join(found)}): it is forwarded to every task as a "
            "plain environment variable",
            field="PRSGAZER_REMOTE_OPTIONS",
            hint="store them as Flyte secrets and mount them with PRSGAZER_CLUSTER_SECRETS (docs/cluster.md, step 3)",
        )
    return cfg


def _credential_keys(options: Any, prefix: str = "") -> list[str]:
    if not isinstance(options, dict):
        return []
    out = []
    for k, v in options.items():
        if isinstance(v, dict):
            out += _credential_keys(v, f"{prefix}{k}.")
        elif _CREDENTIAL_KEYS.search(str(k)) and v:
            out.append(f"{prefix}{k}")
    return out


def pin_flyte_local_cache() -> Path:
    """Keep Flyte's local run database (its task cache and run records) under `PRSGAZER_CACHE_DIR/flyte/`.

    Flyte puts it beside the config file it finds, which for this checkout is `.flyte/config.yaml`: the
    source tree. Runs started by prsgazer (CLI, MCP, notebook, tests) call this first; `flyte run --local`
    started by hand keeps Flyte's own place (`.flyte/local-cache/`, ignored by git). Returns the folder.
    """
    from flyte._persistence._db import LocalDB

    from prsgazer.config import get_settings

    def cache_dir() -> Path:
        return Path(get_settings().cache_dir) / "flyte"

    if getattr(LocalDB._get_cache_dir, "__prsgazer__", False) is False:
        # (a database Flyte opened before this call stays where it is for the rest of the process)
        cache_dir.__prsgazer__ = True  # type: ignore[attr-defined]
        LocalDB._get_cache_dir = staticmethod(cache_dir)  # type: ignore[method-assign]
    return cache_dir()


async def init_flyte(mode: str) -> None:
    """Initialise Flyte once per process for `mode` ("local" or "remote"; remote is checked first)."""
    global _initialized
    import flyte

    if mode == "remote":
        cfg = check_cluster()
    if _initialized == mode:
        return
    if mode == "remote":
        await flyte.init_from_config.aio(str(cfg) if cfg else None, root_dir=_REPO / "src")
    else:
        pin_flyte_local_cache()
        await flyte.init.aio(root_dir=_REPO / "src" if (_REPO / "src").is_dir() else None, log_level=_flyte_log_level())
    _initialized = mode


def to_jsonable(obj: Any) -> Any:
    """Assets, dataclasses, pydantic models, tuples of outputs → plain JSON data."""
    if isinstance(obj, Asset):
        return {"cid": obj.cid, "filename": obj.filename, **obj.to_keyvalues()}
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _flyte_log_level() -> int:
    """Flyte's own logging follows PRSGAZER_LOG_LEVEL, but task failures we report ourselves stay quiet."""
    import logging

    from prsgazer.config import get_settings

    level = logging.getLevelName(get_settings().log_level.upper())
    return level if isinstance(level, int) and level <= logging.INFO else logging.CRITICAL


def native_error(exc: BaseException, name: str) -> PrsgazerError:
    """A Flyte run error as the prsgazer error it started as (bad input stays bad input: exit code 2)."""
    from prsgazer import errors

    code = str(getattr(exc, "code", "") or "")
    message = str(exc).strip() or type(exc).__name__
    cls = getattr(errors, code, None)
    if isinstance(cls, type) and issubclass(cls, errors.InputError):
        return cls(message)
    return PrsgazerError(f"{name} failed: {message}")


def _unwrap(outputs: Any) -> Any:
    """Flyte returns outputs as a tuple-like (o0, o1, …); one output is returned bare."""
    if isinstance(outputs, tuple) and len(outputs) == 1:
        return outputs[0]
    items = getattr(outputs, "_asdict", None)
    if items is not None:
        values = list(items().values())
        return values[0] if len(values) == 1 else values
    return outputs


async def run(name: str, inputs: dict[str, Any] | None = None, *, mode: Mode = "local") -> RunOutcome:
    """Run task/workflow `name` with `inputs` (bound and validated by the registry) and wait for it."""
    import flyte

    entry = registry.get(name)
    kwargs = registry.bind(entry, inputs or {})
    await init_flyte(mode)
    t0 = time.perf_counter()
    try:
        r = await flyte.with_runcontext(mode=mode, log_level=_flyte_log_level()).run.aio(entry.task, **kwargs)
        if mode == "remote":
            await r.wait.aio()
        outputs = _unwrap(r.outputs())
    except flyte.errors.BaseRuntimeError as exc:
        raise native_error(exc, entry.name) from exc
    jsonable = to_jsonable(outputs)
    check_something_computed(entry.name, jsonable)
    return RunOutcome(
        name=entry.name,
        kind=entry.kind,
        mode=mode,
        run_name=str(getattr(r, "name", "") or ""),
        run_url=str(getattr(r, "url", "") or ""),
        duration_s=round(time.perf_counter() - t0, 3),
        outputs=jsonable,
    )


#: Failure steps and messages that mean the inputs were at fault (exit 2), not the machine or the network.
_INPUT_STEPS = {"match"}
_INPUT_WORDS = ("no stored scoring file", "not in the PGS Catalog", "below the minimum", "no variant matched")


def check_something_computed(name: str, outputs: Any) -> None:
    """A run whose every score failed is a failed run (`NothingComputedError`, with each reason); a
    partial success stays a success. Looks at the totals every workflow output carries (`n_ok`,
    `n_failed`) and, for a report, at the stored report's failures."""
    if not isinstance(outputs, dict) or "n_ok" not in outputs or outputs.get("n_ok") != 0:
        return
    if not (outputs.get("n_failed") or outputs.get("n_total")):
        return
    reasons: list[tuple[str, str, str]] = [
        (str(f.get("pgs_id", "")), str(f.get("step", "")), str(f.get("error", ""))) for f in outputs.get("failures", [])
    ]
    if not reasons and outputs.get("asset") == "prs_report" and outputs.get("cid"):
        reasons = _report_reasons(outputs["cid"])
    input_fault = bool(reasons) and all(s in _INPUT_STEPS or any(w in why for w in _INPUT_WORDS)
                                        for _, s, why in reasons)  # fmt: skip
    raise NothingComputedError(name, reasons, input_fault=input_fault)


def _report_reasons(cid: str) -> list[tuple[str, str, str]]:
    from prsgazer.engine.interpret import Report
    from prsgazer.storage import default_store

    got = default_store().fetch(cid)
    doc = Report.model_validate_json(Path(got.path).read_text())  # type: ignore[arg-type]
    reasons = [(f.pgs_id, f.step, f.error) for f in doc.failures]
    reasons += [(s.pgs_id, "match", s.reason) for s in doc.scores if s.status != "ok"]
    return reasons
