"""Long tool calls: progress notifications while they run, prompt cancellation. See docs/mcp.md.

`Progress` sends a call's notifications with a strictly increasing progress value (as MCP requires).
`with_progress` awaits a coroutine as a task and, until it finishes, sends a notification every
`interval` seconds (a label and the elapsed time), so a client shows life and does not time out an
idle request. When the client cancels the request, the awaiting coroutine is cancelled; the work task
is cancelled with it and given a moment to unwind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from prsgazer.logs import logger

T = TypeVar("T")

#: Seconds between progress notifications of a running call.
INTERVAL = 1.0
#: Seconds a cancelled work task may take to unwind before the call returns anyway.
CANCEL_GRACE = 5.0


class Progress:
    """Progress notifications of one tool call (no-ops without a context or progress token)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.value = 0

    async def step(self, message: str, *, final: bool = False) -> None:
        """One notification; `final` marks the call done (progress == total)."""
        if self.ctx is None:
            return
        self.value += 1
        try:
            await self.ctx.report_progress(self.value, self.value if final else None, message)
        except Exception as exc:  # noqa: BLE001 - progress is best effort, the work matters
            logger.debug(f"progress notification not sent: {exc}")


async def with_progress(progress: Progress, work: Awaitable[T], label: str, *, interval: float = INTERVAL) -> T:
    """Await `work`, reporting `label` and the elapsed seconds every `interval` (see module docstring)."""
    task = asyncio.ensure_future(work)
    t0 = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            await progress.step(f"{label}: running, {time.monotonic() - t0:.0f} s")
    finally:
        if not task.done():
            task.add_done_callback(_consume)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({task}, timeout=CANCEL_GRACE)
            logger.info(f"{label}: cancelled after {time.monotonic() - t0:.1f} s")


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a cancelled task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
