"""Remote backends of the content-addressed store: one small interface, two implementations.

See docs/storage.md ("Remotes") and docs/cluster.md. Every remote has the same layout under its root:

    <root>/blobs/<cid>             the bytes, immutable, named by their CID
    <root>/records/<cid>.json      one JSON object per asset record (last writer wins per CID)

One file per record means writers in many pods never contend on a shared index. A remote only moves
bytes: the store that pulls a blob re-hashes it against its CID before accepting it (`storage/store.py`).

- `FsspecRemote`: any fsspec URL (`s3://bucket/prefix`, `file:///shared/dir`, `memory://x`, …).
- `HfRemote`: a HuggingFace Hub dataset repo through the `huggingface_hub` client, batching many files
  into one commit (per-file commits are slow and rate-limited on the Hub).
- `remote_from_url(url)`: `hf://datasets/<org>/<name>[@revision][/sub/dir]` gives an `HfRemote`,
  anything else an `FsspecRemote`.

Every backend failure surfaces as a `StorageError` (or `NotFoundError`) that names the remote URL and
what to check; no backend exception escapes this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prsgazer.cid import is_cid
from prsgazer.errors import NotFoundError, PrsgazerError, StorageError
from prsgazer.fileio import publish, temp_name

if TYPE_CHECKING:
    from prsgazer.config import Settings

#: Files per commit on the Hub (the Hub caps a commit at 25k LFS files and 1 GB of inline payload).
HF_COMMIT_MAX_FILES = 200
#: Bytes per commit on the Hub before a batch is split into a further commit.
HF_COMMIT_MAX_BYTES = 512 * 1024 * 1024
#: paths-info accepts at most 1000 paths per request; the client itself uses 500.
HF_PATHS_INFO_BATCH = 500
#: Seconds to wait for one small HTTP request (records, listings) to the Hub.
HF_TIMEOUT = 30.0
#: Threads fetching records in parallel during a sync.
FETCH_THREADS = 8


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """The canonical serialization of a record: identical records give identical bytes (no-op re-pushes)."""
    return json.dumps(dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class BadRecordError(StorageError):
    """A record file on a remote is not a valid record of its CID (the remote was reachable)."""


def parse_record(cid: str, data: bytes, where: str) -> dict[str, Any]:
    """Decode a record fetched from `where`; it must be a JSON object whose `cid` is the file's CID."""
    try:
        rec = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRecordError(
            f"{where}: record of {cid} is not valid JSON ({exc}); re-push it from a store that holds it"
        ) from exc
    if not isinstance(rec, dict) or rec.get("cid") != cid or not isinstance(rec.get("asset"), str):
        raise BadRecordError(
            f"{where}: record file of {cid} does not hold a record for that CID "
            "(expected a JSON object with matching 'cid' and an 'asset' key); re-push it"
        )
    return rec


@dataclass
class PushResult:
    """What one `Remote.push` moved (CIDs), and the remote version tag of every record written."""

    blobs_uploaded: list[str] = field(default_factory=list)
    blobs_present: list[str] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)


class Remote(ABC):
    """A shared place for blobs and records that many stores (pods) read and write.

    Blobs are immutable and keyed by CID, so writing one that is present is skipped. Records are whole
    JSON objects, one file per CID; a write replaces the file (last writer wins per CID). `list_records`
    returns a version tag per record that changes whenever its file changes, so a cache fetches only
    the records that changed since it last looked.
    """

    url: str

    def describe(self) -> str:
        """A one-line human description (what and where)."""
        return self.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- blobs ---------------------------------------------------------------------------------
    @abstractmethod
    def has_blob(self, cid: str) -> bool:
        """True when the remote holds bytes under `blobs/<cid>` (not re-hashed: the reader verifies)."""

    @abstractmethod
    def list_blobs(self) -> set[str]:
        """The CIDs of every blob on the remote."""

    @abstractmethod
    def get_blob(self, cid: str, dest: Path) -> None:
        """Download `blobs/<cid>` to `dest` atomically; NotFoundError when absent. The caller verifies."""

    @abstractmethod
    def delete_blob(self, cid: str) -> None:
        """Remove a blob (absent is fine)."""

    def put_blob(self, cid: str, path: Path) -> bool:
        """Upload `path` as `blobs/<cid>` unless present; True when it was uploaded."""
        return cid in self.push({cid: path}, []).blobs_uploaded

    # -- records -------------------------------------------------------------------------------
    @abstractmethod
    def list_records(self) -> dict[str, str]:
        """Every record on the remote: CID → version tag (changes whenever the record file changes)."""

    @abstractmethod
    def get_record(self, cid: str) -> dict[str, Any] | None:
        """The record of `cid`, or None when the remote has none."""

    @abstractmethod
    def delete_record(self, cid: str) -> None:
        """Remove a record (absent is fine)."""

    def put_record(self, record: Mapping[str, Any]) -> str:
        """Write one record (replacing any previous one); returns its new version tag."""
        return self.push({}, [record]).records[record["cid"]]

    def get_records(self, cids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Several records at once (fetched in parallel). CIDs without a record are left out, and so are
        malformed record files (logged as warnings: one bad file must not stop every query); any other
        failure (unreachable, 401, …) raises."""
        from concurrent.futures import ThreadPoolExecutor

        from loguru import logger

        def one(cid: str) -> dict[str, Any] | None:
            try:
                return self.get_record(cid)
            except BadRecordError as exc:
                logger.warning("skipping a malformed remote record: {}", exc)
                return None

        cids = list(cids)
        if len(cids) <= 1:
            found = [one(c) for c in cids]
        else:
            with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(cids))) as pool:
                found = list(pool.map(one, cids))
        return {c: r for c, r in zip(cids, found, strict=True) if r is not None}

    # -- batches -------------------------------------------------------------------------------
    def push(
        self, blobs: Mapping[str, Path], records: Sequence[Mapping[str, Any]], *, force: bool = False
    ) -> PushResult:
        """Upload blobs (skipping present ones unless `force`), then records: a reader never sees a
        record before its blob. Backends override this to batch (one commit on the Hub)."""
        result = PushResult()
        for cid, path in blobs.items():
            if not force and self.has_blob(cid):
                result.blobs_present.append(cid)
            else:
                self._write_blob(cid, Path(path))
                result.blobs_uploaded.append(cid)
        for rec in records:
            result.records[rec["cid"]] = self._write_record(rec)
        return result

    def delete(self, cids: Iterable[str]) -> None:
        """Remove records first, then blobs, so a reader never finds a record whose blob is gone."""
        cids = list(cids)
        for cid in cids:
            self.delete_record(cid)
        for cid in cids:
            self.delete_blob(cid)

    def _write_blob(self, cid: str, path: Path) -> None:
        raise NotImplementedError

    def _write_record(self, record: Mapping[str, Any]) -> str:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------
# fsspec
# ----------------------------------------------------------------------------------------------
#: Protocols whose first path segment is a bucket/container that must exist (never created by us).
_BUCKET_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "r2", "oss"})


def _url_to_fs(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """`fsspec.core.url_to_fs`, but with fsspec's own implementation for the protocol.

    Other libraries re-register protocols process-wide (importing Flyte's storage registers obstore's
    fsspec shim for s3://, gs://, abfs://, which takes different options); the store's remote must
    not change behaviour depending on what was imported before, so the class comes from fsspec's
    static table of known implementations.
    """
    import importlib

    import fsspec
    from fsspec.registry import known_implementations

    protocol = url.split("://", 1)[0] if "://" in url else "file"
    spec = known_implementations.get(protocol)
    if spec is None or protocol in ("file", "local", "memory"):
        return fsspec.core.url_to_fs(url, skip_instance_cache=True, **options)
    module, _, name = spec["class"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ImportError(spec.get("err") or str(exc)) from exc
    # skip_instance_cache: a cached instance would keep a previous endpoint or credentials.
    fs = cls(skip_instance_cache=True, **{**cls._get_kwargs_from_urls(url), **options})
    return fs, cls._strip_protocol(url)


class FsspecRemote(Remote):
    """A remote on any fsspec file system: `s3://bucket/prefix`, `file:///shared/dir`, `memory://x`.

    Storage options (endpoint, credentials, retries) come from `storage_options`; for S3 the usual
    AWS environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, …)
    applies as well, through botocore. Object stores write each object atomically; on a local or shared
    POSIX file system, files are written to `<root>/tmp/` and renamed into place.
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:

        self.url = url.rstrip("/") or url
        self.storage_options = dict(storage_options or {})
        try:
            # skip_instance_cache: a cached instance would keep a previous endpoint or credentials.
            fs, root = _url_to_fs(url, self.storage_options)
        except ImportError as exc:
            raise StorageError(
                f"remote {url}: the fsspec backend for this URL is not installed ({exc}); "
                "install it (e.g. `uv add gcsfs`) or use s3://, file:// or hf://datasets/…"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise StorageError(
                f"remote {url}: not a usable fsspec URL or storage options ({exc}); "
                "check PRSGAZER_REMOTE and PRSGAZER_REMOTE_OPTIONS"
            ) from exc
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        self.protocol = str(protocols[0])
        self._local = self.protocol in ("file", "local")
        self._dirs_made = False

    def describe(self) -> str:
        return f"fsspec remote {self.url} ({type(self.fs).__name__})"

    # -- paths and errors ----------------------------------------------------------------------
    def _blob(self, cid: str) -> str:
        return f"{self.root}/blobs/{cid}"

    def _rec(self, cid: str) -> str:
        return f"{self.root}/records/{cid}.json"

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except PrsgazerError:
            raise
        except PermissionError as exc:
            raise StorageError(
                f"remote {self.url}: access denied while {action} ({exc}); check the credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE, or key/secret in PRSGAZER_REMOTE_OPTIONS) "
                "and that they may read and write this bucket/prefix"
            ) from exc
        except Exception as exc:  # every backend failure becomes one clear StorageError
            raise StorageError(
                f"remote {self.url}: {action} failed: {type(exc).__name__}: {exc} "
                "(check that the remote is reachable: endpoint_url / AWS_ENDPOINT_URL, network, credentials)"
            ) from exc

    def _missing_root(self, exc: FileNotFoundError) -> None:
        """A listing found nothing: fine for an empty prefix, an error when the bucket itself is missing."""
        if self.protocol in _BUCKET_PROTOCOLS:
            bucket = self.root.split("/", 1)[0]
            if bucket and not self.fs.exists(bucket):
                raise StorageError(
                    f"remote {self.url}: bucket {bucket!r} does not exist or is not visible with these credentials "
                    "(create it, or fix PRSGAZER_REMOTE / the endpoint and credentials)"
                ) from exc

    def _ls(self, sub: str) -> list[dict[str, Any]]:
        path = f"{self.root}/{sub}"
        self.fs.invalidate_cache(path)  # listings are cached by some backends (s3fs): always ask afresh
        try:
            return [e for e in self.fs.ls(path, detail=True) if e.get("type", "file") == "file"]
        except FileNotFoundError as exc:
            self._missing_root(exc)
            return []

    @staticmethod
    def _tag(info: Mapping[str, Any]) -> str:
        etag = info.get("ETag") or info.get("etag")
        if etag:
            return str(etag).strip('"')
        stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
        # The inode changes on every atomic replace, guarding against coarse mtime clocks on shared disks.
        return f"{stamp}:{info.get('size')}:{info.get('ino', '')}"

    def _make_dirs(self) -> None:
        if self._local and not self._dirs_made:
            for sub in ("blobs", "records", "tmp"):
                self.fs.makedirs(f"{self.root}/{sub}", exist_ok=True)
            self._dirs_made = True

    def _atomic_put(self, local_path: str | None, data: bytes | None, target: str) -> None:
        self._make_dirs()
        if not self._local:
            if local_path is not None:
                self.fs.put_file(local_path, target)
            else:
                self.fs.pipe_file(target, data)
            return
        # Shared POSIX directory: write beside, then rename, so no reader ever sees half a file.
        tmp = f"{self.root}/tmp/{os.getpid()}-{uuid.uuid4().hex}.part"
        try:
            if local_path is not None:
                self.fs.put_file(local_path, tmp)
            else:
                self.fs.pipe_file(tmp, data)
            publish(tmp, target)  # fsync, rename, fsync the directory
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- interface -----------------------------------------------------------------------------
    def has_blob(self, cid: str) -> bool:
        with self._errors(f"checking blob {cid}"):
            self.fs.invalidate_cache(self._blob(cid))
            return bool(self.fs.exists(self._blob(cid)))

    def list_blobs(self) -> set[str]:
        with self._errors("listing blobs"):
            names = (e["name"].rstrip("/").rsplit("/", 1)[-1] for e in self._ls("blobs"))
            return {n for n in names if is_cid(n)}

    def get_blob(self, cid: str, dest: Path) -> None:
        dest = Path(dest)
        part = dest.with_name(temp_name(dest.name))
        try:
            with self._errors(f"downloading blob {cid}"):
                try:
                    self.fs.get_file(self._blob(cid), str(part))
                except FileNotFoundError as exc:
                    raise NotFoundError(
                        f"remote {self.url} has no blob {cid} (push it from a store that holds it)", field="cid"
                    ) from exc
            publish(part, dest, durable=False)  # the caller hashes it, then publishes it durably
        finally:
            with contextlib.suppress(OSError):
                part.unlink()

    def delete_blob(self, cid: str) -> None:
        with self._errors(f"deleting blob {cid}"), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._blob(cid))

    def list_records(self) -> dict[str, str]:
        with self._errors("listing records"):
            out: dict[str, str] = {}
            for e in self._ls("records"):
                name = e["name"].rstrip("/").rsplit("/", 1)[-1]
                if name.endswith(".json") and is_cid(name[:-5]):
                    out[name[:-5]] = self._tag(e)
            return out

    def get_record(self, cid: str) -> dict[str, Any] | None:
        with self._errors(f"reading record {cid}"):
            try:
                data = self.fs.cat_file(self._rec(cid))
            except FileNotFoundError:
                return None
        return parse_record(cid, data, f"remote {self.url}")

    def delete_record(self, cid: str) -> None:
        with self._errors(f"deleting record {cid}"), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._rec(cid))

    def push(
        self, blobs: Mapping[str, Path], records: Sequence[Mapping[str, Any]], *, force: bool = False
    ) -> PushResult:
        with self._errors(f"pushing {len(blobs)} blob(s) and {len(records)} record(s)"):
            return super().push(blobs, records, force=force)

    def _write_blob(self, cid: str, path: Path) -> None:
        self._atomic_put(str(path), None, self._blob(cid))

    def _write_record(self, record: Mapping[str, Any]) -> str:
        target = self._rec(record["cid"])
        self._atomic_put(None, record_bytes(record), target)
        self.fs.invalidate_cache(target)
        return self._tag(self.fs.info(target))


# ----------------------------------------------------------------------------------------------
# HuggingFace Hub
# ----------------------------------------------------------------------------------------------
class HfRemote(Remote):
    """A HuggingFace Hub dataset repo (created private on first write) through `huggingface_hub.HfApi`.

    Writes are batched: one `create_commit` carries many blobs and records (blobs ordered before the
    records that describe them, so even a batch split over several commits never publishes a record
    before its blob). Blobs present on the Hub are skipped (one `paths-info` request per 500 paths).
    Reads: `list_repo_tree` for listings (the git blob id is the record's version tag), plain GETs of
    `resolve/` URLs for records, `hf_hub_download` into a private temp dir for blobs (it speaks Xet or
    LFS redirects when the Hub stores large files that way).
    """

    def __init__(
        self,
        repo_id: str,
        *,
        prefix: str = "",
        revision: str | None = None,
        endpoint: str | None = None,
        token: str | None = None,
        private: bool = True,
    ) -> None:
        from huggingface_hub import HfApi

        self.repo_id = repo_id
        self.prefix = prefix.strip("/")
        self.revision = revision or "main"
        self.endpoint = (endpoint or "https://huggingface.co").rstrip("/")
        self.token = token
        self.private = private
        self.api = HfApi(endpoint=self.endpoint, token=token)
        rev = f"@{revision}" if revision else ""
        sub = f"/{self.prefix}" if self.prefix else ""
        self.url = f"hf://datasets/{repo_id}{rev}{sub}"
        self._repo_ready = False

    def describe(self) -> str:
        return f"HuggingFace Hub dataset repo {self.repo_id} at {self.endpoint} (revision {self.revision})"

    # -- paths and errors ----------------------------------------------------------------------
    def _path(self, sub: str) -> str:
        return f"{self.prefix}/{sub}" if self.prefix else sub

    def _blob(self, cid: str) -> str:
        return self._path(f"blobs/{cid}")

    def _rec(self, cid: str) -> str:
        return self._path(f"records/{cid}.json")

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        import httpx2
        from huggingface_hub.errors import (
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        where = f"remote {self.url} ({self.endpoint})"
        token_hint = "PRSGAZER_HF_TOKEN (or HF_TOKEN)"
        try:
            yield
        except PrsgazerError:
            raise
        except RepositoryNotFoundError as exc:
            raise StorageError(
                f"{where}: dataset repo {self.repo_id!r} not found or not readable while {action}; check the repo "
                f"id, that {token_hint} is set to a token that can read it, and PRSGAZER_HF_ENDPOINT "
                "(the repo is created on the first push)"
            ) from exc
        except RevisionNotFoundError as exc:
            raise StorageError(f"{where}: revision {self.revision!r} not found while {action}") from exc
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 401:
                raise StorageError(
                    f"{where}: 401 Unauthorized while {action}: the token was rejected; set {token_hint} to a "
                    "valid token (write access to push)"
                ) from exc
            if status == 403:
                raise StorageError(
                    f"{where}: 403 Forbidden while {action}: the token may not do this; give it write access "
                    f"to {self.repo_id} (or its organization) via {token_hint}"
                ) from exc
            raise StorageError(f"{where}: HTTP {status} while {action}: {_first_line(exc)}") from exc
        except (httpx2.TransportError, LocalEntryNotFoundError) as exc:
            raise StorageError(
                f"{where}: cannot reach the Hub while {action} ({type(exc).__name__}: {_first_line(exc)}); "
                "check PRSGAZER_HF_ENDPOINT, the network and proxy settings"
            ) from exc
        except Exception as exc:  # every backend failure becomes one clear StorageError
            raise StorageError(f"{where}: {action} failed: {type(exc).__name__}: {_first_line(exc)}") from exc

    def _ensure_repo(self) -> None:
        if not self._repo_ready:
            self.api.create_repo(self.repo_id, repo_type="dataset", private=self.private, exist_ok=True)
            self._repo_ready = True

    def _tree(self, sub: str) -> list[Any]:
        from huggingface_hub import RepoFile
        from huggingface_hub.errors import RemoteEntryNotFoundError

        try:
            entries = list(
                self.api.list_repo_tree(
                    self.repo_id, self._path(sub), repo_type="dataset", revision=self.revision, recursive=False
                )
            )
        except RemoteEntryNotFoundError:
            return []  # the folder does not exist yet: nothing was pushed
        return [e for e in entries if isinstance(e, RepoFile)]

    def _existing(self, paths: Sequence[str]) -> dict[str, str]:
        """path → git blob id, for the given paths that exist in the repo."""
        from huggingface_hub import RepoFile

        found: dict[str, str] = {}
        for i in range(0, len(paths), HF_PATHS_INFO_BATCH):
            chunk = list(paths[i : i + HF_PATHS_INFO_BATCH])
            for e in self.api.get_paths_info(self.repo_id, chunk, repo_type="dataset", revision=self.revision):
                if isinstance(e, RepoFile):
                    found[e.path] = e.blob_id
        return found

    def _get(self, path: str) -> bytes | None:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.errors import RemoteEntryNotFoundError
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        url = hf_hub_url(self.repo_id, path, repo_type="dataset", revision=self.revision, endpoint=self.endpoint)
        response = get_session().get(url, headers=build_hf_headers(token=self.token), timeout=HF_TIMEOUT)
        try:
            hf_raise_for_status(response)
        except RemoteEntryNotFoundError:
            return None
        return response.content

    # -- interface -----------------------------------------------------------------------------
    def has_blob(self, cid: str) -> bool:
        with self._errors(f"checking blob {cid}"):
            return self._blob(cid) in self._existing([self._blob(cid)])

    def list_blobs(self) -> set[str]:
        with self._errors("listing blobs"):
            names = (e.path.rsplit("/", 1)[-1] for e in self._tree("blobs"))
            return {n for n in names if is_cid(n)}

    def get_blob(self, cid: str, dest: Path) -> None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import RemoteEntryNotFoundError

        dest = Path(dest)
        # A private, throw-away download dir beside dest: nothing lands in the user's HF cache, and the
        # final rename stays on one file system.
        # Named `<pid>-….hfdl` so a store can sweep the ones of dead processes.
        work = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", suffix=".hfdl", dir=dest.parent))
        try:
            with self._errors(f"downloading blob {cid}"):
                try:
                    got = hf_hub_download(
                        self.repo_id,
                        self._blob(cid),
                        repo_type="dataset",
                        revision=self.revision,
                        endpoint=self.endpoint,
                        token=self.token,
                        local_dir=work,
                    )
                except RemoteEntryNotFoundError as exc:
                    raise NotFoundError(
                        f"remote {self.url} has no blob {cid} (push it from a store that holds it)", field="cid"
                    ) from exc
            publish(got, dest, durable=False)  # the caller hashes it, then publishes it durably
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def delete_blob(self, cid: str) -> None:
        self.delete_paths([self._blob(cid)], f"delete blob {cid}")

    def list_records(self) -> dict[str, str]:
        with self._errors("listing records"):
            out: dict[str, str] = {}
            for e in self._tree("records"):
                name = e.path.rsplit("/", 1)[-1]
                if name.endswith(".json") and is_cid(name[:-5]):
                    out[name[:-5]] = e.blob_id
            return out

    def get_record(self, cid: str) -> dict[str, Any] | None:
        with self._errors(f"reading record {cid}"):
            data = self._get(self._rec(cid))
        return None if data is None else parse_record(cid, data, f"remote {self.url}")

    def delete_record(self, cid: str) -> None:
        self.delete_paths([self._rec(cid)], f"delete record {cid}")

    def push(
        self, blobs: Mapping[str, Path], records: Sequence[Mapping[str, Any]], *, force: bool = False
    ) -> PushResult:
        from huggingface_hub import CommitOperationAdd
        from huggingface_hub.utils.sha import git_hash

        result = PushResult()
        if not blobs and not records:
            return result
        payloads: dict[str, bytes] = {}
        for rec in records:
            payloads[rec["cid"]] = record_bytes(rec)  # last one wins if a CID is given twice
        with self._errors(f"pushing {len(blobs)} blob(s) and {len(records)} record(s)"):
            self._ensure_repo()
            # One paths-info round trip tells which blobs are there and which records are unchanged.
            asked = ([] if force else [self._blob(c) for c in blobs]) + [self._rec(c) for c in payloads]
            present = self._existing(asked)
            # Blobs first, then records, so a record never precedes its blob (even over several commits).
            ops: list[_Op] = []
            for cid, path in blobs.items():
                if self._blob(cid) in present:
                    result.blobs_present.append(cid)
                else:
                    ops.append(_Op(self._blob(cid), str(path), Path(path).stat().st_size, is_record=False))
                    result.blobs_uploaded.append(cid)
            for cid, data in payloads.items():
                oid = git_hash(data)  # the Hub's blob id of a regular file
                result.records[cid] = oid
                if present.get(self._rec(cid)) != oid:
                    ops.append(_Op(self._rec(cid), data, len(data), is_record=True))
            for batch in _batches(ops):
                n_records = sum(op.is_record for op in batch)
                self.api.create_commit(
                    self.repo_id,
                    [CommitOperationAdd(path_in_repo=op.path, path_or_fileobj=op.source) for op in batch],
                    commit_message=f"prsgazer: push {len(batch) - n_records} blob(s), {n_records} record(s)",
                    repo_type="dataset",
                    revision=self.revision,
                )
        return result

    def delete(self, cids: Iterable[str]) -> None:
        cids = list(cids)
        # One commit: records and blobs disappear together.
        self.delete_paths([self._rec(c) for c in cids] + [self._blob(c) for c in cids], f"delete {len(cids)} asset(s)")

    def delete_paths(self, paths: Sequence[str], action: str) -> None:
        """Delete the given repo paths that exist, in one commit (deleting an absent file is a Hub error)."""
        from huggingface_hub import CommitOperationDelete

        with self._errors(action):
            existing = self._existing(list(paths))
            todo = [p for p in paths if p in existing]
            if todo:
                self.api.create_commit(
                    self.repo_id,
                    [CommitOperationDelete(path_in_repo=p) for p in todo],
                    commit_message=f"prsgazer: {action}",
                    repo_type="dataset",
                    revision=self.revision,
                )


@dataclass(frozen=True)
class _Op:
    path: str
    source: str | bytes
    size: int
    is_record: bool


def _batches(ops: list[_Op]) -> Iterator[list[_Op]]:
    """Split commit operations into commits of at most HF_COMMIT_MAX_FILES files / HF_COMMIT_MAX_BYTES."""
    batch: list[_Op] = []
    size = 0
    for op in ops:
        if batch and (len(batch) >= HF_COMMIT_MAX_FILES or size + op.size > HF_COMMIT_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(op)
        size += op.size
    if batch:
        yield batch


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())[:400] or type(exc).__name__


# ----------------------------------------------------------------------------------------------
# factory
# ----------------------------------------------------------------------------------------------
def parse_hf_url(url: str) -> tuple[str, str | None, str]:
    """`hf://datasets/<org>/<name>[@revision][/sub/dir]` → (repo_id, revision, prefix)."""
    rest = url[len("hf://") :]
    if not rest.startswith("datasets/"):
        raise StorageError(
            f"remote {url}: only HuggingFace dataset repos are supported; write hf://datasets/<org>/<name>"
        )
    parts = [p for p in rest[len("datasets/") :].split("/") if p]
    if len(parts) < 2:
        raise StorageError(f"remote {url}: expected hf://datasets/<org>/<name>, e.g. hf://datasets/my-lab/prs-store")
    org, name = parts[0], parts[1]
    revision = None
    if "@" in name:
        name, revision = name.split("@", 1)
        revision = revision or None
    prefix = "/".join(parts[2:])
    return f"{org}/{name}", revision, prefix


def remote_from_url(
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    hf_token: str | None = None,
    hf_endpoint: str | None = None,
) -> Remote:
    """The remote for a URL: `hf://datasets/…` → `HfRemote`; anything fsspec understands → `FsspecRemote`."""
    url = url.strip()
    if not url:
        raise StorageError("no remote URL given (set PRSGAZER_REMOTE, e.g. s3://bucket/prsgazer)")
    if url.startswith("hf://"):
        repo_id, revision, prefix = parse_hf_url(url)
        return HfRemote(repo_id, prefix=prefix, revision=revision, endpoint=hf_endpoint, token=hf_token)
    return FsspecRemote(url, storage_options)


def remote_from_settings(settings: Settings) -> Remote | None:
    """The remote configured by `PRSGAZER_REMOTE` (None when empty)."""
    if not settings.remote.strip():
        return None
    token = settings.hf_token.get_secret_value() if settings.hf_token is not None else None
    return remote_from_url(
        settings.remote,
        storage_options=settings.remote_options,
        hf_token=token or None,
        hf_endpoint=settings.hf_endpoint,
    )
