"""Lifted scoring files, cached: a parsed file's rows in another build (`liftover.lift_marked`) kept
as parquet under `<cache_dir>/lifted/<scoring-file CID>-<chain CID>-<code version>.parquet`, so a file
is lifted once per chain. The unlifted rows and their reasons are kept in the entry's metadata.
See docs/engine.md ("Liftover").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from prsgazer.cid import cid_of_file
from prsgazer.engine.scorefile.liftover import UNLIFTED_SCHEMA, lift_marked, read_chain
from prsgazer.engine.scorefile.model import SCHEMA, ScoringFile
from prsgazer.engine.version import source_version

_META = "prsgazer.lifted"


def lift_cached(sf: ScoringFile, chain: Path, cache_dir: Path | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the file's rows in the chain's target build, the rows that could not be lifted)."""
    path = None
    if cache_dir is not None:
        key = f"{sf.cid}-{cid_of_file(chain)}-{source_version('scorefile', 'common')}"
        path = Path(cache_dir) / "lifted" / f"{key}.parquet"
        if path.exists():
            try:
                meta = json.loads(pl.read_parquet_metadata(path)[_META])
                frame = pl.read_parquet(path)
                if frame.schema == pl.Schema(SCHEMA):
                    return frame, pl.DataFrame(meta["unlifted"], schema=UNLIFTED_SCHEMA)
            except (OSError, KeyError, ValueError, pl.exceptions.PolarsError):
                pass  # a damaged entry is lifted again, never trusted
    frame, unlifted = lift_marked(sf.variants, read_chain(chain))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            meta = {_META: json.dumps({"unlifted": unlifted.to_dicts()}, default=str)}
            frame.write_parquet(tmp, compression="zstd", statistics=False, metadata=meta)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the cache is an optimisation
    return frame, unlifted
