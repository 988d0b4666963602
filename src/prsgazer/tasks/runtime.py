"""What Flyte tasks add to the operations they call: bad input fails a task at once. See docs/workflows.md.

Result keys, cache look-ups, metrics and scratch directories live in `prsgazer.ops.runtime`, shared
with every other door.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prsgazer.errors import InputError

if TYPE_CHECKING:
    from prsgazer.ops.params import ScoreParams


@contextlib.contextmanager
def input_errors_are_final(*also: type[BaseException]) -> Iterator[None]:
    """Inside a Flyte run, bad input fails the task at once (no retries): retrying cannot fix it.

    `also`: more error classes that are final (e.g. a catalog download that already retried with
    backoff: Flyte retries on top would multiply the wait). Outside a run (a task awaited as plain
    Python, e.g. in tests) errors pass through unchanged. The error code keeps the prsgazer class
    name so front doors can map it back (exit code 2 for input errors).
    """
    try:
        yield
    except (InputError, *also) as exc:  # type: ignore[misc]  # mypy cannot see a starred tuple of classes
        import flyte
        import flyte.errors

        if not flyte.ctx():
            raise
        raise flyte.errors.NonRecoverableError(str(exc), code=type(exc).__name__) from exc


T = TypeVar("T")


async def off_loop(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking operation in a thread, keeping the event loop free (local fan-out runs
    concurrently). If the task is cancelled, the operation is told (`cancelled=`) and stores nothing."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(fn, *args, cancelled=stop.is_set, **kwargs)
    except asyncio.CancelledError:
        stop.set()
        raise


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
