"""Lifted scoring files, cached: a parsed file's rows in another build (`liftover.lift_marked`) kept
as parquet under `<cache_dir>/lifted/<scoring-file CID>-<chain CID>-<code version>.parquet`, so a file
is lifted once per chain. The unlifted rows and their reasons are kept in the entry's metadata. The
entry is sealed with the CID of its bytes (`prsgazer.sealed`): one that does not match is discarded
with a warning and lifted again. See docs/engine.md ("Liftover").
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from prsgazer.cid import cid_of_file
from prsgazer.engine.cache_entry import read_entry, reject_entry, write_entry
from prsgazer.engine.scorefile.liftover import UNLIFTED_SCHEMA, lift_marked, read_chain
from prsgazer.engine.scorefile.model import SCHEMA, ScoringFile
from prsgazer.engine.version import source_version

_META = "prsgazer.lifted"
_WHAT = "lifted scoring-file cache entry"


def lift_cached(
    sf: ScoringFile, chain: Path, cache_dir: Path | None
) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """(the file's rows in the chain's target build, the rows that could not be lifted, the CID of the
    cache entry they were read from or written to — None without a cache)."""
    path = None
    if cache_dir is not None:
        key = f"{sf.cid}-{cid_of_file(chain)}-{source_version('scorefile', 'common')}"
        path = Path(cache_dir) / "lifted" / f"{key}.parquet"
        found = read_entry(path, _META, _WHAT)
        if found is not None:
            frame, meta, entry_cid = found
            try:
                if frame.schema != pl.Schema(SCHEMA):
                    raise ValueError("another schema")
                return frame, pl.DataFrame(meta["unlifted"], schema=UNLIFTED_SCHEMA), entry_cid
            except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
                reject_entry(path, _WHAT, f"does not fit ({exc})")  # lifted again, never trusted
    frame, unlifted = lift_marked(sf.variants, read_chain(chain))
    written = write_entry(path, frame, _META, {"unlifted": unlifted.to_dicts()}) if path is not None else None
    return frame, unlifted, written
