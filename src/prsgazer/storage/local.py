"""The local content-addressed store: blobs under `<root>/blobs/<cid>`, metadata in TinyDB.

See docs/storage.md. Guarantees:
- the CID is computed from the bytes while they are copied into `<root>/tmp/`; the blob appears under
  its CID only by an atomic rename after fsync, so a crash or a full disk never leaves a half file
  under a CID (stale temp files of dead processes are swept when a store opens);
- metadata (TinyDB, one JSON file) is read-modify-written under a cross-process file lock and
  replaced atomically, so concurrent writers lose no record and a killed writer corrupts nothing;
- every record change is first appended to the journal (`storage/journal.py`, fsynced), so the
  records can be rebuilt (`rebuild`, `prsgazer storage check --rebuild`); a metadata file that does
  not parse, or is empty or missing while the store holds blobs, is never written over;
- a blob is re-hashed before it is handed out (again whenever its file's inode, size, mtime or ctime
  change, and at least every `reverify_after` seconds); a blob whose bytes no longer match its CID
  is moved to `<root>/corrupt/` and reported, never used;
- files handed to users (`export`, `download`) are copies (reflinks where the file system has
  them), never hard links to a blob: editing one cannot corrupt the store. `fetch` without a
  destination gives read-only hard-linked views under `<root>/files/` for the code's own reads;
- names that come from records (file names, CIDs) are checked to be plain names before any path is
  built from them: a record (from a remote) cannot make the store write outside its directories.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import BaseModel
from tinydb import TinyDB
from tinydb.storages import Storage

from prsgazer.assets.base import RESERVED_KEYS, Asset, asset_class, asset_keys, coerce
from prsgazer.cid import CHUNK, cid_from_digest, cid_of_file, is_cid
from prsgazer.errors import AssetError, IntegrityError, NotFoundError, StorageError
from prsgazer.fileio import Output, publish, stale_temps, temp_name, write_bytes
from prsgazer.storage.journal import JOURNAL_NAME, Journal
from prsgazer.storage.names import is_plain_name, plain_name

#: Longest multi-part extensions first, so `x.pvar.zst` keeps `.pvar.zst`.
_KNOWN_EXTENSIONS = (
    ".king.cutoff.out.id",
    ".pvar.zst",
    ".vcf.gz",
    ".vcf.bgz",
    ".g.vcf.gz",
    ".txt.gz",
    ".tsv.gz",
    ".tar.zst",
    ".blocks.parquet",
)


def file_extension(filename: str) -> str:
    """The extension of a file name, knowing genomics' two-part ones (`.vcf.gz`, `.pvar.zst`)."""
    lower = filename.lower()
    for ext in _KNOWN_EXTENSIONS:
        if lower.endswith(ext):
            return filename[-len(ext) :]
    return Path(filename).suffix


def file_stem(filename: str) -> str:
    ext = file_extension(filename)
    return filename[: -len(ext)] if ext else filename


#: What every message about damaged metadata tells the user to run.
REBUILD_HINT = (
    "recover the records from the journal and the blobs (the operator, in a shell: `prsgazer storage check --rebuild`)"
)


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces its JSON file atomically (temp + fsync + rename) on every write,
    after logging the record changes to the journal.

    Callers must hold the store's file lock around read-modify-write sequences. A metadata file that
    does not parse, or that is empty or missing while the store holds blobs or a journal, is refused
    (never taken for an empty store, so the next write cannot make a loss permanent).
    """

    def __init__(self, path: str | Path, *, journal: Journal | None = None, blobs: Path | None = None) -> None:
        self.path = Path(path)
        self.journal = journal
        self.blobs = blobs
        self._last: str | None = None  # the text last read: what a write changes

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            text: str | None = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except UnicodeDecodeError as exc:
            raise StorageError(f"{self.path}: metadata file is not text ({exc}); {REBUILD_HINT}") from exc
        self._last = text
        if text is None or not text.strip():
            self._refuse_if_lost("missing" if text is None else "empty")
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StorageError(
                f"{self.path}: metadata file is not valid JSON ({exc}); it is left as it is and nothing is "
                f"written over it; {REBUILD_HINT}"
            ) from exc
        if not isinstance(data, dict):
            raise StorageError(f"{self.path}: metadata file does not hold a JSON object; {REBUILD_HINT}")
        return data

    def _refuse_if_lost(self, state: str) -> None:
        held = []
        if self.blobs is not None and _any_entry(self.blobs):
            held.append("blobs")
        if self.journal is not None and self.journal.exists():
            held.append("a journal of records")
        if held:
            raise StorageError(
                f"{self.path}: metadata file is {state} while the store holds {' and '.join(held)}: its records "
                f"were lost, so it is not used as an empty store and nothing is written over it; {REBUILD_HINT}"
            )

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.journal is not None:
            old = json.loads(self._last) if self._last and self._last.strip() else {}
            puts, deletes = _record_changes(old.get("assets") or {}, data.get("assets") or {})
            self.journal.append(puts, deletes)  # durable before the metadata changes
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        write_bytes(self.path, payload)  # temp, fsync, rename, fsync the directory (prsgazer.fileio)
        self._last = payload.decode()

    def close(self) -> None:
        pass


def _record_changes(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Records put (new or changed) and CIDs deleted between two states of the assets table."""
    before = {d.get("cid"): d for d in old.values()}
    after = {d.get("cid"): d for d in new.values()}
    puts = [d for c, d in after.items() if c and before.get(c) != d]
    deletes = [c for c in before if c and c not in after]
    return puts, deletes


def _any_entry(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(True for _ in it)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RebuildReport(BaseModel):
    """What `LocalStore.rebuild` recovered."""

    records: int
    from_journal: int
    from_metadata: list[str] = []
    bad_journal_lines: list[int] = []
    missing: list[str] = []
    orphans: list[str] = []
    previous: str | None = None


class LineageNode(BaseModel):
    """One asset in a lineage walk: its record and the assets it was made from."""

    cid: str
    asset: str | None = None
    filename: str | None = None
    via: str | None = None
    missing: bool = False
    keyvalues: dict[str, Any] = {}
    parents: list[LineageNode] = []


class Lineage(BaseModel):
    """Where an asset came from (`root` with its parents, recursively) and what was made from it."""

    root: LineageNode
    children: list[LineageNode]


class LocalStore:
    """A content-addressed store on a local (or shared POSIX) file system."""

    def __init__(
        self,
        root: str | Path,
        *,
        verify_on_read: bool = True,
        lock_timeout: float = 120.0,
        reverify_after: float = 600.0,
    ) -> None:
        self.root = Path(root).expanduser()
        self.verify_on_read = verify_on_read
        self.lock_timeout = lock_timeout
        self.reverify_after = reverify_after
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.files = self.root / "files"
        self.exports = self.root / "exports"
        self.corrupt = self.root / "corrupt"
        self.meta_path = self.root / "metadata.json"
        self.journal = Journal(self.root / JOURNAL_NAME)
        for d in (self.blobs, self.tmp, self.files):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.root / "metadata.lock"), timeout=lock_timeout)
        # cid -> (file state, when hashed) of a blob this process has hashed and found good; the state is
        # (device, inode, size, mtime_ns, ctime_ns): any write changes the ctime, which nobody can set back.
        self._verified: dict[str, tuple[tuple[int, ...], float]] = {}
        self._sweep_tmp()
        self._start_journal()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- locking and metadata ------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except Timeout as exc:
            raise StorageError(
                f"could not lock {self._lock.lock_file} within {self.lock_timeout:.0f}s: another prsgazer "
                "process is holding it (raise PRSGAZER_LOCK_TIMEOUT or stop the other process)"
            ) from exc

    @contextlib.contextmanager
    def _db(self) -> Iterator[TinyDB]:
        """The metadata DB, opened fresh under the cross-process lock (no stale caches)."""
        with self._locked():
            db = TinyDB(self.meta_path, storage=AtomicJSONStorage, journal=self.journal, blobs=self.blobs)
            try:
                yield db
            finally:
                db.close()

    def _start_journal(self) -> None:
        """A new store starts with an empty metadata file; a store from before the journal existed gets
        one holding its current records (so both can always be rebuilt)."""
        if self.meta_path.exists() and self.journal.exists():
            return
        with self._locked():
            if not self.meta_path.exists() and not _any_entry(self.blobs) and not self.journal.exists():
                write_bytes(self.meta_path, b"{}")
            elif self.meta_path.exists() and not self.journal.exists():
                with contextlib.suppress(StorageError, ValueError):  # a damaged file is reported when used
                    data = json.loads(self.meta_path.read_text(encoding="utf-8") or "{}")
                    docs = list((data.get("assets") or {}).values()) if isinstance(data, dict) else []
                    if docs:
                        self.journal.compact(docs)

    def _records(self) -> list[dict[str, Any]]:
        with self._db() as db:
            return [dict(doc) for doc in db.table("assets").all()]

    def record(self, cid: str) -> dict[str, Any]:
        """The metadata record of a CID; NotFoundError when the store does not hold it."""
        self._check_cid(cid)
        with self._db() as db:
            doc = db.table("assets").get(_cid_query(cid))
        if doc is None:
            raise NotFoundError(f"no asset with CID {cid} in the store at {self.root}", field="cid")
        return dict(doc)

    def has(self, cid: str) -> bool:
        try:
            self.record(cid)
        except NotFoundError:
            return False
        return True

    # -- blobs ---------------------------------------------------------------------------------
    def _sweep_tmp(self) -> None:
        """Remove temp files left by processes that died mid-write (blobs in `tmp/`, metadata beside it)."""
        for p in stale_temps(self.root):
            with contextlib.suppress(OSError):
                p.unlink()
        for p in self.tmp.glob("*.part"):
            try:
                pid = int(p.name.split("-", 1)[0])
            except ValueError:
                pid = -1
            if pid == os.getpid() or (pid > 0 and _pid_alive(pid)):
                continue
            with contextlib.suppress(OSError):
                p.unlink()

    def blob_path(self, cid: str) -> Path:
        return self.blobs / cid

    def _ingest(self, source: Path) -> tuple[str, int]:
        """Copy `source` into the blob store (hash while copying); return (cid, size)."""
        import hashlib

        tmp = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        h = hashlib.sha256()
        size = 0
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            cid = cid_from_digest(h.digest())
            target = self.blob_path(cid)
            if target.exists() and self._blob_is_good(cid):
                tmp.unlink()
            else:
                publish(tmp, target, mode=0o444)  # fsync, rename, fsync the directory
                self._remember_good(cid)
            return cid, size
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if exc.errno == errno.ENOSPC:
                raise StorageError(
                    f"disk full while storing {source} into {self.root}; nothing was stored "
                    "(free space or point PRSGAZER_HOME at a larger disk)"
                ) from exc
            raise StorageError(f"could not store {source} into {self.root}: {exc}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    @staticmethod
    def _stat_key(path: Path) -> tuple[int, ...]:
        st = path.stat()
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _remember_good(self, cid: str) -> None:
        with contextlib.suppress(OSError):
            self._verified[cid] = (self._stat_key(self.blob_path(cid)), time.monotonic())

    def _blob_is_good(self, cid: str) -> bool:
        """Whether the blob's bytes hash to its CID: re-hashed unless this process hashed this very file
        state less than `reverify_after` seconds ago."""
        path = self.blob_path(cid)
        try:
            key = self._stat_key(path)
        except FileNotFoundError:
            return False
        known = self._verified.get(cid)
        if known is not None and known[0] == key and time.monotonic() - known[1] < self.reverify_after:
            return True
        if cid_of_file(path) == cid:
            self._verified[cid] = (key, time.monotonic())
            return True
        self._verified.pop(cid, None)
        return False

    def verify(self, cid: str) -> Path:
        """Check the blob of `cid` hashes to it; return its path or raise IntegrityError/NotFoundError.

        A corrupt blob is moved aside to `<root>/corrupt/` so it can never be handed out again.
        """
        self._check_cid(cid)
        path = self.blob_path(cid)
        if not path.exists():
            quarantined = sorted(self.corrupt.glob(f"{cid}.*")) if self.corrupt.exists() else []
            if quarantined:
                raise IntegrityError(
                    f"blob {cid} was found corrupt and moved to {quarantined[-1]}; it is not used "
                    "(upload the original file again to restore it)"
                )
            raise NotFoundError(
                f"the store at {self.root} has a record for {cid} but not its bytes "
                "(re-upload the file, or delete the record: MCP delete_file, shell `prsgazer storage rm`)",
                field="cid",
            )
        if not self.verify_on_read:
            return path
        if self._blob_is_good(cid):
            return path
        actual = cid_of_file(path)
        self.corrupt.mkdir(exist_ok=True)
        aside = self.corrupt / f"{cid}.{int(time.time())}"
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        shutil.rmtree(self.files / cid, ignore_errors=True)
        self._verified.pop(cid, None)
        raise IntegrityError(
            f"blob {cid} is corrupt: its bytes now hash to {actual}; it was moved to {aside} and not used "
            "(upload the original file again to restore it)"
        )

    # -- write API -----------------------------------------------------------------------------
    def upload(self, asset: Asset) -> Asset:
        """Store `asset.path`'s bytes and the asset's fields; idempotent (same bytes → same CID).

        Re-uploading bytes already stored merges the new fields into the record (new values win).
        The store is unchanged when the asset or file is invalid.
        """
        cls = type(asset)
        if cls is Asset:
            raise AssetError(
                "cannot store an untyped asset",
                field="asset",
                hint=f"allowed: {', '.join(asset_keys())}",
            )
        if asset.path is None:
            raise AssetError(f"{cls.__name__} has no path: nothing to upload", field="path")
        source = Path(asset.path)
        _check_regular_file(source)
        keyvalues = cls.validate_keyvalues(asset.to_keyvalues())
        for name in cls.companions:
            ref = keyvalues.get(name)
            if ref and not self.has(ref):
                raise AssetError(
                    f"companion {name}={ref} is not in the store; upload it first",
                    field=name,
                )
        filename = asset.filename or source.name
        if not is_plain_name(filename):
            raise AssetError(
                f"file name {filename!r} is not a plain file name", field="filename",
                hint="one path component, without '/', '..' or a leading dot",
            )
        cid, size = self._ingest(source)
        with self._db() as db:
            table = db.table("assets")
            existing = table.get(_cid_query(cid))
            if existing is not None and existing.get("asset") not in (
                None,
                cls.asset_key,
            ):
                raise AssetError(
                    f"these bytes are already stored as asset '{existing['asset']}' (CID {cid}); "
                    f"cannot also store them as '{cls.asset_key}'",
                    file=source,
                    field="asset",
                )
            record: dict[str, Any] = dict(existing) if existing else {}
            record.update(keyvalues)
            record.update(
                cid=cid,
                asset=cls.asset_key,
                filename=record.get("filename") or filename,
                size=size,
                created=record.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
            )
            if existing is not None:
                table.update(record, _cid_query(cid))
            else:
                table.insert(record)
            self._record_changed(db, cid)
        return self._to_asset(record, path=self.blob_path(cid))

    def put(self, path: str | Path, asset: str, **keyvalues: Any) -> Asset:
        """Strictly build an asset of type `asset` from keyvalues and upload `path` as it."""
        cls = asset_class(asset)
        values = cls.validate_keyvalues(keyvalues)
        return self.upload(cls(path=Path(path), **values))

    def update(self, cid: str, **keyvalues: Any) -> Asset:
        """Merge keyvalues into an existing record (strictly validated against its type)."""
        rec = self.record(cid)
        cls = asset_class(rec["asset"])
        values = cls.validate_keyvalues(keyvalues)
        with self._db() as db:
            db.table("assets").update(values, _cid_query(cid))
            self._record_changed(db, cid)
        rec.update(values)
        return self._to_asset(rec)

    def delete(self, cid: str, *, force: bool = False) -> bool:
        """Remove an asset's record and bytes. Refuses when another asset needs it as a companion."""
        rec = self.record(cid)
        if not force:
            needers = [
                r["cid"] for r in self._records() if any(r.get(c) == cid for c in _companions_of(r.get("asset")))
            ]
            if needers:
                raise AssetError(
                    f"{cid} is a companion file of {', '.join(needers)}; delete those first or use --force",
                    field="cid",
                )
        with self._db() as db:
            db.table("assets").remove(_cid_query(cid))
            self._record_changed(db, cid, deleted=True)
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(cid).unlink()
        shutil.rmtree(self.files / cid, ignore_errors=True)
        self._verified.pop(cid, None)
        return bool(rec)

    # -- read API ------------------------------------------------------------------------------
    def get(self, cid: str) -> Asset:
        """The typed asset for a CID (metadata only; `path` is the verified blob)."""
        rec = self.record(cid)
        return self._to_asset(rec, path=self.verify(cid))

    def describe(self, cid: str) -> Asset:
        """The typed asset for a CID from its record alone: no bytes are read (nor, with a remote,
        downloaded); `path` is None. For code that hands assets on by identity (workflows)."""
        return self._to_asset(self.record(cid))

    def query(self, **filters: Any) -> list[Asset]:
        """Assets whose records match every filter; a list value means any of its values.

        Keys must be asset fields or `cid` / `asset` / `filename`; an unknown key is an error that
        lists the allowed ones (a typo must not silently match nothing).
        """
        wanted = self._normalize_filters(filters)
        out = []
        for rec in self._records():
            if all(_matches(rec.get(k), vals) for k, vals in wanted.items()):
                out.append(self._to_asset(rec))
        out.sort(key=lambda a: (a.asset_key, str(a.extra.get("created", "")), a.cid))
        return out

    def assemble(self, **filters: Any) -> list[Asset]:
        """Everything matching the cartesian product of list-valued filters (each list: any of)."""
        return self.query(**filters)

    def one(self, **filters: Any) -> Asset:
        """Exactly one matching asset; none or several is an error listing the candidates."""
        found = self.query(**filters)
        if len(found) == 1:
            return found[0]
        shown = ", ".join(f"{a.cid} ({a.asset_key} {a.filename})" for a in found[:10])
        if not found:
            raise NotFoundError(f"no asset matches {filters}", field="filters")
        raise AssetError(
            f"{len(found)} assets match {filters}: {shown}; add filters to pick one",
            field="filters",
        )

    def download(self, cid: str, dest: str | Path | None = None, *, companions: bool = False) -> Asset:
        """A copy of one asset's verified bytes at `dest` (a file, or a directory to put it in under its
        stored name; default: `<root>/exports/<cid>/`). Never a link to the blob. `companions`: its
        companions too, beside it under its file stem (`x.pgen` → `x.pvar`, `x.psam`: still one fileset)."""
        rec = self.record(cid)
        name = self._name_of(rec, cid)
        target = self.exports / cid / name if dest is None else Path(dest)
        if dest is not None and target.is_dir():
            target = target / name
        if companions:
            return self._place(cid, target.parent, True, copy=True, filename=target.name)
        self._materialize(cid, target, copy=True)
        return self._to_asset(rec, path=target)

    def fetch(self, cid: str, dest_dir: str | Path | None = None, *, companions: bool = True) -> Asset:
        """Materialize an asset and its companions side by side with one shared file stem.

        Without `dest_dir`: read-only hard-linked views under `<root>/files/<cid>/` for the code's own
        reads (re-verified through the blob they share). With `dest_dir`: copies (see `export`).
        A panel fetched this way is a usable plink2 prefix: `<dir>/<stem>.pgen/.pvar/.psam`.
        """
        return self._place(cid, Path(dest_dir) if dest_dir is not None else None, companions, copy=dest_dir is not None)

    def export(self, cid: str, dest_dir: str | Path | None = None, *, companions: bool = True) -> Asset:
        """Copies (reflinks where the file system has them) of an asset and its companions for a user,
        in `dest_dir` or a fresh `<root>/exports/<cid>/`: editing them never touches the store."""
        base = Path(dest_dir) if dest_dir is not None else self.exports / cid
        return self._place(cid, base, companions, copy=True)

    def _place(
        self, cid: str, base: Path | None, companions: bool, *, copy: bool, filename: str | None = None
    ) -> Asset:
        """The asset at `base/filename` (default: its stored name) and, with `companions`, each companion
        beside it under the same file stem."""
        rec = self.record(cid)
        cls = asset_class(rec["asset"]) if rec.get("asset") in asset_keys() else Asset
        where = base if base is not None else self.files / cid
        filename = filename or self._name_of(rec, cid, cls.suffix)
        stem = file_stem(filename)
        main = self._materialize(cid, where / filename, copy=copy)
        if companions:
            for name in cls.companions:
                ref = rec.get(name)
                if not ref:
                    continue
                crec = self.record(ref)
                cname = self._name_of(crec, ref)
                ext = file_extension(cname) if crec.get("filename") else asset_class(crec["asset"]).suffix
                self._materialize(ref, where / plain_name(f"{stem}{ext}", what=f"file name of companion {ref}"),
                                  copy=copy)  # fmt: skip
        return self._to_asset(rec, path=main)

    def _name_of(self, rec: dict[str, Any], cid: str, suffix: str = "") -> str:
        """The record's file name, checked to be one plain path component (records may come from a remote)."""
        return plain_name(rec.get("filename") or (cid + suffix), what=f"stored file name of {cid}")

    def _materialize(self, cid: str, target: Path, *, copy: bool) -> Path:
        blob = self.verify(cid)
        if copy:
            _copy_atomic(blob, target)
        else:
            _link_or_copy(blob, target)
        return target

    def lineage(self, cid: str, *, max_depth: int = 50) -> Lineage:
        """Walk `*_cid` fields up (what this was made from) and one level down (what used it)."""
        records = {r["cid"]: r for r in self._records()}
        if cid not in records:
            self.record(cid)  # raises the NotFoundError with its message

        def node(c: str, via: str | None, depth: int, seen: frozenset[str]) -> LineageNode:
            rec = records.get(c)
            if rec is None:
                return LineageNode(cid=c, via=via, missing=True)
            parents = []
            if depth < max_depth:
                for k, v in _links(rec):
                    if v not in seen:
                        parents.append(node(v, k, depth + 1, seen | {v}))
            return LineageNode(
                cid=c,
                asset=rec.get("asset"),
                filename=rec.get("filename"),
                via=via,
                keyvalues={k: v for k, v in rec.items() if k not in RESERVED_KEYS},
                parents=parents,
            )

        children = [
            LineageNode(cid=r["cid"], asset=r.get("asset"), filename=r.get("filename"), via=k)
            for r in records.values()
            for k, v in _links(r)
            if v == cid
        ]
        return Lineage(root=node(cid, None, 0, frozenset({cid})), children=children)

    def check(self) -> dict[str, list[str]]:
        """Verify every blob and the records against the journal; return CIDs by problem: `corrupt`,
        `missing` (record without bytes), `orphan` (bytes without record), `lost` (a record the journal
        has and the metadata file lost: `prsgazer storage check --rebuild` recovers it)."""
        records = {r["cid"] for r in self._records()}
        report: dict[str, list[str]] = {
            "ok": [],
            "corrupt": [],
            "missing": [],
            "orphan": [],
            "lost": [],
        }
        for cid in sorted(records):
            try:
                self.verify(cid)
                report["ok"].append(cid)
            except IntegrityError:
                report["corrupt"].append(cid)
            except NotFoundError:
                report["missing"].append(cid)
        for p in self.blobs.iterdir():
            if p.name not in records and is_cid(p.name):
                report["orphan"].append(p.name)
        with self._locked():
            journaled = self.journal.replay().records
        report["lost"] = sorted(set(journaled) - records)
        return report

    def rebuild(self) -> RebuildReport:
        """Rebuild the metadata file from the journal (and the records of the current file, when it still
        parses, that the journal never saw). The old file is kept beside it as `metadata.json.replaced-<time>`.

        Blobs without a record are reported as orphans (store the original file again to describe them,
        or `prsgazer storage gc` them); records whose blob is gone are reported as missing.
        """
        with self._locked():
            replay = self.journal.replay()
            seen = set(replay.records)
            current: dict[str, Any] = {}
            aside = None
            if self.meta_path.exists():
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    parsed = json.loads(self.meta_path.read_text(encoding="utf-8") or "null")
                    if isinstance(parsed, dict):
                        current = parsed
                aside = self.meta_path.with_name(f"{self.meta_path.name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
                shutil.copy2(self.meta_path, aside)
            records = dict(replay.records)
            kept_from_file = []
            for doc in (current.get("assets") or {}).values():
                c = doc.get("cid") if isinstance(doc, dict) else None
                if c and is_cid(c) and c not in seen and c not in records:
                    records[c] = doc
                    kept_from_file.append(c)
            ordered = sorted(records.values(), key=lambda r: (str(r.get("created", "")), r["cid"]))
            data: dict[str, Any] = {"assets": {str(i + 1): rec for i, rec in enumerate(ordered)}}
            if isinstance(current.get("remote"), dict):
                data["remote"] = current["remote"]
            payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
            write_bytes(self.meta_path, payload)
            self.journal.compact(ordered)
        blobs = {p.name for p in self.blobs.iterdir() if is_cid(p.name)}
        return RebuildReport(
            records=len(records),
            from_journal=len(replay.records),
            from_metadata=kept_from_file,
            bad_journal_lines=replay.bad_lines,
            missing=sorted(set(records) - blobs),
            orphans=sorted(blobs - set(records)),
            previous=str(aside) if aside else None,
        )

    # -- helpers -------------------------------------------------------------------------------
    def _record_changed(self, db: TinyDB, cid: str, *, deleted: bool = False) -> None:
        """Called inside the write transaction of every record change; a store with a remote overrides it
        to note the change as pending for the remote in the same atomic metadata write."""

    def _to_asset(self, rec: dict[str, Any], path: Path | None = None) -> Asset:
        asset = Asset.from_keyvalues(rec, cid=rec["cid"], path=path)
        for k in ("size", "created"):
            if k in rec:
                asset.extra.setdefault(k, rec[k])
        return asset

    def _normalize_filters(self, filters: dict[str, Any]) -> dict[str, list[Any]]:
        key = filters.get("asset")
        keys = key if isinstance(key, list) else [key] if key else None
        if keys:
            types_: dict[str, Any] = {}
            for k in keys:
                types_.update(asset_class(k).field_types())
        else:
            types_ = {}
            for k in asset_keys():
                types_.update(asset_class(k).field_types())
        out: dict[str, list[Any]] = {}
        for k, v in filters.items():
            if v is None:
                continue
            values = list(v) if isinstance(v, (list, tuple, set)) else [v]
            if k in ("cid", "asset", "filename"):
                out[k] = [str(x) for x in values]
            elif k in types_:
                tp = types_[k]
                item_tp = _item_type(tp)
                out[k] = [coerce(x, item_tp, k) for x in values]
            else:
                allowed = sorted(set(types_) | {"cid", "asset", "filename"})
                raise AssetError(
                    "unknown filter key" + (f" for asset {keys}" if keys else ""),
                    field=k,
                    hint=f"allowed: {', '.join(allowed)}",
                )
        return out

    @staticmethod
    def _check_cid(cid: str) -> None:
        if not is_cid(cid):
            raise AssetError(
                f"{cid!r} is not a CID (expected 'bafkrei' followed by 52 base32 characters)",
                field="cid",
            )


def _links(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, cid) lineage links of a record: `*_cid` strings and `*_cids` lists."""
    out = []
    for k, v in sorted(rec.items()):
        if k.endswith("_cid") and isinstance(v, str) and v:
            out.append((k, v))
        elif k.endswith("_cids") and isinstance(v, list):
            out.extend((k, x) for x in v if isinstance(x, str) and x)
    return out


def _item_type(tp: Any) -> Any:
    import types as _types
    import typing

    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return typing.get_args(tp)[0]
    if origin in (_types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _item_type(args[0]) if len(args) == 1 else tp
    return tp


def _matches(stored: Any, wanted: list[Any]) -> bool:
    if stored is None:
        return False
    if isinstance(stored, list):
        return any(s in wanted for s in stored)
    return stored in wanted


def _cid_query(cid: str) -> Any:
    from tinydb import Query

    return Query().cid == cid


def _companions_of(key: str | None) -> tuple[str, ...]:
    if key in asset_keys():
        return asset_class(key).companions
    return ()


def _check_regular_file(path: Path) -> None:
    if not path.exists():
        raise NotFoundError("file does not exist", file=path, hint="check the path")
    if path.is_dir():
        raise AssetError("is a directory, not a file", file=path, hint="give one file per asset")
    if not path.is_file():
        raise AssetError("is not a regular file (device, fifo or socket)", file=path)


#: Linux FICLONE ioctl: a copy-on-write clone (btrfs, XFS, …), as `cp --reflink=auto` makes.
_FICLONE = 0x40049409


def _clone_or_copy(src: Path, dest: Path) -> None:
    """A copy that shares no inode with `src`: a reflink when the file system has them, else bytes."""
    try:
        import fcntl

        with open(src, "rb") as s, open(dest, "wb") as d:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        return
    except (OSError, ImportError, AttributeError):
        pass
    shutil.copyfile(src, dest)


def _copy_atomic(src: Path, dest: Path) -> None:
    """A copy (a reflink where possible) written through `prsgazer.fileio`: a temp file renamed into place,
    the user's to edit."""
    out = Output(dest, durable=False)
    if out.target.real is not None and os.path.realpath(src) == str(out.target.real):
        out.discard()
        return
    try:
        _clone_or_copy(src, out.temp_path())  # the temp file's mode: 0o666 & ~umask (the blob's 0o444 is not copied)
    except BaseException:
        out.discard()
        raise
    out.commit()


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link a (read-only) blob to `dest`, or copy where links are impossible."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            if os.path.samefile(src, dest):
                return
        except OSError:
            pass
    tmp = dest.with_name(temp_name(dest.name))
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    publish(tmp, dest, durable=False)  # no mode: a hard link shares the read-only blob's
