"""Scoring-file download: fetch, verify, store as a `ScoringFile` asset. See docs/catalog.md ("Downloads").

A file is stored only after it passed every check:
1. transfer complete (Content-Length honoured; a broken transfer resumes with an HTTP Range request);
2. the server's `.md5` sidecar matches, when the server has one;
3. non-empty, gzip magic, and the whole stream decompresses (a truncated or corrupt gzip fails here);
4. the header's `pgs_id` is the requested id and, for a harmonised file, `#HmPOS_build` is the
   requested build (an author-reported file whose `genome_build` is reported must match a requested
   build too); there is at least one variant row.
Checks 1–3 failing is damage in transit: the file is downloaded afresh (bounded by
PRSGAZER_CATALOG_RETRIES). Check 4 failing means the server holds another file than asked: it is an
error at once. A scoring file already in the store for the same id and build is not downloaded again.
"""

from __future__ import annotations

import asyncio
import gzip
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prsgazer.assets import ScoringFile
from prsgazer.catalog.client import CatalogClient, normalize_pgs_id
from prsgazer.engine.scorefile.header import ScoringFileHeader, normalize_build, read_header
from prsgazer.errors import (
    CatalogError,
    DownloadError,
    InputError,
    IntegrityError,
    NotFoundError,
    PrsgazerError,
)
from prsgazer.logs import logger
from prsgazer.storage import LocalStore, default_store

SOURCE = "pgs_catalog"


@dataclass(frozen=True)
class VerifiedScoringFile:
    """What verification learned about a file: its header and its number of variant rows."""

    header: ScoringFileHeader
    n_rows: int


@dataclass(frozen=True)
class DownloadResult:
    """One requested scoring file, as stored. `cached` is True when it was already in the store."""

    pgs_id: str
    build: str | None
    asset: ScoringFile
    cached: bool
    url: str


def requested_build(build: str | None, *, author_reported: bool) -> str | None:
    """Normalise `--build` (hg19 → GRCh37); harmonised downloads need GRCh37 or GRCh38."""
    try:
        norm = normalize_build(build) if build else None
    except ValueError as exc:
        raise InputError(str(exc), field="build") from None
    if not author_reported and norm not in ("GRCh37", "GRCh38"):
        raise InputError(
            "harmonised scoring files need --build GRCh37 or GRCh38",
            field="build",
            hint="or pass --author-reported for the file as the authors published it",
        )
    return norm


def verify_scoring_file(
    path: Path, *, pgs_id: str, build: str | None, author_reported: bool = False
) -> VerifiedScoringFile:
    """Check a downloaded scoring file (see the module docstring); raise DownloadError if it is bad."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if not magic:
        raise DownloadError("the file is empty", retryable=True)
    if magic != b"\x1f\x8b":
        raise DownloadError("the file is not gzip-compressed (an error page?)", retryable=True)
    n_rows = 0
    seen_columns = False
    try:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                if line.startswith(b"#") or not line.strip():
                    continue
                if seen_columns:
                    n_rows += 1
                else:
                    seen_columns = True
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise DownloadError(f"gzip data is truncated or corrupt ({exc})", retryable=True) from None
    try:
        header = read_header(path)
    except InputError as exc:
        raise DownloadError(f"the header cannot be read: {exc}") from None
    if header.pgs_id != pgs_id:
        raise DownloadError(
            f"the file's header says pgs_id={header.pgs_id!r}, but {pgs_id} was requested",
            hint="the server returned another score's file; it was not stored",
        )
    if not author_reported:
        if header.HmPOS_build != build:
            raise DownloadError(
                f"the file's #HmPOS_build is {header.HmPOS_build!r}, but {build} was requested",
                hint="the server returned a file harmonised to another build; it was not stored",
            )
    elif build is not None and header.genome_build is not None and header.genome_build != build:
        raise DownloadError(
            f"{pgs_id} was published in {header.genome_build}, not {build}",
            hint="drop --author-reported to get the file harmonised to the build you need",
        )
    elif build is not None and header.genome_build is None:
        logger.warning("{}: the authors did not report a genome build; it cannot be checked", pgs_id)
    if not seen_columns or n_rows == 0:
        raise DownloadError("the file has a header but no variant rows")
    if header.variants_number is not None and header.variants_number != n_rows:
        logger.warning(
            "{}: header says variants_number={}, the file has {} rows", pgs_id, header.variants_number, n_rows
        )
    return VerifiedScoringFile(header=header, n_rows=n_rows)


def find_stored(store: LocalStore, pgs_id: str, build: str | None, *, author_reported: bool) -> ScoringFile | None:
    """A verified stored catalog scoring file for this id and build, if any."""
    for asset in store.query(asset="scoring_file", pgs_id=pgs_id, source=SOURCE):
        if not isinstance(asset, ScoringFile):
            continue
        if author_reported:
            if asset.hm_build:
                continue
            if build is not None and asset.genome_build and asset.genome_build != build:
                continue
        elif asset.hm_build != build:
            continue
        try:
            got = store.get(asset.cid)
        except (IntegrityError, NotFoundError) as exc:
            logger.warning("stored copy {} of {} is unusable ({}); downloading again", asset.cid, pgs_id, exc)
            continue
        if isinstance(got, ScoringFile):
            return got
    return None


def _filename(pgs_id: str, build: str | None, author_reported: bool) -> str:
    return f"{pgs_id}.txt.gz" if author_reported else f"{pgs_id}_hmPOS_{build}.txt.gz"


async def download_scoring_file(
    client: CatalogClient,
    pgs_id: str,
    *,
    build: str | None = None,
    author_reported: bool = False,
    store: LocalStore | None = None,
    force: bool = False,
) -> DownloadResult:
    """Download one verified scoring file into the store (or return the stored copy).

    Args:
        client: an open CatalogClient.
        pgs_id: e.g. PGS000001.
        build: GRCh37 or GRCh38 (aliases like hg19 accepted); required unless `author_reported`.
        author_reported: the file as published (`{ID}.txt.gz`) instead of the harmonised one.
        store: defaults to `default_store()`.
        force: download even when the store already has the file.
    """
    pid = normalize_pgs_id(pgs_id)
    want = requested_build(build, author_reported=author_reported)
    store = store or default_store()
    url = client.scoring_file_url(pid, None if author_reported else want)
    if not force:
        stored = await asyncio.to_thread(find_stored, store, pid, want, author_reported=author_reported)
        if stored is not None:
            logger.debug("{} ({}) already stored as {}", pid, want or "author-reported", stored.cid)
            return DownloadResult(pid, want, stored, cached=True, url=url)
    filename = _filename(pid, want, author_reported)
    dest = client.download_dir / f"{uuid.uuid4().hex}-{filename}"
    verified: list[VerifiedScoringFile] = []

    def verify(path: Path) -> None:
        verified.append(verify_scoring_file(path, pgs_id=pid, build=want, author_reported=author_reported))

    try:
        await client.fetch_file(url, dest, verify=verify)
        info = verified[-1]
        h = info.header
        asset = ScoringFile(
            path=dest,
            filename=filename,
            pgs_id=pid,
            pgs_name=h.pgs_name or "",
            trait=h.trait_reported or "",
            trait_efo=list(h.trait_efo),
            genome_build=h.genome_build or "",
            hm_build=h.HmPOS_build or "",
            n_variants=info.n_rows,
            weight_type=h.weight_type or "",
            source=SOURCE,
        )
        uploaded = await asyncio.to_thread(store.upload, asset)
    finally:
        dest.unlink(missing_ok=True)
    assert isinstance(uploaded, ScoringFile)
    return DownloadResult(pid, want, uploaded, cached=False, url=url)


async def download_scoring_files(
    pgs_ids: list[str],
    *,
    build: str | None = None,
    author_reported: bool = False,
    client: CatalogClient | None = None,
    store: LocalStore | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DownloadResult]:
    """Download several scoring files concurrently (PRSGAZER_CATALOG_MAX_DOWNLOADS at a time).

    Every file that verifies is stored even when others fail; the failures are then raised together
    (one error as itself, several as a CatalogError listing each). `progress("scoring files", done,
    total)` is called as each one ends.
    """
    ids = list(dict.fromkeys(normalize_pgs_id(i) for i in pgs_ids))
    requested_build(build, author_reported=author_reported)  # fail fast, before any network
    owned = client is None
    client = client or CatalogClient()
    await client.open()
    try:
        ended = 0

        async def one(pid: str) -> DownloadResult:
            nonlocal ended
            try:
                return await download_scoring_file(
                    client, pid, build=build, author_reported=author_reported, store=store, force=force
                )
            finally:
                ended += 1
                if progress is not None:
                    progress("scoring files", ended, len(ids))

        outcomes = await asyncio.gather(*(one(pid) for pid in ids), return_exceptions=True)
    finally:
        if owned:
            await client.close()
    errors = [(pid, o) for pid, o in zip(ids, outcomes, strict=True) if isinstance(o, BaseException)]
    for _, o in errors:
        if not isinstance(o, PrsgazerError):
            raise o
    if len(errors) == 1:
        raise errors[0][1]
    if errors:
        done = [o.pgs_id for o in outcomes if isinstance(o, DownloadResult)]
        raise CatalogError(
            f"{len(errors)} of {len(ids)} downloads failed: " + "; ".join(f"{pid}: {err}" for pid, err in errors),
            hint=f"stored: {', '.join(done)}" if done else "nothing was stored",
        )
    return [o for o in outcomes if isinstance(o, DownloadResult)]
