"""What Flyte tasks add to the operations they call. See docs/workflows.md and docs/cluster.md.

`run_op` runs one stored operation as a task must: in a worker thread with the default store (the
event loop stays free, so a local fan-out runs concurrently), bad input final (no retries), the
operation told when the task is cancelled (it then stores nothing), what it stored pushed to the
shared remote before the task returns (whatever `PRSGAZER_REMOTE_PUSH` says: a pod's disk dies with
it), and its outputs stamped with the Flyte run that made them (`metrics.run`: a workflow tells
outputs reused from Flyte's cache or an earlier run from fresh ones).

Result keys, cache look-ups, metrics and scratch directories live in `prsgazer.ops.runtime`, shared
with every other door.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prsgazer.assets import Asset
from prsgazer.errors import InputError

if TYPE_CHECKING:
    from prsgazer.ops.params import ScoreParams

T = TypeVar("T")


@contextlib.contextmanager
def input_errors_are_final(*also: type[BaseException]) -> Iterator[None]:
    """Inside a Flyte run, bad input fails the task at once (no retries): retrying cannot fix it.

    `also`: more error classes that are final (e.g. a catalog download that already retried with
    backoff: Flyte retries on top would multiply the wait). Outside a run (a task awaited as plain
    Python, e.g. in tests) errors pass through unchanged. The error code keeps the prsgazer class
    name so front doors can map it back (exit code 2 for input errors).
    """
    final: tuple[type[BaseException], ...] = (InputError, *also)
    try:
        yield
    except final as exc:
        import flyte
        import flyte.errors

        if not flyte.ctx():
            raise
        raise flyte.errors.NonRecoverableError(str(exc), code=type(exc).__name__) from exc


def current_run() -> str:
    """The name of the Flyte run this code runs in ("" outside a run)."""
    import flyte

    ctx = flyte.ctx()
    return str(getattr(getattr(ctx, "action", None), "run_name", "") or "") if ctx else ""


def stamped(out: T, run: str) -> T:
    """Outputs (an asset, or a list of them) marked with the run that returned them (`metrics.run`)."""
    if not run:
        return out
    if isinstance(out, Asset):
        return dataclasses.replace(out, metrics={**out.metrics, "run": run})
    if isinstance(out, list):
        return [stamped(o, run) for o in out]  # type: ignore[return-value]
    return out


def push_pending(store: Any) -> None:
    """Push what this process stored but has not pushed yet (`PRSGAZER_REMOTE_PUSH=false`): a task's
    outputs are on the shared remote before it returns."""
    if getattr(store, "remote", None) is None:
        return
    if store.remote_status()["pending"]:
        store.push()


async def run_op(op: Callable[..., T], /, *args: Any, final: tuple[type[BaseException], ...] = (), **kwargs: Any) -> T:
    """`op(default_store(), *args, **kwargs)` in a worker thread, as a task runs an operation (see the
    module docstring). An `op` that takes `cancelled=` is told when the task is cancelled."""
    stop = threading.Event()
    if "cancelled" in inspect.signature(op).parameters:
        kwargs["cancelled"] = stop.is_set

    def work() -> T:
        from prsgazer.storage import default_store

        store = default_store()
        out = op(store, *args, **kwargs)
        push_pending(store)
        return out

    with input_errors_are_final(*final):
        try:
            out = await asyncio.to_thread(work)
        except asyncio.CancelledError:
            stop.set()
            raise
    return stamped(out, current_run())


def score_params(
    min_overlap: float = -1.0, keep_ambiguous: bool = False, keep_multiallelic: bool = False
) -> ScoreParams:
    """The ScoreParams of a task's arguments (a negative min_overlap means the default)."""
    from prsgazer.ops.params import ScoreParams

    return ScoreParams.create(
        min_overlap=None if min_overlap < 0 else min_overlap,
        keep_ambiguous=keep_ambiguous,
        keep_multiallelic=keep_multiallelic,
    )
