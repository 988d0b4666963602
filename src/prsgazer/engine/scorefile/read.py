"""Reading scoring files: `read_scorefile` / `read_scorefiles` choose the reader (the compiled one
for the common layout, the polars parser for everything else and for every error) and use the
parsed-file cache. See docs/engine.md ("Scoring files").

The choice is explicit, in `ReaderOptions`: 'compiled' always tries the compiled reader first,
'polars' never, 'auto' when the text to parse is large enough to repay loading numba (about half a
second per process). Callers that load numba anyway (cohort and batch scoring) pass 'compiled'.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.cid import cid_of_file
from prsgazer.engine import compiled
from prsgazer.engine.scorefile.cache import CacheWriter, entry_meta, entry_path, read_entry, rebuild, write_entry
from prsgazer.engine.scorefile.header import ScoringFileHeader
from prsgazer.engine.scorefile.model import SCHEMA, ScoringFile
from prsgazer.engine.scorefile.parse import parse_text
from prsgazer.errors import InputError
from prsgazer.sealed import seal_path


class ReaderOptions(BaseModel):
    """Which scoring-file reader to use (a tuning choice: every reader gives the same frame)."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["auto", "compiled", "polars"] = Field(
        default="auto",
        description="'compiled': the compiled reader first; 'polars': the polars parser only; 'auto': the compiled "
        "reader when the text to parse is at least `compiled_min_bytes`.",
    )
    compiled_min_bytes: int = Field(default=32 << 20, ge=0, description="'auto': text size that repays loading numba.")
    wide_vectors: bool = Field(default=True, description="512-bit vectors in compiled code on AVX-512 hosts.")

    def wants_compiled(self, paths: list[Path]) -> bool:
        """Whether these files (to parse) go to the compiled reader first."""
        if self.mode != "auto":
            return self.mode == "compiled"
        return _text_size(paths, self.compiled_min_bytes) >= self.compiled_min_bytes


def _text_size(paths: list[Path], enough: int) -> int:
    """Bytes of text in these files (a gzip file's from its trailer), counted until `enough`."""
    total = 0
    for p in paths:
        try:
            with open(p, "rb") as f:
                magic = f.read(2)
                size = f.seek(0, os.SEEK_END)
                if magic == b"\x1f\x8b" and size >= 18:  # the text size (mod 2**32) in the gzip trailer
                    f.seek(-4, os.SEEK_END)
                    size = max(int.from_bytes(f.read(4), "little"), size)
        except OSError:
            continue
        total += size
        if total >= enough:
            break
    return total


def _maybe(entry: Path) -> bool:
    """Whether a cache entry (or a leftover seal of one) may be there: saves hashing nothing."""
    return entry.exists() or seal_path(entry).exists()


def _check_paths(paths: list[Path]) -> None:
    for p in paths:
        if not Path(p).exists():
            raise InputError("scoring file does not exist", file=p)
        if Path(p).is_dir():
            raise InputError("is a directory, not a scoring file", file=p)


def parse_file(p: Path, cid: str, *, use_compiled: bool, wide_vectors: bool = True) -> ScoringFile:
    """Parse one file: the compiled reader first when `use_compiled`, else (or when it gives up) polars."""
    data = None
    if use_compiled:
        compiled.start(wide_vectors=wide_vectors)
        from prsgazer.engine.scorefile import fast  # numba: loaded only when the compiled reader is wanted

        got, why = fast.parse_file(p, cid)
        if isinstance(got, ScoringFile):
            got.reader = "compiled"
            return got
        data = got  # the file's text, when the compiled reader read it all before it gave up
    else:
        why = "not chosen"
    sf = parse_text(p, cid, data)
    sf.reader = f"polars ({why})"
    return sf


def read_scorefile(
    path: str | Path, *, cache_dir: Path | None = None, reader: ReaderOptions | None = None
) -> ScoringFile:
    """Parse a scoring file (plain or gzip), using the parquet cache when `cache_dir` is given.

    Raises InputError (file, line, column) for anything that is not a valid scoring file.
    """
    p = Path(path)
    _check_paths([p])
    opt = reader or ReaderOptions()
    cid = cid_of_file(p)
    cached = entry_path(cache_dir, cid)
    if cached is not None:
        loaded = read_entry(cached, p, cid)
        if loaded is not None:
            loaded.reader = "cache"
            return loaded
    sf = parse_file(p, cid, use_compiled=opt.wants_compiled([p]), wide_vectors=opt.wide_vectors)
    if cached is not None:
        write_entry(cached, sf)
    return sf


def read_scorefiles(
    paths: list[Path],
    *,
    cache_dir: Path | None = None,
    writer: CacheWriter | None = None,
    cids: list[str] | None = None,
    workers: int = 1,
    reader: ReaderOptions | None = None,
    write_cache: bool = True,
) -> tuple[list[ScoringFile], pl.DataFrame]:
    """Parse many scoring files; returns them and one frame with all their rows (in order).

    Cached files are read with a single multi-file parquet scan (parallel), then sliced per file.
    `writer`: new cache entries are handed to it once every file is parsed, and written on its
    thread while the caller goes on (matching); the caller flushes it before it returns (without
    one they are written in line). `cids`: the files' CIDs when the caller has them already (they
    are not hashed again). `workers`: files parsed at once (the readers release the GIL; each file
    parsed at once holds its rows in memory). `reader`: which reader parses the uncached files.
    `write_cache=False`: entries in `cache_dir` are read, none is written.
    """
    _check_paths(paths)
    opt = reader or ReaderOptions()
    if cids is None:
        with ThreadPoolExecutor(max_workers=2) as hashing:  # sha256 releases the GIL
            cids = list(hashing.map(cid_of_file, paths))
    elif len(cids) != len(paths):
        raise ValueError("one CID per path")
    hits: dict[int, tuple[Path, dict[str, str], str]] = {}
    if cache_dir is not None:
        entries = [entry_path(cache_dir, cid) for cid in cids]
        # every entry is re-hashed against its seal before it is read (sha256 releases the GIL)
        with ThreadPoolExecutor(max_workers=2) as hashing:
            found = list(hashing.map(lambda e: entry_meta(e) if e is not None and _maybe(e) else None, entries))
        for k, (cached, got) in enumerate(zip(entries, found, strict=True)):
            if got is not None and cached is not None:
                hits[k] = (cached, *got)
    misses = [k for k in range(len(paths)) if k not in hits]
    use_compiled = bool(misses) and opt.wants_compiled([Path(paths[k]) for k in misses])
    # entries leave out their one-value columns (`cache._derivable`): read as nulls, put back per file
    bulk = (
        pl.read_parquet([str(c) for c, _, _ in hits.values()], schema=SCHEMA, missing_columns="insert")
        if hits
        else None
    )

    def one(k: int) -> ScoringFile:
        return parse_file(Path(paths[k]), cids[k], use_compiled=use_compiled, wide_vectors=opt.wide_vectors)

    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 and len(misses) > 1 else None
    parsed = pool.map(one, misses) if pool is not None else (one(k) for k in misses)
    later: list[tuple[Path, ScoringFile]] = []  # cache entries to write once every file is parsed
    files: list[ScoringFile] = []
    try:
        offset = _gather(
            paths, cids, hits, bulk, parsed, cache_dir if write_cache else None,
            later if writer is not None else None, files,
        )  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if later and writer is not None:
        writer.submit(later)
    if bulk is not None and offset != bulk.height:  # a cache entry changed under us: read one by one
        files = [read_scorefile(p, cache_dir=None, reader=opt) for p in paths]
    frames = [sf.variants for sf in files]
    frame = pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=SCHEMA)
    return files, frame


def _gather(
    paths: list[Path],
    cids: list[str],
    hits: dict[int, tuple[Path, dict[str, str], str]],
    bulk: pl.DataFrame | None,
    parsed: Iterator[ScoringFile],
    cache_dir: Path | None,
    later: list[tuple[Path, ScoringFile]] | None,
    files: list[ScoringFile],
) -> int:
    """`read_scorefiles`' files in order: cached ones sliced from `bulk`, the others taken from
    `parsed` (in order) and cached, now or — with a `later` list — by the caller. Returns the rows of
    `bulk` used."""
    offset = 0
    for k, (p, cid) in enumerate(zip(paths, cids, strict=True)):
        if k in hits:
            assert bulk is not None
            _, meta, entry_cid = hits[k]
            n = int(meta["prsgazer.n_rows"])
            frame = rebuild(bulk.slice(offset, n), json.loads(meta.get("prsgazer.derived", "{}")))
            offset += n
            sf = ScoringFile(
                path=Path(p),
                cid=cid,
                header=ScoringFileHeader.model_validate_json(meta["prsgazer.header"]),
                harmonised=meta["prsgazer.harmonised"] == "true",
                variants=frame,
                known_accessions=json.loads(meta["prsgazer.accessions"]),
                reader="cache",
                cache_cid=entry_cid,
            )
        else:
            sf = next(parsed)
            cached = entry_path(cache_dir, cid)
            if cached is not None:
                if later is not None:
                    later.append((cached, sf))
                else:
                    write_entry(cached, sf)
        files.append(sf)
    return offset
