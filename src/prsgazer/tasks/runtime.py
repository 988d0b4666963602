"""Glue every task shares: storage-native caching and run metrics. See docs/workflows.md.

Caching is keyed by what determines a result — the task name, the CIDs of its inputs, its parameters
and the engine version — and lives in the asset store itself (`task_key` field on every output). So a
rerun on the same bytes is a lookup, any changed byte recomputes, a killed run resumes from what it
stored, and the same cache works on a cluster through a storage remote. (Flyte's own cache is keyed
by input literals, which include local paths; it stays off so there is one source of truth.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prsgazer import __version__
from prsgazer.assets import Asset

#: Bump when engine output changes for the same inputs; part of every cache key.
ENGINE_VERSION = "1"


def task_key(task: str, *, inputs: dict[str, Any], params: dict[str, Any] | None = None) -> str:
    """A stable key for (task, input CIDs, parameters, engine version)."""
    payload = {
        "task": task,
        "engine": ENGINE_VERSION,
        "prsgazer": __version__.split("+")[0],
        "inputs": inputs,
        "params": params or {},
    }
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def cached(store, key: str, asset: str) -> list[Asset]:
    """Outputs already stored under `key` whose bytes are still good (a corrupt one is a miss)."""
    from prsgazer.errors import PrsgazerError

    found = store.query(asset=asset, task_key=key)
    good = []
    for a in found:
        try:
            store.verify(a.cid)
            good.append(a)
        except PrsgazerError:
            return []
    return good


def split_cached(store, items: list, key_of, asset: str) -> tuple[dict[str, list[Asset]], list]:  # type: ignore[no-untyped-def]
    """Per input (by CID): its outputs already stored under `key_of(item)`, and the items still to compute."""
    done: dict[str, list[Asset]] = {}
    todo = []
    for item in items:
        hit = cached(store, key_of(item), asset)
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


def run_dir(task: str) -> Path:
    """A fresh per-run directory for a task's outputs (never a fixed shared name)."""
    import uuid

    from prsgazer.config import get_settings

    d = get_settings().cache_dir / "runs" / f"{task}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def portable(asset: Asset) -> Asset:
    """The asset as tasks hand it on: identity and fields only (no local path, no store extras).

    A task output is a pointer into the store; the next task, maybe in another pod, fetches it by CID.
    """
    import dataclasses

    return dataclasses.replace(asset, path=None, extra={})


def from_cache(hit: Asset) -> Asset:
    """A cached output, marked as such in its metrics (the stored record keeps the original run's)."""
    import dataclasses

    return portable(dataclasses.replace(hit, metrics={**hit.metrics, "cached": True}))


@contextlib.contextmanager
def input_errors_are_final(*also: type[BaseException]) -> Iterator[None]:
    """Inside a Flyte run, bad input fails the task at once (no retries): retrying cannot fix it.

    `also`: more error classes that are final (e.g. a catalog download that already retried with
    backoff: Flyte retries on top would multiply the wait). Outside a run (a task awaited as plain
    Python, e.g. in tests) errors pass through unchanged. The error code keeps the prsgazer class
    name so front doors can map it back (exit code 2 for input errors).
    """
    from prsgazer.errors import InputError

    try:
        yield
    except (InputError, *also) as exc:
        import flyte
        import flyte.errors

        if not flyte.ctx():
            raise
        raise flyte.errors.NonRecoverableError(str(exc), code=type(exc).__name__) from exc
