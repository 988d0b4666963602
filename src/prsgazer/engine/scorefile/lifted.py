"""Lifted scoring files, cached: a parsed file's rows in another build (`liftover.lift_marked`) kept
as parquet under `<cache_dir>/lifted/<scoring-file CID>-<chain CID>-<code version>.parquet`, so a file
is lifted once per chain. The unlifted rows and their reasons are kept in the entry's metadata. The
entry is sealed with the CID of its bytes (`prsgazer.sealed`): one that does not match is discarded
with a warning and lifted again. See docs/engine.md ("Liftover").
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import polars as pl

from prsgazer.cid import cid_of_file
from prsgazer.engine.scorefile.liftover import UNLIFTED_SCHEMA, lift_marked, read_chain
from prsgazer.engine.scorefile.model import SCHEMA, ScoringFile
from prsgazer.engine.version import source_version
from prsgazer.sealed import discard, publish, verify

_META = "prsgazer.lifted"


def lift_cached(
    sf: ScoringFile, chain: Path, cache_dir: Path | None
) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """(the file's rows in the chain's target build, the rows that could not be lifted, the CID of the
    cache entry they were read from or written to — None without a cache)."""
    path = None
    if cache_dir is not None:
        key = f"{sf.cid}-{cid_of_file(chain)}-{source_version('scorefile', 'common')}"
        path = Path(cache_dir) / "lifted" / f"{key}.parquet"
        entry_cid = verify(path, what="lifted scoring-file cache entry")
        if entry_cid is not None:
            try:
                meta = json.loads(pl.read_parquet_metadata(path)[_META])
                frame = pl.read_parquet(path)
                if frame.schema == pl.Schema(SCHEMA):
                    return frame, pl.DataFrame(meta["unlifted"], schema=UNLIFTED_SCHEMA), entry_cid
            except (OSError, KeyError, ValueError, pl.exceptions.PolarsError):
                discard(path)  # a damaged entry is lifted again, never trusted
    frame, unlifted = lift_marked(sf.variants, read_chain(chain))
    written = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            meta = {_META: json.dumps({"unlifted": unlifted.to_dicts()}, default=str)}
            frame.write_parquet(tmp, compression="zstd", statistics=False, metadata=meta)
            written = publish(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the cache is an optimisation
    return frame, unlifted, written
