"""Remembered CIDs of large inputs: a panel's `.pgen` (1 GB) or a person's VCF (a WGS gVCF: several GB)
is hashed once, not on every run. See docs/architecture.md ("Derived caches").

`file_cid(path, cache_dir)` keeps the CID of a file in a sealed entry of its own,
`<cache_dir>/file_cids/<hash of the resolved path>.json`, with the file's state when it was hashed:
resolved path, size, mtime, ctime and inode. Any change of these (the file edited, replaced, touched,
renamed onto) hashes it again; a damaged or unreadable entry is discarded and the file hashed again,
never an error. One entry per file, so concurrent writers never race on a shared index. A read-only
cache costs a hash, nothing more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from prsgazer.cid import cid_of_file
from prsgazer.errors import OutputError
from prsgazer.sealed import read_verified_bytes, write_sealed_bytes

_WHAT = "file-CID cache entry"


def _state(path: Path) -> list[str | int]:
    st = os.stat(path)
    return [str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def entry_path(cache_dir: Path, path: Path) -> Path:
    """Where the CID of the file at `path` (resolved) is remembered."""
    return Path(cache_dir) / "file_cids" / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"


def file_cid(path: str | Path, cache_dir: Path | None) -> str:
    """The CID of a file's bytes; with a cache dir, the one remembered for the file's current state
    (resolved path, size, mtime, ctime, inode), else hashed and remembered."""
    path = Path(path).resolve()
    if cache_dir is None:
        return cid_of_file(path)
    state = _state(path)
    entry = entry_path(cache_dir, path)
    data = read_verified_bytes(entry, what=_WHAT)
    with contextlib.suppress(ValueError, TypeError):
        known = json.loads(data) if data is not None else None
        if isinstance(known, list) and known[:-1] == state and isinstance(known[-1], str):
            return known[-1]
    cid = cid_of_file(path)
    if _state(path) == state:  # not changed while it was hashed
        # the cache is an optimisation: a read-only or blocked one (OutputError: a file where a folder
        # should be) costs a hash
        with contextlib.suppress(OSError, OutputError):
            write_sealed_bytes(entry, json.dumps([*state, cid]).encode())
    return cid
