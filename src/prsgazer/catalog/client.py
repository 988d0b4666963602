"""Async client of the PGS Catalog REST API and file server. See docs/catalog.md ("REST client").

`CatalogClient` speaks the real protocol (https://www.pgscatalog.org/rest/): limit/offset pagination
(`{"size", "count", "next", "previous", "results"}`, at most 250 per page), the empty `{}` the API
returns for an unknown id, 429 + `Retry-After` when throttled (documented limit: 100 queries per
minute). Every request goes through one shared sliding-window rate limiter; 429, 5xx, timeouts and
connection errors are retried with exponential backoff; successful JSON responses are cached on disk
(`<cache_dir>/catalog/http/`) until their TTL expires, and a stale entry is served, with a warning,
only when the catalog cannot be reached.

File downloads (`fetch_file`) stream to a temporary file, resume with an HTTP Range request when a
transfer breaks and the server supports it, check the server's `.md5` sidecar when there is one, run
a caller-given verifier, and only then move the file into place; a bad file is retried, never kept.

    async with CatalogClient() as client:
        score = await client.score("PGS000001")
        evaluations = await client.performance("PGS000001")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from prsgazer import __version__
from prsgazer.catalog.http import (
    RateLimiter,
    ResponseCache,
    backoff_delay,
    normalize_url,
    retry_after_seconds,
)
from prsgazer.catalog.models import (
    EFOTrait,
    Performance,
    Publication,
    ReleaseInfo,
    SampleSet,
    Score,
)
from prsgazer.config import Settings, get_settings
from prsgazer.errors import CatalogError, DownloadError, InputError, NotFoundError, UnreachableError
from prsgazer.fileio import publish, write_text
from prsgazer.logs import logger

#: The API refuses `limit` above this (rest_api/pagination.py in PGScatalog/PGS_Catalog).
MAX_PAGE_SIZE = 250
#: Score ids per `/rest/score/search?pgs_ids=` request (what the catalog's own tools use).
IDS_PER_SEARCH = 50
#: Longest Retry-After we are willing to sleep through before giving up.
MAX_RETRY_AFTER = 600.0
USER_AGENT = f"prsgazer/{__version__} (python-aiohttp)"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 16

_PGS_RE = re.compile(r"^PGS\d{6}$")
_PGP_RE = re.compile(r"^PGP\d{6}$")
_PSS_RE = re.compile(r"^PSS\d{6}$")
_TRAIT_RE = re.compile(r"^[A-Za-z]+_[A-Za-z0-9]+$")


def normalize_pgs_id(text: str) -> str:
    """`pgs000001` → `PGS000001`; anything that is not a PGS Catalog score id is an InputError."""
    value = text.strip().upper()
    if not _PGS_RE.match(value):
        raise InputError(
            f"{text!r} is not a PGS Catalog score id",
            field="pgs_id",
            hint="expected PGS followed by 6 digits, e.g. PGS000001",
        )
    return value


def normalize_trait_id(text: str) -> str:
    """`EFO:0000305` / `efo_0000305` → `EFO_0000305` (MONDO_, HP_, Orphanet_… are kept as given)."""
    value = text.strip().replace(":", "_")
    prefix, _, rest = value.partition("_")
    if prefix.lower() in {"efo", "mondo", "hp", "go", "oba", "ncit", "cmo"}:
        value = f"{prefix.upper()}_{rest}"
    if not _TRAIT_RE.match(value):
        raise InputError(
            f"{text!r} is not an ontology trait id",
            field="trait_id",
            hint="expected e.g. EFO_0000305 or MONDO_0004989; search by text (MCP: search_scores; shell: "
            "`prsgazer catalog traits`)",
        )
    return value


def _check_id(text: str, pattern: re.Pattern[str], kind: str, example: str) -> str:
    value = text.strip().upper()
    if not pattern.match(value):
        raise InputError(f"{text!r} is not a {kind} id", field=kind, hint=f"e.g. {example}")
    return value


@dataclass
class ClientStats:
    """What a client did: useful in logs and tests."""

    requests: int = 0
    cache_hits: int = 0
    stale_hits: int = 0
    retries: int = 0
    rate_limited: int = 0
    downloads: int = 0
    resumed: int = 0


class _Retry(Exception):
    """A transient failure: try again (after `wait` seconds when the server said so)."""

    def __init__(self, reason: str, *, wait: float | None = None, validator: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.validator = validator


class CatalogClient:
    """Async PGS Catalog client. Use as `async with CatalogClient() as c:` (or `open()` / `close()`).

    Args:
        settings: defaults to `get_settings()`; every knob below falls back to it.
        rest_url: REST API base (ends with `/rest/`).
        ftp_url: file server base (holds `scores/` and `metadata/`).
        cache: response cache; None builds one under `<cache_dir>/catalog/http/` with the TTL setting.
        limiter: rate limiter to share between clients; None builds one from the settings.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        rest_url: str | None = None,
        ftp_url: str | None = None,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        s = settings or get_settings()
        self.settings = s
        self.rest_url = _with_slash(rest_url or s.catalog_rest_url)
        self.ftp_url = _with_slash(ftp_url or s.catalog_ftp_url)
        self.cache = cache or ResponseCache(s.catalog_cache_dir / "http", s.catalog_cache_ttl)
        self.limiter = limiter or RateLimiter(s.catalog_rate_limit, s.catalog_rate_period)
        self.retries = s.catalog_retries if retries is None else retries
        self.backoff = s.catalog_backoff if backoff is None else backoff
        self.backoff_max = s.catalog_backoff_max
        self.download_dir = s.catalog_cache_dir / "downloads"
        self.stats = ClientStats()
        self._rest_timeout = aiohttp.ClientTimeout(total=s.catalog_timeout, connect=s.catalog_connect_timeout)
        self._file_timeout = aiohttp.ClientTimeout(
            total=None, connect=s.catalog_connect_timeout, sock_read=s.catalog_read_timeout
        )
        self._max_downloads = s.catalog_max_downloads
        self._download_slots: asyncio.Semaphore | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> CatalogClient:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                timeout=self._rest_timeout,
                trust_env=True,
            )
            self._download_slots = asyncio.Semaphore(self._max_downloads)
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> CatalogClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("CatalogClient is not open: use `async with CatalogClient() as c:`")
        return self._session

    # -- JSON ----------------------------------------------------------------------------------
    def rest(self, path: str, params: dict[str, Any] | None = None) -> URL:
        """Absolute URL of a REST path (`score/PGS000001`) with query parameters."""
        url = URL(self.rest_url).join(URL(path.lstrip("/")))
        if params:
            url = url.update_query({k: str(v) for k, v in params.items() if v is not None})
        return url

    async def get_json(self, path: str | URL, params: dict[str, Any] | None = None, *, use_cache: bool = True) -> Any:
        """GET a REST path (or absolute URL) as JSON: from the cache when fresh, else from the API."""
        url = path if isinstance(path, URL) else self.rest(path, params)
        if use_cache:
            hit = self.cache.get(url)
            if hit is not None:
                self.stats.cache_hits += 1
                return hit.body
        try:
            body = await self._request_json(url)
        except CatalogError as exc:
            stale = self.cache.get(url, allow_stale=True) if use_cache else None
            if stale is None:
                raise
            self.stats.stale_hits += 1
            logger.warning("{}; using the cached response from {:.0f} s ago", exc, _age(stale.fetched_at))
            return stale.body
        # `{}` is the catalog's answer for an unknown id: never cache a miss.
        if use_cache and body not in ({}, None):
            self.cache.put(url, body)
        return body

    async def _request_json(self, url: URL) -> Any:
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            try:
                async with (
                    self.limiter.slot(),
                    self.session.get(url, headers={"Accept": "application/json"}, timeout=self._rest_timeout) as resp,
                ):
                    self.stats.requests += 1
                    if resp.status == 200:
                        try:
                            return await resp.json(content_type=None)
                        except ValueError as exc:
                            raise _Retry(f"response is not JSON ({exc})") from None
                    body = await _safe_json(resp)
                    if resp.status in _RETRY_STATUSES:
                        wait = None
                        if resp.status == 429:
                            self.stats.rate_limited += 1
                            wait = retry_after_seconds(resp.headers.get("Retry-After"), body)
                            if wait is None:
                                wait = 1.0
                            if wait > MAX_RETRY_AFTER:
                                raise CatalogError(
                                    f"rate limited for {wait:.0f} s",
                                    url=str(url),
                                    hint="wait and try again, or lower PRSGAZER_CATALOG_RATE_LIMIT",
                                )
                            self.limiter.pause(wait)
                        raise _Retry(f"HTTP {resp.status} {_message(body)}".strip(), wait=wait)
                    if resp.status == 404:
                        raise NotFoundError(
                            f"{url}: {_message(body) or 'not found'} (HTTP 404)",
                            hint="check the id or the PRSGAZER_CATALOG_REST_URL setting",
                        )
                    raise CatalogError(
                        f"HTTP {resp.status}: {_message(body) or resp.reason}",
                        url=str(url),
                        hint="the request was refused; check its parameters",
                    )
            except _Retry as exc:
                last = exc.reason
                delay = exc.wait if exc.wait is not None else self._backoff(attempt)
            except (aiohttp.ClientError, TimeoutError) as exc:
                unreachable(exc, self.rest_url)
                last = f"{type(exc).__name__}: {exc}".rstrip(": ")
                delay = self._backoff(attempt)
            if attempt < self.retries:
                self.stats.retries += 1
                logger.info("{} failed ({}); retry {}/{} in {:.1f} s", url, last, attempt + 1, self.retries, delay)
                if _is_rate_limit(last):
                    # the limiter holds this and every concurrent request until Retry-After passes
                    continue
                await asyncio.sleep(delay)
        raise CatalogError(
            f"gave up after {self.retries + 1} attempts: {last}",
            url=str(url),
            hint="check the network, try again later, or work offline from stored metadata (stored once "
            "while online: MCP search_scores, shell `prsgazer catalog metadata pull`)",
        )

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff, self.backoff_max)

    async def iter_results(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        max_results: int | None = None,
        use_cache: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every record of a paginated endpoint, following `next` page by page.

        The next page is requested from our own base URL with the `limit`/`offset` the server gave,
        so a mirror or test server configured as the base is never bypassed.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InputError(f"page size must be 1–{MAX_PAGE_SIZE}, got {page_size}", field="limit")
        url: URL | None = self.rest(path, {**(params or {}), "limit": page_size})
        seen: set[str] = set()
        n = 0
        while url is not None:
            key = normalize_url(url)
            if key in seen:  # a server that loops must not loop us
                break
            seen.add(key)
            body = await self.get_json(url, use_cache=use_cache)
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise CatalogError(
                    "expected a paginated response with 'results'",
                    url=str(url),
                    hint="is the REST URL right?",
                )
            for record in body["results"]:
                yield record
                n += 1
                if max_results is not None and n >= max_results:
                    return
            nxt = body.get("next")
            url = url.with_query(URL(nxt).query) if nxt else None

    async def get_all(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> list[dict[str, Any]]:
        return [r async for r in self.iter_results(path, params, **kw)]

    # -- endpoints -----------------------------------------------------------------------------
    async def info(self, *, use_cache: bool = True) -> ReleaseInfo:
        """`/rest/info`: API version and the latest release date."""
        return ReleaseInfo.model_validate(await self.get_json("info", use_cache=use_cache))

    async def score(self, pgs_id: str) -> Score:
        """`/rest/score/{id}`; an unknown id is a NotFoundError."""
        pid = normalize_pgs_id(pgs_id)
        body = await self.get_json(f"score/{pid}")
        if not isinstance(body, dict) or not body.get("id"):
            raise NotFoundError(
                f"{pid} is not in the PGS Catalog ({self.rest(f'score/{pid}')} has no record)",
                field="pgs_id",
                hint="check the id at https://www.pgscatalog.org/browse/scores/",
            )
        return Score.model_validate(body)

    async def scores(self, pgs_ids: Iterable[str], *, missing_ok: bool = False) -> list[Score]:
        """Several scores via `/rest/score/search?pgs_ids=` (50 ids a request), in the order asked."""
        ids = list(dict.fromkeys(normalize_pgs_id(i) for i in pgs_ids))
        found: dict[str, Score] = {}
        for start in range(0, len(ids), IDS_PER_SEARCH):
            chunk = ids[start : start + IDS_PER_SEARCH]
            async for rec in self.iter_results("score/search", {"pgs_ids": ",".join(chunk)}):
                s = Score.model_validate(rec)
                found[s.id] = s
        absent = [i for i in ids if i not in found]
        if absent and not missing_ok:
            raise NotFoundError(
                f"not in the PGS Catalog: {', '.join(absent)}",
                field="pgs_id",
                hint="check the ids at https://www.pgscatalog.org/browse/scores/",
            )
        return [found[i] for i in ids if i in found]

    async def scores_by_trait(self, trait_id: str, *, include_children: bool = False) -> list[Score]:
        """Scores mapped to a trait (`/rest/score/search?trait_id=`); optionally its child traits too."""
        tid = normalize_trait_id(trait_id)
        if not include_children:
            return [Score.model_validate(r) async for r in self.iter_results("score/search", {"trait_id": tid})]
        trait = await self.trait(tid, include_children=True)
        ids = [*trait.associated_pgs_ids, *trait.child_associated_pgs_ids]
        return await self.scores(ids, missing_ok=True) if ids else []

    async def all_scores(self, *, max_results: int | None = None) -> list[Score]:
        """`/rest/score/all`, every page (thousands of records: prefer bulk metadata for the catalog)."""
        return [Score.model_validate(r) async for r in self.iter_results("score/all", max_results=max_results)]

    async def search_traits(
        self, term: str, *, include_children: bool = True, exact: bool = False, max_results: int | None = None
    ) -> list[EFOTrait]:
        """`/rest/trait/search?term=`: traits whose id, label, synonyms or category match `term`."""
        if not term.strip():
            raise InputError("empty trait search term", field="term")
        params: dict[str, Any] = {"term": term.strip(), "include_children": int(include_children)}
        if exact:
            params["exact"] = 1
        return [
            EFOTrait.model_validate(r) async for r in self.iter_results("trait/search", params, max_results=max_results)
        ]

    async def trait(self, trait_id: str, *, include_children: bool = False) -> EFOTrait:
        """`/rest/trait/{id}` with its associated (and child-associated) score ids."""
        tid = normalize_trait_id(trait_id)
        body = await self.get_json(f"trait/{tid}", {"include_children": int(include_children)})
        if not isinstance(body, dict) or not body.get("id"):
            raise NotFoundError(f"trait {tid} is not in the PGS Catalog", field="trait_id")
        return EFOTrait.model_validate(body)

    async def publication(self, pgp_id: str) -> Publication:
        """`/rest/publication/{PGP id}`."""
        pid = _check_id(pgp_id, _PGP_RE, "publication", "PGP000001")
        body = await self.get_json(f"publication/{pid}")
        if not isinstance(body, dict) or not body.get("id"):
            raise NotFoundError(f"publication {pid} is not in the PGS Catalog", field="pgp_id")
        return Publication.model_validate(body)

    async def performance(self, pgs_id: str) -> list[Performance]:
        """`/rest/performance/search?pgs_id=`: every evaluation of a score (may be empty)."""
        pid = normalize_pgs_id(pgs_id)
        return [Performance.model_validate(r) async for r in self.iter_results("performance/search", {"pgs_id": pid})]

    async def sample_set(self, pss_id: str) -> SampleSet:
        """`/rest/sample_set/{PSS id}`."""
        pid = _check_id(pss_id, _PSS_RE, "sample_set", "PSS000001")
        body = await self.get_json(f"sample_set/{pid}")
        if not isinstance(body, dict) or not body.get("id"):
            raise NotFoundError(f"sample set {pid} is not in the PGS Catalog", field="pss_id")
        return SampleSet.model_validate(body)

    # -- files ---------------------------------------------------------------------------------
    def scoring_file_url(self, pgs_id: str, build: str | None = None) -> str:
        """The file server's URL of a scoring file: author-reported (`build=None`) or harmonised.

        The layout (`scores/{ID}/ScoringFiles/{ID}.txt.gz`, `…/Harmonized/{ID}_hmPOS_{build}.txt.gz`)
        is the catalog's published one, so no REST request is spent on it.
        """
        pid = normalize_pgs_id(pgs_id)
        base = f"{self.ftp_url}scores/{pid}/ScoringFiles/"
        if build is None:
            return f"{base}{pid}.txt.gz"
        if build not in ("GRCh37", "GRCh38"):
            raise InputError(f"harmonised files exist for GRCh37 and GRCh38, not {build!r}", field="build")
        return f"{base}Harmonized/{pid}_hmPOS_{build}.txt.gz"

    def metadata_url(self, sheet: str) -> str:
        """URL of one bulk metadata sheet (`pgs_all_metadata_<sheet>.csv`)."""
        return f"{self.ftp_url}metadata/pgs_all_metadata_{sheet}.csv"

    async def fetch_text(self, url: str) -> str | None:
        """A small text file (e.g. an `.md5` sidecar); None when the server has none (404)."""
        for attempt in range(self.retries + 1):
            try:
                async with self.session.get(url, timeout=self._rest_timeout) as resp:
                    if resp.status == 404:
                        return None
                    if resp.status == 200:
                        return await resp.text()
                    if resp.status not in _RETRY_STATUSES:
                        raise CatalogError(f"HTTP {resp.status}", url=url)
                    wait = retry_after_seconds(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                unreachable(exc, self.ftp_url)
                wait = None
            if attempt < self.retries:
                await asyncio.sleep(wait if wait is not None else self._backoff(attempt))
        raise CatalogError(f"gave up after {self.retries + 1} attempts", url=url)

    async def fetch_file(
        self,
        url: str,
        dest: Path,
        *,
        verify: Callable[[Path], None] | None = None,
        check_md5: bool = True,
        part: Path | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Path:
        """Download `url` to `dest`: stream, resume, check, verify, then move into place atomically.

        `verify(path)` raises `DownloadError` for a bad file: with `retryable=True` the file is
        downloaded afresh (bounded by the retry setting), otherwise the error propagates. Nothing is
        left at `dest` unless the file passed every check.

        `part`: a partial file kept across calls, for large downloads: a transfer that keeps failing
        leaves it (and its validator beside it, `<part>.validator`) so the next call resumes with a
        Range request; bad bytes (a failed check) are deleted. Without it the partial file is
        private to this call and always removed. `progress(bytes so far, total or None)`.
        """
        if self._download_slots is None:
            raise RuntimeError("CatalogClient is not open")
        async with self._download_slots:
            expected_md5 = await self._remote_md5(url) if check_md5 else None
            self.download_dir.mkdir(parents=True, exist_ok=True)
            keep = part is not None
            part = part or self.download_dir / f"{uuid.uuid4().hex}.part"
            part.parent.mkdir(parents=True, exist_ok=True)
            stamp = part.with_name(part.name + ".validator")
            validator: str | None = stamp.read_text() if keep and stamp.exists() else None
            last = "no attempt made"
            delay = 0.0
            self.stats.downloads += 1
            done = False
            try:
                for attempt in range(self.retries + 1):
                    if attempt:
                        self.stats.retries += 1
                        logger.info("{}: {}; retry {}/{} in {:.1f} s", url, last, attempt, self.retries, delay)
                        await asyncio.sleep(delay)
                    try:
                        validator = await self._fetch_once(url, part, validator, resume=keep, progress=progress)
                    except _Retry as exc:
                        last, validator = exc.reason, exc.validator
                        if keep:
                            write_text(stamp, validator or "", durable=False)
                        delay = exc.wait if exc.wait is not None else self._backoff(attempt)
                        continue
                    try:
                        await asyncio.to_thread(_check_file, part, expected_md5, verify)
                    except DownloadError as exc:
                        part.unlink(missing_ok=True)  # bad bytes are never resumed
                        stamp.unlink(missing_ok=True)
                        if not exc.retryable:
                            raise DownloadError(exc.reason, url=url, hint=exc.hint) from None
                        last, validator = exc.reason, None
                        delay = self._backoff(attempt)
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    publish(part, dest, durable=False)  # the store copies it in (durably) next
                    done = True
                    return dest
                raise DownloadError(
                    f"gave up after {self.retries + 1} attempts: {last}",
                    url=url,
                    hint="run the same command again to resume" if keep else
                    "the download kept failing; try again later (nothing was stored)",
                )
            finally:
                if done or not keep:
                    with contextlib.suppress(OSError):
                        part.unlink(missing_ok=True)
                        stamp.unlink(missing_ok=True)

    async def _remote_md5(self, url: str) -> str | None:
        try:
            text = await self.fetch_text(url + ".md5")
        except CatalogError as exc:
            logger.info("no checksum for {} ({}); relying on the other checks", url, exc)
            return None
        if not text:
            return None
        token = text.split()[0].strip().lower() if text.split() else ""
        return token if re.fullmatch(r"[0-9a-f]{32}", token) else None

    async def _fetch_once(
        self,
        url: str,
        part: Path,
        validator: str | None,
        *,
        resume: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> str | None:
        """One GET of `url` into `part` (appending after a Range resume); returns the validator.

        A partial file is resumed when its validator (ETag / Last-Modified) is known, or always with
        `resume` (a server without validators; the caller's checks catch a file that changed)."""
        have = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": "identity"}
        if have and (validator or resume):
            headers["Range"] = f"bytes={have}-"
            if validator:
                headers["If-Range"] = validator
        else:
            have = 0
        try:
            async with self.session.get(
                url, headers=headers, timeout=self._file_timeout, auto_decompress=False
            ) as resp:
                if resp.status == 404:
                    raise NotFoundError(
                        f"{url}: the file server has no such file (HTTP 404)",
                        hint="check the id and build; not every score has every file",
                    )
                if resp.status == 416:
                    part.unlink(missing_ok=True)
                    raise _Retry("range not satisfiable; restarting the download")
                if resp.status in _RETRY_STATUSES:
                    wait = retry_after_seconds(resp.headers.get("Retry-After"))
                    raise _Retry(f"HTTP {resp.status}", wait=wait, validator=validator)
                if resp.status not in (200, 206):
                    raise DownloadError(f"HTTP {resp.status} {resp.reason}", url=url)
                new_validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
                if resp.status == 206:
                    start = _content_range_start(resp.headers.get("Content-Range"))
                    if start != have:
                        part.unlink(missing_ok=True)
                        raise _Retry(f"server resumed at byte {start}, not {have}; restarting")
                    self.stats.resumed += 1
                    mode = "ab"
                else:
                    mode, have = "wb", 0
                expected = resp.content_length
                total = _content_range_total(resp.headers.get("Content-Range")) if resp.status == 206 else expected
                got = 0
                with open(part, mode) as fh:
                    try:
                        async for chunk in resp.content.iter_chunked(_CHUNK):
                            fh.write(chunk)
                            got += len(chunk)
                            if progress is not None:
                                progress(have + got, total)
                    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
                        raise _Retry(
                            f"transfer broke after {have + got} bytes ({type(exc).__name__})",
                            validator=new_validator,
                        ) from None
                if expected is not None and got != expected:
                    raise _Retry(f"got {got} of {expected} bytes", validator=new_validator)
                return new_validator
        except (aiohttp.ClientError, TimeoutError) as exc:
            unreachable(exc, url)
            raise _Retry(f"{type(exc).__name__}: {exc}".rstrip(": "), validator=validator) from None


def unreachable(exc: BaseException, where: str | URL) -> None:
    """Raise `UnreachableError` for a failure that waiting cannot fix: the name does not resolve, or
    nothing listens (connection refused). Anything else (timeouts, resets, 5xx) is left to retry."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(os_error, socket.gaierror):
        why = "the name does not resolve"
    elif isinstance(os_error, ConnectionRefusedError):
        why = "the connection was refused"
    else:
        return
    host = URL(str(where)).origin() if str(where).startswith("http") else where
    raise UnreachableError(
        f"the PGS Catalog at {host} could not be reached ({why})",
        hint="check the network or the PRSGAZER_CATALOG_* URLs; stored scoring files and stored catalog metadata "
        "still work offline (search falls back to them)",
    ) from None


def _check_file(path: Path, expected_md5: str | None, verify: Callable[[Path], None] | None) -> None:
    if path.stat().st_size == 0:
        raise DownloadError("the server sent an empty file", retryable=True)
    if expected_md5 is not None:
        actual = file_md5(path)
        if actual != expected_md5:
            raise DownloadError(f"md5 {actual} does not match the server's {expected_md5}", retryable=True)
    if verify is not None:
        verify(path)


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_rate_limit(reason: str) -> bool:
    return reason.startswith("HTTP 429")


def _content_range_total(value: str | None) -> int | None:
    m = re.match(r"bytes\s+\d+-\d+/(\d+)", value or "")
    return int(m.group(1)) if m else None


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(m.group(1)) if m else None


async def _safe_json(resp: aiohttp.ClientResponse) -> Any:
    try:
        return await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return None


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or "")
    return ""


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _age(fetched_at: float) -> float:
    return time.time() - fetched_at
