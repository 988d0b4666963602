"""What a name taken from a record may be before a path is built from it. See docs/storage.md
("Remotes": a remote is untrusted).

Records travel between stores through remotes anyone with write access can change. A file name in a
record (`filename`), a CID in a lineage or companion field (`*_cid`, `*_cids`) and a bundle name all end
up in paths, so each must be exactly one plain path component: `../../../victim`, an absolute path, a
name with '/', '\\' or NUL, or a hidden name is refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prsgazer.cid import is_cid
from prsgazer.errors import StorageError


def is_plain_name(name: Any) -> bool:
    """True for one plain, visible path component of at most 255 bytes."""
    if not isinstance(name, str) or not name or name in (".", "..") or name.startswith("."):
        return False
    if any(ch in name for ch in ("/", "\\", "\x00")) or len(name.encode()) > 255:
        return False
    return Path(name).name == name


def plain_name(name: Any, *, what: str = "file name") -> str:
    """`name` when it is a plain name (`is_plain_name`), else a StorageError saying why it is refused."""
    if not is_plain_name(name):
        raise StorageError(
            f"{what} {name!r} is not a plain file name (one path component, no '/', '..' or NUL); it is refused "
            "(a record from a remote cannot choose where files are written — re-push a correct record)"
        )
    return str(name)


def record_problems(rec: dict[str, Any]) -> list[str]:
    """What makes a record unsafe to use: a file name that is not plain, a lineage field that is not a
    CID, an asset key or size of the wrong kind. Empty when the record is fine."""
    bad = []
    if not isinstance(rec.get("asset"), str) or not rec["asset"].replace("_", "").isalnum():
        bad.append(f"asset {rec.get('asset')!r} is not an asset key")
    name = rec.get("filename")
    if name not in (None, "") and not is_plain_name(name):
        bad.append(f"filename {name!r} is not a plain file name")
    size = rec.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        bad.append(f"size {size!r} is not a byte count")
    for k, v in rec.items():
        if k.endswith("_cid") and v not in (None, "") and not (isinstance(v, str) and is_cid(v)):
            bad.append(f"{k} {v!r} is not a CID")
        elif k.endswith("_cids") and v is not None and not (
            isinstance(v, list) and all(isinstance(x, str) and is_cid(x) for x in v)
        ):
            bad.append(f"{k} {v!r} is not a list of CIDs")
    return bad
