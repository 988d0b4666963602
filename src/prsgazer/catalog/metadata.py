"""Bulk catalog metadata: download, clean, store as parquet assets, load offline, publish/pull via HF.

See docs/catalog.md ("Bulk metadata"). Each cleaned sheet is one `CatalogMetadata` asset (zstd parquet)
carrying `sheet`, `n_rows`, `catalog_release` (from `/rest/info`) and `source`; `best_performance` is
derived from the performance and evaluation-sample-set sheets. `load_metadata()` needs no network.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from pydantic import BaseModel

from prsgazer.assets import CatalogMetadata
from prsgazer.catalog.clean import (
    SCHEMA_VERSION,
    SHEETS,
    best_performance,
    clean_sheet,
)
from prsgazer.catalog.client import CatalogClient
from prsgazer.config import get_settings
from prsgazer.errors import CatalogError, DownloadError, InputError, NotFoundError
from prsgazer.fileio import copy_file, output_path, write_text
from prsgazer.logs import logger
from prsgazer.storage import LocalStore, cid_of_file, default_store


class SheetInfo(BaseModel):
    sheet: str
    cid: str
    n_rows: int


class PullResult(BaseModel):
    """What a pull or refresh did."""

    release: str
    source: str
    skipped: bool = False
    reason: str = ""
    sheets: list[SheetInfo] = []


@dataclass
class CatalogTables:
    """The cleaned metadata of one release, as polars frames (absent sheets are None)."""

    release: str
    scores: pl.DataFrame
    performance_metrics: pl.DataFrame | None = None
    evaluation_sample_sets: pl.DataFrame | None = None
    score_development_samples: pl.DataFrame | None = None
    publications: pl.DataFrame | None = None
    efo_traits: pl.DataFrame | None = None
    best_performance: pl.DataFrame | None = None
    cids: dict[str, str] = field(default_factory=dict)
    #: search documents, built on first search (see catalog.search)
    _docs: list[dict[str, Any]] | None = field(default=None, repr=False)


# -- downloading and storing -----------------------------------------------------------------------
def _read_raw(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=True)


def _csv_verifier(sheet: str):
    def verify(path: Path) -> None:
        try:
            raw = _read_raw(path)
        except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
            raise DownloadError(f"not a readable CSV ({exc})", retryable=True) from None
        try:
            clean_sheet(sheet, raw.head(0), source=path.name)
        except InputError as exc:
            raise DownloadError(str(exc)) from None

    return verify


def _write_parquet(df: pl.DataFrame, path: Path, **meta: str) -> Path:
    # The file names its sheet and release: identical tables of two releases stay two assets.
    with output_path(path, durable=False) as tmp:
        df.write_parquet(tmp, compression="zstd", metadata={f"prsgazer.{k}": str(v) for k, v in meta.items()})
    return path


def _store_sheet(
    store: LocalStore, df: pl.DataFrame, sheet: str, release: str, source: str, workdir: Path
) -> SheetInfo:
    path = _write_parquet(
        df,
        workdir / f"pgs_all_metadata_{sheet}.parquet",
        sheet=sheet,
        catalog_release=release,
        source=source,
        schema_version=str(SCHEMA_VERSION),
    )
    asset = store.upload(
        CatalogMetadata(
            path=path,
            filename=f"pgs_catalog_{release}_{sheet}.parquet",
            sheet=sheet,
            n_rows=df.height,
            catalog_release=release,
            source=source,
            schema_version=SCHEMA_VERSION,
        )
    )
    return SheetInfo(sheet=sheet, cid=asset.cid, n_rows=df.height)


def _clean_and_store(
    store: LocalStore, raw_paths: dict[str, tuple[Path, str]], release: str, workdir: Path
) -> list[SheetInfo]:
    cleaned: dict[str, pl.DataFrame] = {}
    out: list[SheetInfo] = []
    for sheet, (path, source) in raw_paths.items():
        cleaned[sheet] = clean_sheet(sheet, _read_raw(path), source=source)
        out.append(_store_sheet(store, cleaned[sheet], sheet, release, source, workdir))
    if "performance_metrics" in cleaned and "evaluation_sample_sets" in cleaned:
        best = best_performance(cleaned["performance_metrics"], cleaned["evaluation_sample_sets"])
        out.append(_store_sheet(store, best, "best_performance", release, "derived", workdir))
    return out


async def _remote_release(client: CatalogClient) -> str:
    try:
        return (await client.info(use_cache=False)).release_date
    except CatalogError as exc:
        logger.warning("could not read the catalog's release date ({}); recording it as 'unknown'", exc)
        return "unknown"


async def download_metadata(
    *,
    client: CatalogClient | None = None,
    store: LocalStore | None = None,
    sheets: tuple[str, ...] = SHEETS,
    release: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> PullResult:
    """Download the metadata sheets from the catalog's file server, clean and store them.

    `progress("metadata sheets", done, total)` is called as each sheet arrives."""
    unknown = [s for s in sheets if s not in SHEETS]
    if unknown:
        raise InputError(f"unknown sheet(s) {', '.join(unknown)}", field="sheet", hint=f"one of {', '.join(SHEETS)}")
    store = store or default_store()
    owned = client is None
    client = client or CatalogClient()
    await client.open()
    workdir = Path(tempfile.mkdtemp(prefix="metadata-", dir=_workroot()))
    try:
        rel = release or await _remote_release(client)
        paths: dict[str, tuple[Path, str]] = {}

        async def one(sheet: str) -> None:
            url = client.metadata_url(sheet)
            dest = workdir / f"{sheet}.csv"
            await client.fetch_file(url, dest, verify=_csv_verifier(sheet))
            paths[sheet] = (dest, url)
            if progress is not None:
                progress("metadata sheets", len(paths), len(sheets))

        await asyncio.gather(*(one(s) for s in sheets))
        ordered = {s: paths[s] for s in sheets}
        infos = await asyncio.to_thread(_clean_and_store, store, ordered, rel, workdir)
        return PullResult(release=rel, source=client.ftp_url + "metadata/", sheets=infos)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if owned:
            await client.close()


async def pull_metadata(
    *,
    client: CatalogClient | None = None,
    store: LocalStore | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> PullResult:
    """Make sure metadata is stored locally: offline no-op when some is already present (unless `force`)."""
    store = store or default_store()
    if not force:
        local = local_release(store)
        if local is not None:
            return PullResult(
                release=local,
                source="local",
                skipped=True,
                reason="metadata already stored (use --force or refresh)",
            )
    return await download_metadata(client=client, store=store, progress=progress)


async def refresh_metadata(
    *, client: CatalogClient | None = None, store: LocalStore | None = None, force: bool = False
) -> PullResult:
    """Ask the catalog for its current release; download when it differs from the local one."""
    store = store or default_store()
    owned = client is None
    client = client or CatalogClient()
    await client.open()
    try:
        try:
            remote = (await client.info(use_cache=False)).release_date
        except CatalogError as exc:
            raise CatalogError(
                f"cannot read the catalog's current release ({exc.reason})",
                url=exc.url,
                hint="try again later; `prsgazer catalog metadata pull --force` downloads regardless",
            ) from None
        local = local_release(store)
        if not force and remote != "unknown" and remote == local:
            return PullResult(release=local, source="local", skipped=True, reason=f"release {local} is current")
        return await download_metadata(client=client, store=store, release=remote)
    finally:
        if owned:
            await client.close()


# -- reading ---------------------------------------------------------------------------------------
def _records(store: LocalStore) -> list[CatalogMetadata]:
    found = store.query(asset="catalog_metadata")
    return [a for a in found if isinstance(a, CatalogMetadata) and a.schema_version == SCHEMA_VERSION]


def _release_key(release: str) -> tuple[int, str]:
    return (0, "") if release in ("", "unknown") else (1, release)


def local_release(store: LocalStore | None = None) -> str | None:
    """The newest release whose `scores` sheet is stored, or None."""
    recs = [r for r in _records(store or default_store()) if r.sheet == "scores"]
    if not recs:
        return None
    return max(recs, key=lambda r: (_release_key(r.catalog_release), str(r.extra.get("created", "")))).catalog_release


def metadata_status(store: LocalStore | None = None) -> dict[str, Any]:
    """Stored metadata: the current release and, per sheet, its CID, rows and when it was stored."""
    store = store or default_store()
    release = local_release(store)
    sheets: dict[str, dict[str, Any]] = {}
    for r in _records(store):
        if r.catalog_release == release:
            prev = sheets.get(r.sheet)
            if prev is None or str(r.extra.get("created", "")) >= prev["created"]:
                sheets[r.sheet] = {
                    "cid": r.cid,
                    "n_rows": r.n_rows,
                    "created": str(r.extra.get("created", "")),
                }
    return {"release": release, "sheets": sheets}


def load_metadata(store: LocalStore | None = None, *, release: str | None = None) -> CatalogTables:
    """The cleaned sheets of the newest (or the given) stored release; no network needed."""
    store = store or default_store()
    release = release or local_release(store)
    if release is None:
        raise NotFoundError(
            "no PGS Catalog metadata is stored",
            hint="download it once while online (MCP: search_scores does it on first use; shell: "
            "`prsgazer catalog metadata pull`, or `pull --hf` from a mirror)",
        )
    latest: dict[str, CatalogMetadata] = {}
    for r in _records(store):
        if r.catalog_release != release:
            continue
        prev = latest.get(r.sheet)
        if prev is None or str(r.extra.get("created", "")) >= str(prev.extra.get("created", "")):
            latest[r.sheet] = r
    if "scores" not in latest:
        raise NotFoundError(f"release {release} has no stored scores sheet", field="release")
    frames = {sheet: pl.read_parquet(store.get(rec.cid).path) for sheet, rec in latest.items()}  # type: ignore[arg-type]
    return CatalogTables(
        release=release,
        scores=frames["scores"],
        performance_metrics=frames.get("performance_metrics"),
        evaluation_sample_sets=frames.get("evaluation_sample_sets"),
        score_development_samples=frames.get("score_development_samples"),
        publications=frames.get("publications"),
        efo_traits=frames.get("efo_traits"),
        best_performance=frames.get("best_performance"),
        cids={s: r.cid for s, r in latest.items()},
    )


# -- HuggingFace dataset mirror --------------------------------------------------------------------
class Hub(Protocol):
    """The three huggingface_hub calls used (an injectable seam for tests and other mirrors)."""

    def create_repo(self, repo_id: str, *, repo_type: str, exist_ok: bool, token: str | None) -> Any: ...

    def upload_folder(
        self, *, repo_id: str, folder_path: Path, repo_type: str, commit_message: str, token: str | None
    ) -> Any: ...

    def download(
        self, repo_id: str, *, repo_type: str, allow_patterns: list[str], local_dir: Path, token: str | None
    ) -> Path: ...


class HfHub:
    """`Hub` over huggingface_hub."""

    def create_repo(self, repo_id: str, *, repo_type: str, exist_ok: bool, token: str | None) -> Any:
        from huggingface_hub import HfApi

        return HfApi().create_repo(repo_id, repo_type=repo_type, exist_ok=exist_ok, token=token)

    def upload_folder(
        self, *, repo_id: str, folder_path: Path, repo_type: str, commit_message: str, token: str | None
    ) -> Any:
        from huggingface_hub import HfApi

        return HfApi().upload_folder(
            repo_id=repo_id,
            folder_path=folder_path,
            repo_type=repo_type,
            commit_message=commit_message,
            token=token,
        )

    def download(
        self, repo_id: str, *, repo_type: str, allow_patterns: list[str], local_dir: Path, token: str | None
    ) -> Path:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id, repo_type=repo_type, allow_patterns=allow_patterns, local_dir=local_dir, token=token
            )
        )


def _hf_settings(repo_id: str | None, token: str | None) -> tuple[str, str | None]:
    s = get_settings()
    repo = repo_id or s.catalog_hf_repo
    if not repo:
        raise InputError(
            "no HuggingFace dataset repo given",
            field="repo",
            hint="pass --repo owner/name or set PRSGAZER_CATALOG_HF_REPO",
        )
    tok = token or (s.catalog_hf_token.get_secret_value() if s.catalog_hf_token else None)
    return repo, tok


def publish_metadata(
    repo_id: str | None = None,
    *,
    token: str | None = None,
    store: LocalStore | None = None,
    hub: Hub | None = None,
) -> dict[str, Any]:
    """Upload the stored release to a HF dataset repo as `releases/<release>/<sheet>.parquet`.

    A `manifest.json` beside the sheets lists each sheet's CID, so a pull can verify every byte, and
    `latest.json` at the root names the release.
    """
    repo, tok = _hf_settings(repo_id, token)
    store = store or default_store()
    hub = hub or HfHub()
    status = metadata_status(store)
    release = status["release"]
    if release is None:
        raise NotFoundError("no metadata to publish", hint="run `prsgazer catalog metadata pull` first")
    with tempfile.TemporaryDirectory(dir=_workroot()) as tmp:
        root = Path(tmp)
        folder = root / "releases" / release
        folder.mkdir(parents=True)
        manifest = {"release": release, "schema_version": SCHEMA_VERSION, "sheets": {}}
        for sheet, info in sorted(status["sheets"].items()):
            copy_file(store.get(info["cid"]).path, folder / f"{sheet}.parquet", durable=False)  # type: ignore[arg-type]
            manifest["sheets"][sheet] = {"cid": info["cid"], "n_rows": info["n_rows"]}
        write_text(folder / "manifest.json", json.dumps(manifest, indent=2), durable=False)
        write_text(root / "latest.json", json.dumps({"release": release}), durable=False)
        hub.create_repo(repo, repo_type="dataset", exist_ok=True, token=tok)
        hub.upload_folder(
            repo_id=repo,
            folder_path=root,
            repo_type="dataset",
            commit_message=f"PGS Catalog metadata, release {release} (prsgazer schema {SCHEMA_VERSION})",
            token=tok,
        )
    return {"repo": repo, "release": release, "sheets": manifest["sheets"]}


def pull_metadata_from_hf(
    repo_id: str | None = None,
    *,
    release: str | None = None,
    token: str | None = None,
    store: LocalStore | None = None,
    hub: Hub | None = None,
    force: bool = False,
) -> PullResult:
    """Fetch a published release from a HF dataset repo; every sheet is checked against its CID.

    Without `release` and `force` this is a no-op when metadata is already stored (like `pull`).
    """
    repo, tok = _hf_settings(repo_id, token)
    store = store or default_store()
    if not force and release is None:
        stored = local_release(store)
        if stored is not None:
            return PullResult(release=stored, source="local", skipped=True, reason="metadata already stored")
    hub = hub or HfHub()
    with tempfile.TemporaryDirectory(dir=_workroot()) as tmp:
        local = Path(tmp)
        if release is None:
            hub.download(repo, repo_type="dataset", allow_patterns=["latest.json"], local_dir=local, token=tok)
            try:
                release = json.loads((local / "latest.json").read_text())["release"]
            except (OSError, ValueError, KeyError) as exc:
                raise CatalogError(f"hf://datasets/{repo} has no readable latest.json ({exc})") from None
        hub.download(repo, repo_type="dataset", allow_patterns=[f"releases/{release}/*"], local_dir=local, token=tok)
        folder = local / "releases" / str(release)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise NotFoundError(f"hf://datasets/{repo} has no release {release} ({exc})", field="release") from None
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise CatalogError(
                f"hf://datasets/{repo} release {release} has schema {manifest.get('schema_version')}, "
                f"this prsgazer reads {SCHEMA_VERSION}",
                hint="publish it again with this version, or pull from the catalog",
            )
        infos = []
        for sheet, entry in manifest["sheets"].items():
            path = folder / f"{sheet}.parquet"
            if not path.exists() or cid_of_file(path) != entry["cid"]:
                raise CatalogError(
                    f"hf://datasets/{repo}: {sheet}.parquet is missing or does not match its CID {entry['cid']}",
                    hint="nothing was stored; publish the release again",
                )
        for sheet, entry in manifest["sheets"].items():
            asset = store.upload(
                CatalogMetadata(
                    path=folder / f"{sheet}.parquet",
                    filename=f"pgs_catalog_{release}_{sheet}.parquet",
                    sheet=sheet,
                    n_rows=int(entry["n_rows"]),
                    catalog_release=str(release),
                    source=f"hf://datasets/{repo}",
                    schema_version=SCHEMA_VERSION,
                )
            )
            infos.append(SheetInfo(sheet=sheet, cid=asset.cid, n_rows=int(entry["n_rows"])))
    return PullResult(release=str(release), source=f"hf://datasets/{repo}", sheets=infos)


def _workroot() -> Path:
    root = get_settings().catalog_cache_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    return root
