"""`Store`: the local content-addressed store as a cache of an optional shared remote.

See docs/storage.md ("Remotes") and docs/cluster.md. With no remote, a `Store` is exactly a
`LocalStore`. With one (`PRSGAZER_REMOTE`):

- writes (upload / update / delete) are noted as *pending* for the remote inside the same atomic
  metadata write, then pushed at once (`PRSGAZER_REMOTE_PUSH=true`, the default) or by `push()`
  (`prsgazer storage push`); a failed push leaves them pending and says so;
- a record not held locally is read from the remote (one request) and cached; a blob not held locally
  is downloaded into `tmp/`, **re-hashed against its CID** and only then renamed into `blobs/` — a
  corrupt remote copy raises `IntegrityError` naming the remote and is never cached;
- queries (`query` / `assemble` / `one` / `lineage` / `delete`'s companion guard) first *sync*:
  list the remote's records (at most once per `PRSGAZER_REMOTE_TTL` seconds, across processes),
  fetch only those whose version tag changed since last seen, merge them into the local metadata
  (remote fields win, local-only fields are kept) and drop local copies of records the remote no
  longer has. Records with pending local changes are never overwritten by a sync: they win until
  pushed, and the push then replaces the remote copy (last writer wins per CID).

Sync state lives in the metadata DB (table `remote`, one document per remote URL: `synced_at`,
`seen` CID → version tag, `pending` CID → "put" | "delete"), so it changes atomically with the records.
Network calls never run while the metadata lock is held.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from tinydb import Query, TinyDB

from prsgazer.assets.base import Asset, asset_class, asset_keys
from prsgazer.cid import cid_of_file
from prsgazer.errors import IntegrityError, NotFoundError, StorageError
from prsgazer.fileio import publish
from prsgazer.storage.local import LocalStore, _pid_alive
from prsgazer.storage.remote import Remote

REMOTE_TABLE = "remote"

#: Set while a method must see only what is on local disk (e.g. `check()` must not download blobs).
_local_only: contextvars.ContextVar[bool] = contextvars.ContextVar("prsgazer_local_only", default=False)


class SyncReport(BaseModel):
    """What one sync of remote records changed in the local metadata."""

    remote: str
    listed: int = 0
    added: list[str] = []
    updated: list[str] = []
    removed: list[str] = []
    skipped: bool = False  # True when the last sync is younger than the TTL


class PushReport(BaseModel):
    """What one push moved to the remote."""

    remote: str
    blobs_uploaded: list[str] = []
    blobs_present: list[str] = []
    records: list[str] = []
    deleted: list[str] = []


class PullReport(BaseModel):
    """What one pull moved from the remote."""

    remote: str
    sync: SyncReport | None = None
    records: list[str] = []
    blobs_downloaded: list[str] = []
    blobs_present: list[str] = []


class Store(LocalStore):
    """A `LocalStore` that, given a `Remote`, caches it, pulls from it and pushes to it."""

    def __init__(
        self,
        root: str | Path,
        *,
        remote: Remote | None = None,
        push: bool = True,
        ttl: float = 30.0,
        verify_on_read: bool = True,
        lock_timeout: float = 120.0,
        reverify_after: float = 600.0,
    ) -> None:
        super().__init__(root, verify_on_read=verify_on_read, lock_timeout=lock_timeout, reverify_after=reverify_after)
        self.remote = remote
        self.push_on_write = push
        self.ttl = ttl
        self._last_sync = 0.0  # this process's last sync (saves a metadata read within the TTL)

    def _sweep_tmp(self) -> None:
        super()._sweep_tmp()
        # Download dirs of HfRemote.get_blob left by processes that died mid-download.
        for d in self.tmp.glob("*.hfdl"):
            try:
                pid = int(d.name.split("-", 1)[0])
            except ValueError:
                pid = -1
            if pid != os.getpid() and not (pid > 0 and _pid_alive(pid)):
                shutil.rmtree(d, ignore_errors=True)

    def __repr__(self) -> str:
        extra = f", remote={self.remote.url!r}" if self.remote is not None else ""
        return f"Store({str(self.root)!r}{extra})"

    # -- remote state --------------------------------------------------------------------------
    def _need_remote(self) -> Remote:
        if self.remote is None:
            from prsgazer.errors import InputError

            raise InputError(
                "no remote is configured",
                field="PRSGAZER_REMOTE",
                hint="set PRSGAZER_REMOTE to s3://bucket/prefix, file:///shared/dir or hf://datasets/<org>/<name>",
            )
        return self.remote

    def _state(self, db: TinyDB) -> dict[str, Any]:
        assert self.remote is not None
        doc = db.table(REMOTE_TABLE).get(Query().url == self.remote.url)
        state = dict(doc) if doc is not None else {}
        state.setdefault("url", self.remote.url)
        state.setdefault("synced_at", 0.0)
        state["seen"] = dict(state.get("seen") or {})
        state["pending"] = dict(state.get("pending") or {})
        return state

    def _save_state(self, db: TinyDB, state: dict[str, Any]) -> None:
        db.table(REMOTE_TABLE).upsert(state, Query().url == state["url"])

    def remote_status(self) -> dict[str, Any]:
        """The remote's URL, when records were last synced, and what is pending."""
        remote = self._need_remote()
        with self._db() as db:
            st = self._state(db)
        return {
            "remote": remote.url,
            "describe": remote.describe(),
            "push_on_write": self.push_on_write,
            "ttl": self.ttl,
            "synced_at": st["synced_at"] or None,
            "seen": len(st["seen"]),
            "pending": dict(sorted(st["pending"].items())),
        }

    def _record_changed(self, db: TinyDB, cid: str, *, deleted: bool = False) -> None:
        if self.remote is None:
            return
        st = self._state(db)
        st["pending"][cid] = "delete" if deleted else "put"
        self._save_state(db, st)

    # -- reads that fall back to the remote ------------------------------------------------------
    def record(self, cid: str) -> dict[str, Any]:
        try:
            return super().record(cid)
        except NotFoundError:
            if self.remote is None or _local_only.get():
                raise
        rec = self.remote.get_record(cid)
        adopted = self._adopt({cid: (rec, "")}) if rec is not None else {}
        if cid not in adopted:
            raise NotFoundError(
                f"no asset with CID {cid} in the store at {self.root} nor on remote {self.remote.url}", field="cid"
            )
        return adopted[cid]

    def _records(self) -> list[dict[str, Any]]:
        if self.remote is not None and not _local_only.get():
            self.sync()
        return super()._records()

    def verify(self, cid: str) -> Path:
        if self.remote is None or _local_only.get():
            return super().verify(cid)
        if not self.blob_path(cid).exists():
            try:
                self._pull_blob(cid)
            except NotFoundError as exc:
                raise NotFoundError(
                    f"neither the store at {self.root} nor remote {self.remote.url} holds the bytes of {cid} "
                    "(re-upload the file, or delete the record: MCP delete_file, shell `prsgazer storage rm`)",
                    field="cid",
                ) from exc
        try:
            return super().verify(cid)
        except IntegrityError:
            # The local copy was corrupt and has been moved aside: replace it by the remote's, verified.
            self._pull_blob(cid)
            return super().verify(cid)

    def check(self) -> dict[str, list[str]]:
        """Like `LocalStore.check`, without downloading anything; with a remote, blobs held only by the
        remote are reported under `remote` instead of `missing`."""
        if self.remote is not None:
            self.sync()
        with local_only():
            report = super().check()
        if self.remote is not None:
            on_remote = self.remote.list_blobs() if report["missing"] else set()
            report["remote"] = [c for c in report["missing"] if c in on_remote]
            report["missing"] = [c for c in report["missing"] if c not in on_remote]
        return report

    # -- writes that push ----------------------------------------------------------------------
    def upload(self, asset: Asset) -> Asset:
        stored = super().upload(asset)
        self._push_after_write([stored.cid], "stored")
        return stored

    def update(self, cid: str, **keyvalues: Any) -> Asset:
        updated = super().update(cid, **keyvalues)
        self._push_after_write([cid], "updated")
        return updated

    def delete(self, cid: str, *, force: bool = False) -> bool:
        done = super().delete(cid, force=force)
        self._push_after_write([cid], "deleted")
        return done

    def _push_after_write(self, cids: list[str], what: str) -> None:
        if self.remote is None or not self.push_on_write:
            return
        try:
            self.push(cids)
        except StorageError as exc:
            raise StorageError(
                f"{', '.join(cids)} {what} locally in {self.root}, but not pushed to remote {self.remote.url}: {exc} "
                "— it stays pending; run `prsgazer storage push` once the remote problem is fixed"
            ) from exc

    # -- sync ----------------------------------------------------------------------------------
    def sync(self, *, force: bool = False) -> SyncReport:
        """Bring remote records into the local metadata (see the module docstring for the rules)."""
        remote = self._need_remote()
        now = time.time()
        if not force and self.ttl > 0:
            if now - self._last_sync < self.ttl:
                return SyncReport(remote=remote.url, skipped=True)
            with self._db() as db:
                synced_at = float(self._state(db)["synced_at"] or 0.0)
            if now - synced_at < self.ttl:
                self._last_sync = synced_at
                return SyncReport(remote=remote.url, skipped=True)
        listing = remote.list_records()
        with self._db() as db:
            st = self._state(db)
        changed = [c for c, tag in listing.items() if st["seen"].get(c) != tag and c not in st["pending"]]
        fetched = remote.get_records(changed)
        report = SyncReport(remote=remote.url, listed=len(listing))
        removed: list[str] = []
        with self._db() as db:
            st = self._state(db)
            table = db.table("assets")
            for cid, rec in fetched.items():
                if cid in st["pending"]:
                    continue  # changed locally meanwhile: the local version wins until pushed
                (report.updated if table.contains(_cid(cid)) else report.added).append(cid)
                _merge_into(table, cid, rec)
                st["seen"][cid] = listing[cid]
            for cid in list(st["seen"]):
                if cid not in listing and cid not in st["pending"]:
                    # The remote no longer has it (deleted by another store): drop our copy too.
                    table.remove(_cid(cid))
                    del st["seen"][cid]
                    removed.append(cid)
            st["synced_at"] = time.time()
            self._save_state(db, st)
            self._last_sync = st["synced_at"]
        for cid in removed:
            self._drop_local_bytes(cid)
        report.removed = removed
        return report

    def _adopt(self, found: dict[str, tuple[dict[str, Any], str]]) -> dict[str, dict[str, Any]]:
        """Merge records just read from the remote (with their version tag, "" when unknown) into the
        local metadata, except those with pending local changes. Returns the merged records."""
        out: dict[str, dict[str, Any]] = {}
        with self._db() as db:
            st = self._state(db)
            table = db.table("assets")
            for cid, (rec, tag) in found.items():
                if cid in st["pending"]:
                    if st["pending"][cid] == "put":
                        doc = table.get(_cid(cid))
                        if doc is not None:
                            out[cid] = dict(doc)
                    continue  # a pending delete hides the remote copy until pushed
                out[cid] = _merge_into(table, cid, rec)
                st["seen"][cid] = tag
            self._save_state(db, st)
        return out

    def _drop_local_bytes(self, cid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(cid).unlink()
        shutil.rmtree(self.files / cid, ignore_errors=True)
        self._verified.pop(cid, None)

    def _pull_blob(self, cid: str) -> None:
        """Download a blob from the remote, accept it only if its bytes hash to `cid`, then cache it."""
        remote = self._need_remote()
        tmp = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        try:
            remote.get_blob(cid, tmp)
            actual = cid_of_file(tmp)
            if actual != cid:
                raise IntegrityError(
                    f"remote {remote.url} holds a corrupt copy of {cid}: its bytes hash to {actual}; it was refused "
                    f"and not cached (from a store holding the original, run `prsgazer storage push --force {cid}`)"
                )
            publish(tmp, self.blob_path(cid), mode=0o444)  # fsync, rename, fsync the directory
            self._remember_good(cid)
        except OSError as exc:
            raise StorageError(f"could not cache blob {cid} from remote {remote.url} into {self.root}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    # -- push / pull ---------------------------------------------------------------------------
    def push(self, cids: Iterable[str] | None = None, *, all: bool = False, force: bool = False) -> PushReport:
        """Send local changes to the remote: the pending ones (default), the given CIDs, or every local
        asset (`all`). Companions of pushed assets go along when the remote may lack them; `force`
        re-uploads blobs the remote already has (to repair a corrupt remote copy)."""
        remote = self._need_remote()
        wanted = list(dict.fromkeys(cids or []))
        for c in wanted:
            self._check_cid(c)
        with self._db() as db:
            st = self._state(db)
            local = {doc["cid"]: dict(doc) for doc in db.table("assets").all()}
        pending = st["pending"]
        if all:
            targets = list(local) + [c for c, op in pending.items() if op == "delete" and c not in local]
        elif wanted:
            targets = wanted
        else:
            targets = list(pending)
        puts: list[str] = []
        deletes: list[str] = []
        for c in targets:
            if c in local:
                puts.append(c)
            elif pending.get(c) == "delete":
                deletes.append(c)
            else:
                raise NotFoundError(f"no asset with CID {c} in the store at {self.root} to push", field="cid")
        # Companions travel with the assets that need them, unless the remote is known to have them.
        for c in list(puts):
            for name in _companions(local[c]):
                ref = local[c].get(name)
                if ref is not None and ref in local and ref not in puts and (ref in pending or ref not in st["seen"]):
                    puts.insert(0, ref)
        # Never push bytes that no longer match their CID (LocalStore.verify: no remote fallback here).
        blobs = {c: LocalStore.verify(self, c) for c in puts if self.blob_path(c).exists()}
        # A record whose bytes are not here (pulled, then updated) may only go where its blob already is.
        for c in puts:
            if c not in blobs and not remote.has_blob(c):
                raise StorageError(
                    f"cannot push {c}: neither the store at {self.root} nor remote {remote.url} holds its bytes "
                    "(re-upload the file first)"
                )
        records = [local[c] for c in puts]
        result = remote.push(blobs, records, force=force)
        if deletes:
            remote.delete(deletes)
        with self._db() as db:
            st = self._state(db)
            table = db.table("assets")
            for c in puts:
                st["seen"][c] = result.records.get(c, "")
                now = table.get(_cid(c))
                if st["pending"].get(c) == "put" and now is not None and dict(now) == local[c]:
                    del st["pending"][c]  # unchanged since we read it: the remote has this version
            for c in deletes:
                st["seen"].pop(c, None)
                if st["pending"].get(c) == "delete" and not table.contains(_cid(c)):
                    del st["pending"][c]
            self._save_state(db, st)
        return PushReport(
            remote=remote.url,
            blobs_uploaded=result.blobs_uploaded,
            blobs_present=result.blobs_present,
            records=puts,
            deleted=deletes,
        )

    def pull(self, cids: Iterable[str] | None = None, *, all: bool = False) -> PullReport:
        """Fetch from the remote: the given CIDs (record, bytes and companions), every blob (`all`), or
        (no argument) just refresh the records, ignoring the TTL."""
        remote = self._need_remote()
        wanted = list(dict.fromkeys(cids or []))
        for c in wanted:
            self._check_cid(c)
        report = PullReport(remote=remote.url)
        if all or not wanted:
            report.sync = self.sync(force=True)
        if all:
            on_remote = remote.list_blobs()
            wanted = [r["cid"] for r in super()._records() if r["cid"] in on_remote]
        else:
            fetched = remote.get_records(wanted, strict=True)
            missing = [c for c in wanted if c not in fetched]
            if missing:
                raise NotFoundError(f"remote {remote.url} has no record for {', '.join(missing)}", field="cid")
            self._adopt({c: (r, "") for c, r in fetched.items()})
            report.records = list(fetched)
            for c in list(wanted):
                rec = self.record(c)
                for name in _companions(rec):
                    ref = rec.get(name)
                    if ref and ref not in wanted:
                        self.record(ref)
                        wanted.append(ref)
        for c in wanted:
            if self.blob_path(c).exists():
                report.blobs_present.append(c)
            else:
                self.verify(c)  # downloads, re-hashes, caches
                report.blobs_downloaded.append(c)
        return report


def _cid(cid: str) -> Any:
    return Query().cid == cid


def _companions(rec: dict[str, Any]) -> tuple[str, ...]:
    key = rec.get("asset")
    return asset_class(key).companions if key in asset_keys() else ()


def _merge_into(table: Any, cid: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Write a remote record into the local table: remote fields win, local-only fields are kept."""
    doc = table.get(_cid(cid))
    merged = {**dict(doc), **rec} if doc is not None else dict(rec)
    merged["cid"] = cid
    if doc is not None:
        table.update(merged, _cid(cid))
    else:
        table.insert(merged)
    return merged


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Within this block, stores see only what is on local disk (no remote reads)."""
    token = _local_only.set(True)
    try:
        yield
    finally:
        _local_only.reset(token)
