"""Glue every stored operation shares: result keys, cache look-ups in the store, run metrics and
scratch directories. See docs/workflows.md ("Caching").

Caching is keyed by what determines a result — the operation, the CIDs of its inputs, its parameters
and the code version (`code_version`, derived from the sources of `engine/` and `ops/`: any change
to them — a fix, a new default, a new output column — gives new keys, so no stale result is ever
returned after an upgrade; nobody bumps it by hand) — and lives in the asset
store itself (`task_key` field on every output). So a rerun on the same bytes is a lookup, any
changed byte (of the inputs or of the code) recomputes, a killed run resumes from what it stored, and
the same cache works on a cluster through a storage remote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import resource
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from prsgazer import __version__
from prsgazer.engine.version import source_digest
from prsgazer.errors import PrsgazerError

if TYPE_CHECKING:  # annotations only: a run that stores nothing does not load the asset types (or batch)
    from prsgazer.assets import Asset
    from prsgazer.engine.scoring.batch import MemoryBudget

_PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def code_version() -> str:
    """16 hex digits over the sources of `prsgazer/engine` and `prsgazer/ops`."""
    h = hashlib.sha256()
    for part in ("engine", "ops"):
        h.update(source_digest(_PACKAGE / part).encode())
    return h.hexdigest()[:16]


def provenance(params: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """What every output records: the prsgazer and code versions and the parameters that made it."""
    return {"prsgazer": __version__, "code_version": code_version(), "params": params or {}, **more}


class _HasCid(Protocol):
    @property
    def cid(self) -> str: ...


A = TypeVar("A", bound="Asset")
T = TypeVar("T", bound=_HasCid)


def result_key(operation: str, *, inputs: dict[str, Any], params: dict[str, Any] | None = None) -> str:
    """A stable key for (operation, input CIDs, parameters, code version)."""
    payload = {
        "task": operation,
        "code": code_version(),
        "prsgazer": __version__.split("+")[0],
        "inputs": inputs,
        "params": params or {},
    }
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def cached(store: Any, key: str, kind: type[A]) -> list[A]:
    """Outputs of type `kind` already stored under `key` whose bytes are still good (a corrupt one is a miss)."""
    found = store.query(asset=kind.asset_key, task_key=key)
    good: list[A] = []
    for a in found:
        try:
            store.verify(a.cid)
            good.append(a)
        except PrsgazerError:
            return []
    return good


def split_cached(
    store: Any, items: list[T], key_of: Callable[[T], str], kind: type[A]
) -> tuple[dict[str, list[A]], list[T]]:
    """Per input (by its `cid`): its outputs of type `kind` already stored under `key_of(item)`, and the items
    still to compute."""
    done: dict[str, list[A]] = {}
    todo = []
    for item in items:
        hit = cached(store, key_of(item), kind)
        if hit:
            done[item.cid] = [from_cache(h) for h in hit]
        else:
            todo.append(item)
    return done, todo


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Metrics:
    """Wall time, CPU time and peak resident memory of a block of work."""

    task: str
    started: float = field(default_factory=time.time)
    duration_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "duration_s": round(self.duration_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "cached": self.cached,
        }


@contextlib.contextmanager
def measure(task: str, interval: float = 0.05) -> Iterator[Metrics]:
    """Measure wall, process CPU and peak RSS (sampled) while the block runs.

    In a local run concurrent tasks share one process, so CPU and RSS are the process's during the
    task; in a cluster pod they are the task's own.
    """
    m = Metrics(task=task)
    stop = threading.Event()
    peak = [_rss_bytes()]

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss_bytes())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    try:
        yield m
    finally:
        stop.set()
        t.join()
        peak[0] = max(peak[0], _rss_bytes())
        m.duration_s = time.perf_counter() - wall0
        m.cpu_s = time.process_time() - cpu0
        m.peak_rss_mb = peak[0] / 2**20


@contextlib.contextmanager
def scratch(operation: str, cache_dir: Path | None = None) -> Iterator[Path]:
    """A fresh directory for an operation's outputs until they are stored; removed afterwards.

    Named `<cache_dir>/runs/<operation>-<time>-<random>` (never a fixed shared name, so concurrent
    operations never collide); the store keeps its own copy of what was uploaded.
    """
    if cache_dir is None:
        from prsgazer.config import get_settings

        cache_dir = get_settings().cache_dir
    d = Path(cache_dir) / "runs" / f"{operation}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    d.mkdir(parents=True, exist_ok=True)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


#: The process's memory budgets, one per limit (bytes): `PRSGAZER_MEMORY_LIMIT` applies to the process,
#: so every batch computed in it — concurrent tasks of a local run, MCP requests — shares one budget.
_budgets: dict[int, MemoryBudget] = {}
_budgets_lock = threading.Lock()


def memory_budget(limit: str | int) -> MemoryBudget:
    """The process-wide memory budget for `limit` (created on first use)."""
    from prsgazer.engine.scoring.batch import MemoryBudget, parse_memory

    nbytes = parse_memory(limit)
    with _budgets_lock:
        budget = _budgets.get(nbytes)
        if budget is None:
            budget = _budgets[nbytes] = MemoryBudget(nbytes)
        return budget


class Cancelled(PrsgazerError):
    """The caller gave up on this operation (e.g. a cancelled run): nothing more is stored."""


#: A callable answering "has the caller given up?", checked before anything is stored.
CancelCheck = Callable[[], bool]


def stop_if_cancelled(cancelled: CancelCheck | None) -> None:
    """Raise `Cancelled` when the caller has given up (an operation in a thread cannot be killed, so
    it checks before it stores: a cancelled run stores nothing)."""
    if cancelled is not None and cancelled():
        raise Cancelled("the operation was cancelled before its results were stored")


def portable(asset: A) -> A:
    """The asset as operations hand it on: identity and fields only (no local path, no store extras).

    An output is a pointer into the store; the next task, maybe in another pod, fetches it by CID.
    """
    return dataclasses.replace(asset, path=None, extra={})


def from_cache(hit: A) -> A:
    """A cached output, marked as such in its metrics (the stored record keeps the original run's)."""
    return portable(dataclasses.replace(hit, metrics={**hit.metrics, "cached": True}))
