"""Transport pieces of the catalog client: the shared rate limiter and the on-disk response cache.

See docs/catalog.md ("Rate limit", "Response cache").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from yarl import URL

from prsgazer.errors import OutputError
from prsgazer.logs import logger
from prsgazer.sealed import discard, read_verified_bytes, write_sealed_bytes


class _Slot:
    __slots__ = ("done_at",)

    def __init__(self) -> None:
        self.done_at: float | None = None  # None while the request is in flight


class RateLimiter:
    """At most `max_requests` requests within any `period` seconds (a sliding window).

    This mirrors the server's throttle (Django REST framework keeps the arrival times of the last
    window's requests and refuses one more). A request occupies its slot from when it is sent until
    `period` seconds after its response arrived: the server stamps it somewhere in between, so counting
    from the response is the only timing that can never be early. One limiter is shared by every request
    of a client, concurrent or not; `pause()` holds everyone until a server's `Retry-After` has passed.

        async with limiter.slot():
            ...  # send the request and read the response
    """

    def __init__(
        self,
        max_requests: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests < 1 or period <= 0:
            raise ValueError("rate limit needs max_requests >= 1 and period > 0")
        self.max_requests = max_requests
        self.period = period
        self._clock = clock
        self._slots: deque[_Slot] = deque()
        self._paused_until = 0.0
        self._cond = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one request slot; yields the seconds waited for it."""
        start = self._clock()
        s = await self._acquire()
        try:
            yield self._clock() - start
        finally:
            async with self._cond:
                s.done_at = self._clock()
                self._cond.notify_all()

    async def _acquire(self) -> _Slot:
        async with self._cond:
            while True:
                now = self._clock()
                timeout: float | None
                if self._paused_until > now:
                    timeout = self._paused_until - now
                else:
                    self._slots = deque(s for s in self._slots if s.done_at is None or s.done_at > now - self.period)
                    if len(self._slots) < self.max_requests:
                        slot = _Slot()
                        self._slots.append(slot)
                        return slot
                    finished = [s.done_at for s in self._slots if s.done_at is not None]
                    timeout = min(finished) + self.period - now if finished else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), timeout=max(timeout, 0.001) if timeout else None)

    def pause(self, seconds: float) -> None:
        """Hold every new request for `seconds` from now (e.g. a 429's Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [½, 1] × min(cap, base × 2^attempt)."""
    ceiling = min(cap, base * (2**attempt))
    return ceiling * random.uniform(0.5, 1.0)


def retry_after_seconds(header: str | None, body: Any = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or HTTP date) or the catalog's JSON body.

    The PGS Catalog answers a throttled request with `{"message": "request limit exceeded",
    "availableIn": "33 seconds"}` besides the standard header.
    """
    if header:
        text = header.strip()
        try:
            return max(float(text), 0.0)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                when = parsedate_to_datetime(text)
                return max(when.timestamp() - time.time(), 0.0)
    if isinstance(body, dict):
        avail = body.get("availableIn")
        if isinstance(avail, (int, float)):
            return float(avail)
        if isinstance(avail, str):
            with contextlib.suppress(ValueError, IndexError):
                return max(float(avail.split()[0]), 0.0)
    return None


def normalize_url(url: str | URL) -> str:
    """A cache key form of a URL: query parameters sorted, fragment dropped."""
    u = URL(str(url))
    if u.query:
        u = u.with_query(sorted(u.query.items()))
    return str(u.with_fragment(None))


@dataclass(frozen=True)
class CachedResponse:
    url: str
    body: Any
    fetched_at: float
    fresh: bool


class ResponseCache:
    """JSON responses on disk under `root`, one file per normalised URL, with an expiry.

    Only successful, non-empty responses are stored (the client never calls `put` for errors or for
    the catalog's empty `{}` "no such record" answer). Writes are atomic (temp file + rename) and
    sealed with the CID of the entry's bytes (`prsgazer.sealed`); an entry whose bytes do not match
    its seal (a flipped byte, a truncation) or that cannot be read is treated as absent and removed.
    """

    def __init__(self, root: Path, ttl: float, *, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.ttl = ttl
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def path_for(self, url: str | URL) -> Path:
        digest = hashlib.sha256(normalize_url(url).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, url: str | URL, *, allow_stale: bool = False) -> CachedResponse | None:
        if not self.enabled and not allow_stale:
            return None
        path = self.path_for(url)
        data = read_verified_bytes(path, what="catalog response cache entry")
        if data is None:
            return None
        try:
            entry = json.loads(data.decode("utf-8"))
            fetched = float(entry["fetched_at"])
            body = entry["body"]
        except (ValueError, KeyError, TypeError) as exc:
            logger.debug("dropping unreadable cache entry {}: {}", path, exc)
            discard(path)
            return None
        fresh = self.enabled and (self._clock() - fetched) < self.ttl
        if not fresh and not allow_stale:
            return None
        return CachedResponse(url=normalize_url(url), body=body, fetched_at=fetched, fresh=fresh)

    def put(self, url: str | URL, body: Any) -> None:
        if not self.enabled:
            return
        path = self.path_for(url)
        data = json.dumps({"url": normalize_url(url), "fetched_at": self._clock(), "body": body})
        try:
            write_sealed_bytes(path, data.encode("utf-8"))
        except (OSError, OutputError) as exc:
            # A cache that cannot be written only costs a later re-fetch.
            logger.warning("could not write the response cache at {}: {}", path, exc)

    def clear(self) -> int:
        """Remove every entry; returns how many were removed."""
        n = 0
        if self.root.exists():
            for p in self.root.rglob("*.json"):
                with contextlib.suppress(OSError):
                    discard(p)
                    n += 1
        return n
