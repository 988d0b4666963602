"""Garbage collection of a store and its cache: what no record, no run and no reader needs any more.
See docs/storage.md ("Garbage collection").

`collect_garbage(store, cache_dir, dry_run=…)` finds, and unless `dry_run` removes:

- **orphan blobs**: `blobs/<cid>` with no record, untouched for `blob_grace` seconds (an upload renames
  its blob into place a moment before it writes the record; the grace keeps gc away from that);
- **store temp files**: `tmp/*.part` and `tmp/*.hfdl` of processes that are gone, temp files of a
  killed metadata or journal write (`prsgazer.fileio.stale_temps`), hidden `*.tmp` copies under
  `files/` and `exports/` left by a killed copy, and `files/<cid>/` views of assets no longer recorded;
- **run folders**: `<cache_dir>/runs/*` older than `min_age` (a live operation's folder is young, and
  removes itself when it ends);
- **cache temp files**: `*.tmp` and `.tmp-*` files or folders anywhere under the cache older than
  `min_age`, and seals (`*.cid`) whose entry is gone. Partial downloads (`*.part`) are kept: the next
  download resumes from them.

It then compacts the journal to one line per current record. Everything is decided under the store's
metadata lock, so no record appears or disappears while gc looks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from pydantic import BaseModel

from prsgazer.cid import is_cid
from prsgazer.fileio import stale_temps
from prsgazer.sealed import SEAL_SUFFIX
from prsgazer.storage.local import LocalStore, _pid_alive


class GcItem(BaseModel):
    """One thing gc removes (or would remove)."""

    kind: str
    path: str
    bytes: int


class GcReport(BaseModel):
    """What one gc pass found, and whether it removed it."""

    dry_run: bool
    items: list[GcItem] = []
    journal_bytes_before: int = 0
    journal_bytes_after: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind → (count, bytes)."""
        out: dict[str, tuple[int, int]] = {}
        for i in self.items:
            n, b = out.get(i.kind, (0, 0))
            out[i.kind] = (n + 1, b + i.bytes)
        return out


def _size(path: Path) -> int:
    try:
        if path.is_dir() and not path.is_symlink():
            return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() or f.is_symlink())
        return path.lstat().st_size
    except OSError:
        return 0


def _age(path: Path, now: float) -> float:
    """Seconds since the file was last written (a folder: since an entry was added or removed)."""
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return 0.0


def _dead_writer(path: Path) -> bool:
    """A `<pid>-….part` / `….hfdl` temp name whose process is gone."""
    try:
        pid = int(path.name.split("-", 1)[0])
    except ValueError:
        return True
    return pid != os.getpid() and not (pid > 0 and _pid_alive(pid))


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            if not os.access(path, os.W_OK):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o644)
            path.unlink()


def _cache_temps(cache_dir: Path, now: float, min_age: float) -> list[GcItem]:
    items: list[GcItem] = []
    runs = cache_dir / "runs"
    for d in sorted(runs.iterdir()) if runs.is_dir() else []:
        if _age(d, now) >= min_age:
            items.append(GcItem(kind="run folder", path=str(d), bytes=_size(d)))
    skip = {runs}
    for root, dirs, files in os.walk(cache_dir):
        here = Path(root)
        if here in skip:
            dirs[:] = []
            continue
        for name in list(dirs):
            if name.startswith(".tmp-") or name.endswith(".tmp"):
                p = here / name
                dirs.remove(name)  # removed whole, not walked
                if _age(p, now) >= min_age:
                    items.append(GcItem(kind="cache temp", path=str(p), bytes=_size(p)))
        for name in files:
            p = here / name
            if name.startswith(".tmp-") or name.endswith(".tmp"):
                if _age(p, now) >= min_age:
                    items.append(GcItem(kind="cache temp", path=str(p), bytes=_size(p)))
            elif name.endswith(SEAL_SUFFIX) and not (here / name[: -len(SEAL_SUFFIX)]).exists():
                if _age(p, now) >= min_age:
                    items.append(GcItem(kind="cache seal without entry", path=str(p), bytes=_size(p)))
    return items


def collect_garbage(
    store: LocalStore,
    cache_dir: Path | None,
    *,
    dry_run: bool = False,
    min_age: float = 86400.0,
    blob_grace: float = 3600.0,
) -> GcReport:
    """Find (and unless `dry_run`, remove) what nothing needs; see the module docstring."""
    now = time.time()
    report = GcReport(dry_run=dry_run)
    with store._locked():
        records = {r["cid"] for r in LocalStore._records(store)}
        for p in sorted(store.blobs.iterdir()):
            if is_cid(p.name) and p.name not in records and _age(p, now) >= blob_grace:
                report.items.append(GcItem(kind="orphan blob", path=str(p), bytes=_size(p)))
        for p in sorted(store.tmp.iterdir()):
            ours = p.name.endswith((".part", ".hfdl"))
            if (ours and _dead_writer(p)) or (not ours and _age(p, now) >= min_age):
                report.items.append(GcItem(kind="store temp", path=str(p), bytes=_size(p)))
        for p in stale_temps(store.root):  # a killed metadata or journal write
            report.items.append(GcItem(kind="store temp", path=str(p), bytes=_size(p)))
        for folder in (store.files, store.exports):
            for d in sorted(folder.iterdir()) if folder.is_dir() else []:
                if folder == store.files and is_cid(d.name) and d.name not in records:
                    report.items.append(GcItem(kind="view of a deleted asset", path=str(d), bytes=_size(d)))
                    continue
                for f in d.glob(".*.tmp") if d.is_dir() else []:
                    if _age(f, now) >= min_age:
                        report.items.append(GcItem(kind="store temp", path=str(f), bytes=_size(f)))
        if cache_dir is not None and Path(cache_dir).is_dir():
            report.items += _cache_temps(Path(cache_dir), now, min_age)
        report.journal_bytes_before = _size(store.journal.path) if store.journal.path.exists() else 0
        report.journal_bytes_after = report.journal_bytes_before
        if not dry_run:
            for item in report.items:
                _remove(Path(item.path))
                if item.kind == "orphan blob":
                    store._verified.pop(Path(item.path).name, None)
            report.journal_bytes_after = store.journal.compact(_current(store))
    return report


def _current(store: LocalStore) -> list[dict]:
    """The records as the metadata file holds them (caller holds the lock)."""
    import json

    data = json.loads(store.meta_path.read_text(encoding="utf-8") or "{}")
    docs = list((data.get("assets") or {}).values())
    return sorted(docs, key=lambda r: (str(r.get("created", "")), r["cid"]))
