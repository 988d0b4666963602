"""The parsed-file cache: a parsed scoring file as zstd parquet under `<cache_dir>/scorefiles/<cid>.parquet`
(CID of the source bytes), the header and one-value columns in its metadata. Written atomically;
an entry that cannot be read, or of another parser version, is ignored and re-created.
See docs/engine.md ("Parsed-file cache").
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from prsgazer.engine.scorefile.header import ScoringFileHeader
from prsgazer.engine.scorefile.model import SCHEMA, ScoringFile
from prsgazer.engine.version import source_version
from prsgazer.errors import OutputError
from prsgazer.fileio import output_path


def parser_version() -> str:
    """The parser's version: a hash of the scoring-file code, so an entry from other code is never used."""
    return source_version("scorefile", "common")


def entry_meta(cached: Path) -> dict[str, str] | None:
    """The cache entry's metadata when it is usable (same parser version, complete)."""
    if not cached.exists():
        return None
    try:
        meta = pl.read_parquet_metadata(cached)
    except (OSError, pl.exceptions.PolarsError):
        return None
    keys = ("prsgazer.header", "prsgazer.harmonised", "prsgazer.accessions", "prsgazer.n_rows")
    if meta.get("prsgazer.parser_version") != parser_version() or any(k not in meta for k in keys):
        return None
    return meta


def entry_path(cache_dir: Path | None, cid: str) -> Path | None:
    return None if cache_dir is None else Path(cache_dir) / "scorefiles" / f"{cid}.parquet"


def read_entry(cached: Path, source: Path, cid: str) -> ScoringFile | None:
    try:
        meta = pl.read_parquet_metadata(cached)
        if meta.get("prsgazer.parser_version") != parser_version():
            return None
        header = ScoringFileHeader.model_validate_json(meta["prsgazer.header"])
        harmonised = meta["prsgazer.harmonised"] == "true"
        frame = rebuild(pl.read_parquet(cached), json.loads(meta.get("prsgazer.derived", "{}")))
    except (OSError, KeyError, ValueError, TypeError, pl.exceptions.PolarsError):
        return None  # a damaged cache entry is re-created, never trusted
    if frame.schema != pl.Schema(SCHEMA):
        return None
    return ScoringFile(path=source, cid=cid, header=header, harmonised=harmonised, variants=frame)


#: Columns a cache entry keeps in its metadata when every row holds the same value.
_CONSTANT_COLUMNS = ("accession", "effect_type")
#: Columns a cache entry keeps as their first value when they count up by one (row_nr, line).
_COUNTING_COLUMNS = ("row_nr", "line")


def _derivable(frame: pl.DataFrame) -> dict[str, str | int]:
    """The columns of `frame` that are one value (or a count from one value) on every row: the
    cache stores those as that value, which halves the time to write an entry."""
    if frame.height == 0:
        return {}
    out: dict[str, str | int] = {}
    for c in _CONSTANT_COLUMNS:
        col = frame.get_column(c)
        first = col[0]
        if first is not None and col.null_count() == 0 and bool((col == first).all()):
            out[c] = first
    for c in _COUNTING_COLUMNS:
        col = frame.get_column(c)
        if col.null_count() == 0:
            a = col.to_numpy()
            if bool((a == a[0] + np.arange(len(a))).all()):
                out[c] = int(a[0])
    return out


def rebuild(frame: pl.DataFrame, derived: dict[str, str | int]) -> pl.DataFrame:
    """A cache entry's frame with the columns `_derivable` left out put back (in SCHEMA order)."""
    if not derived:
        return frame
    extra = [
        (pl.int_range(pl.len(), dtype=pl.Int64) + int(v)).alias(c)
        if c in _COUNTING_COLUMNS
        else pl.lit(str(v), dtype=SCHEMA[c]).alias(c)
        for c, v in derived.items()
    ]
    return frame.with_columns(extra).select(list(SCHEMA))


def write_entry(target: Path, sf: ScoringFile) -> None:
    derived = _derivable(sf.variants)
    meta = {
        "prsgazer.parser_version": parser_version(),
        "prsgazer.header": sf.header.model_dump_json(),
        "prsgazer.harmonised": "true" if sf.harmonised else "false",
        "prsgazer.source_name": sf.path.name,
        "prsgazer.accessions": json.dumps(sf.accessions),
        "prsgazer.n_rows": str(sf.variants.height),
        "prsgazer.derived": json.dumps(derived),
    }
    try:
        # zstd level 1, no column statistics (the cache is always read whole): written once, read often;
        # level 3 with statistics took 40% longer for 3% smaller files
        with output_path(target, inputs=[sf.path], durable=False) as tmp:
            sf.variants.drop(list(derived)).write_parquet(
                tmp, compression="zstd", compression_level=1, statistics=False, metadata=meta
            )
    except (OSError, OutputError, pl.exceptions.PolarsError):
        pass  # the cache is an optimisation: never fail a read for it (the temp file is already removed)


class CacheWriter:
    """Writes parsed-file cache entries on one background thread, owned by one run.

    `submit` is called once a call's files are all parsed (writing while parsing slowed the parsing
    more than the writing took); at most `max_pending` lists wait, so the parsed frames held for
    writing stay bounded. `flush` waits for every entry; `close` (or leaving the `with` block) too.
    """

    def __init__(self, max_pending: int = 2) -> None:
        self.max_pending = max_pending
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()

    def submit(self, entries: list[tuple[Path, ScoringFile]]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorefile-cache")
            while len(self._pending) >= self.max_pending:
                self._pending.pop(0).result()
            self._pending.append(self._pool.submit(_write_all, entries))

    def flush(self) -> None:
        with self._lock:
            while self._pending:
                self._pending.pop(0).result()

    def close(self) -> None:
        self.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(entries: list[tuple[Path, ScoringFile]]) -> None:
    for target, sf in entries:
        write_entry(target, sf)
