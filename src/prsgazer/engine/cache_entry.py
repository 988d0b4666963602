"""Derived cache entries kept as one parquet file, sealed (`prsgazer.sealed`): a frame, and a JSON
value under one key of the file's metadata. See docs/architecture.md ("Derived caches").

`read_entry` gives the frame, the value and the entry's CID when the entry's bytes match its seal and
it can be read; otherwise None, the entry discarded with a warning. `write_entry` writes and seals one
(zstd level 1, no column statistics: an entry is written once and always read whole) and returns its
CID, None when it could not be written: a cache never fails a run. A caller that finds a readable
entry unfit (another schema, another table) calls `reject_entry`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from prsgazer.errors import OutputError
from prsgazer.logs import logger
from prsgazer.sealed import discard, sealed_output, verify


def read_entry(path: Path, key: str, what: str) -> tuple[pl.DataFrame, Any, str] | None:
    """(frame, the metadata value under `key`, the entry's CID), or None for a missing or bad entry."""
    entry_cid = verify(path, what=what)
    if entry_cid is None:
        return None
    try:
        value = json.loads(pl.read_parquet_metadata(path)[key])
        return pl.read_parquet(path), value, entry_cid
    except (OSError, KeyError, ValueError, pl.exceptions.PolarsError) as exc:
        reject_entry(path, what, f"cannot be read ({exc})")
        return None


def reject_entry(path: Path, what: str, why: str) -> None:
    """Discard an entry that was intact but unusable (the next run writes it again)."""
    logger.warning("{} {} {}: discarded, it will be rebuilt", what, path, why)
    discard(path)


def write_entry(path: Path, frame: pl.DataFrame, key: str, value: Any, *, inputs: tuple[Path, ...] = ()) -> str | None:
    """Write and seal `frame` with `value` (JSON) under `key` of its metadata; its CID, or None when it
    could not be written (the temp file is already removed). `inputs`: files it must never replace."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with sealed_output(path, inputs=inputs) as out:
            frame.write_parquet(
                out.path, compression="zstd", compression_level=1, statistics=False,
                metadata={key: json.dumps(value, default=str)},
            )  # fmt: skip
    except (OSError, OutputError, pl.exceptions.PolarsError):
        return None
    return out.cid
