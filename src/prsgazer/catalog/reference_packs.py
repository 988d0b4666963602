"""PGS Catalog reference packs: the registry of known packs (`KNOWN_PANELS`), their verified,
resumable download and installation (`download_panel`), and the panels installed on this machine
(`installed_panels`). See docs/reference.md ("Registry and download").

`download_panel(name, dest_dir)`: streamed HTTP download with Range resume, size and checksum
verification, zstd tar extraction into a temporary directory, structure check, atomic rename.
Nothing half-downloaded or half-extracted is ever taken as good.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from prsgazer.config import Settings
from prsgazer.engine.reference.panel import SUPERPOP_COLUMNS
from prsgazer.errors import DownloadError, InputError
from prsgazer.fileio import write_text

# --------------------------------------------------------------------------------------------------
# registry of known panels


class KnownPanel(BaseModel):
    """A downloadable reference pack."""

    name: str
    filename: str = Field(description="File name under the resources base URL.")
    url: str = Field(description="Where the PGS Catalog publishes it.")
    builds: list[str]
    n_samples: int
    description: str
    size: int | None = Field(default=None, description="Bytes; None = not known offline (the server's length is used).")
    sha256: str | None = None
    md5: str | None = None
    checksum_note: str = ""
    layout: str = Field(
        default="",
        description="What the pack holds; verified after extraction (a pfile per build with SuperPop in the psam).",
    )


_RESOURCES = "https://ftp.ebi.ac.uk/pub/databases/spot/pgs/resources/"
_NO_CHECKSUM = (
    "The PGS Catalog does not publish a checksum for this pack and none could be obtained offline: a download "
    "is verified by the server's byte count (Content-Length / Content-Range) and by the pack's structure "
    "(each build's .pgen/.pvar.zst/.psam present, psam with SuperPop, pgen header readable)."
)

KNOWN_PANELS: dict[str, KnownPanel] = {
    "pgsc_1000G_v1": KnownPanel(
        name="pgsc_1000G_v1",
        filename="pgsc_1000G_v1.tar.zst",
        url=_RESOURCES + "pgsc_1000G_v1.tar.zst",
        builds=["GRCh37", "GRCh38"],
        n_samples=3202,
        description="1000 Genomes high-coverage (3,202 samples, 26 populations, 5 superpopulations), the PGS "
        "Catalog calculator's reference for ancestry and score distributions.",
        checksum_note=_NO_CHECKSUM,
        layout="GRCh37_1000G_ALL.{pgen,pvar.zst,psam} and GRCh38_1000G_ALL.{pgen,pvar.zst,psam} (+ KING cutoffs)",
    ),
    "pgsc_HGDP+1kGP_v1": KnownPanel(
        name="pgsc_HGDP+1kGP_v1",
        filename="pgsc_HGDP+1kGP_v1.tar.zst",
        url=_RESOURCES + "pgsc_HGDP+1kGP_v1.tar.zst",
        builds=["GRCh37", "GRCh38"],
        n_samples=4099,
        description="gnomAD HGDP + 1000 Genomes joint callset (about 4,100 samples, more global diversity), "
        "the PGS Catalog calculator's alternative reference.",
        checksum_note=_NO_CHECKSUM,
        layout="GRCh37_HGDP+1kGP_ALL.{pgen,pvar.zst,psam} and GRCh38_HGDP+1kGP_ALL.{pgen,pvar.zst,psam}",
    ),
}


class PanelLayout(BaseModel):
    """What an extracted pack holds: one plink2 prefix per name, with its build when the name says."""

    prefixes: dict[str, str] = Field(description="prefix name → build (GRCh37 / GRCh38 / unknown)")


def inspect_pack(root: Path) -> PanelLayout:
    """Check an extracted pack: at least one complete pfile whose psam has a superpopulation column
    and whose .pgen starts with plink2's magic bytes. Raises DownloadError otherwise."""
    found: dict[str, str] = {}
    for pgen in sorted(root.rglob("*.pgen")):
        base = pgen.with_suffix("")
        pvar = Path(f"{base}.pvar.zst") if Path(f"{base}.pvar.zst").exists() else Path(f"{base}.pvar")
        psam = Path(f"{base}.psam")
        if not (pvar.exists() and psam.exists()):
            raise DownloadError(f"pack is incomplete: {pgen.name} has no .pvar[.zst] or .psam beside it")
        with open(pgen, "rb") as fh:
            if fh.read(2) != b"\x6c\x1b":
                raise DownloadError(f"{pgen.name} is not a plink2 .pgen (bad magic bytes)")
        header = psam.read_text().splitlines()[0].lstrip("#").split("\t") if psam.stat().st_size else []
        if not {c.lower() for c in header} & {c.lower() for c in SUPERPOP_COLUMNS}:
            raise DownloadError(f"{psam.name} has no superpopulation column (columns: {header})")
        name = str(base.relative_to(root))
        build = "GRCh38" if "GRCh38" in name else "GRCh37" if "GRCh37" in name else "unknown"
        found[name] = build
    if not found:
        raise DownloadError("pack holds no .pgen file")
    return PanelLayout(prefixes=found)


# --------------------------------------------------------------------------------------------------
# download


ProgressFn = Callable[[str, int, int | None], None]


def download_panel(
    name: str,
    dest_dir: str | Path,
    *,
    base_url: str | None = None,
    known: dict[str, KnownPanel] | None = None,
    retries: int | None = None,
    keep_archive: bool = False,
    progress: ProgressFn | None = None,
    settings: Settings | None = None,
) -> Path:
    """Download and install a known panel under `dest_dir/<name>/`; returns that directory.

    The archive is streamed by the catalog's HTTP client (`CatalogClient.fetch_file`: retries with
    backoff, timeouts from the settings) into `dest_dir/.download/<file>.part`; an interrupted
    transfer resumes with an HTTP Range request, also in a later call. The finished file must have
    the expected size (registry, else the server's) and checksum (when the registry has one); a
    mismatch deletes it and raises `DownloadError`. The zstd tar is extracted into a temporary
    directory, its layout checked (`inspect_pack`), and only then renamed to `dest_dir/<name>` with
    an `.installed.json` marker. Already installed: returned at once.
    """
    registry = known if known is not None else KNOWN_PANELS
    if name not in registry:
        raise InputError(f"unknown panel {name!r}", field="name", hint=f"known: {', '.join(registry)}")
    entry = registry[name]
    dest = Path(dest_dir)
    final = dest / name
    marker = final / ".installed.json"
    if marker.exists():
        return final
    url = (base_url.rstrip("/") + "/" + entry.filename) if base_url else entry.url
    part_dir = dest / ".download"
    archive = part_dir / entry.filename
    asyncio.run(_download(url, archive, entry, retries, progress, settings))
    tmp = dest / f".extract-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _extract_zstd_tar(archive, tmp, url, progress=progress)
        layout = inspect_pack(tmp)
        write_text(
            tmp / ".installed.json",
            json.dumps(
                {
                    "name": name,
                    "url": url,
                    "size": archive.stat().st_size,
                    "sha256": _digest(archive, "sha256"),
                    "prefixes": layout.prefixes,
                    "installed": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
                indent=2,
            )
        )
        if final.exists():  # a stale, unmarked directory from an older failed install
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink(missing_ok=True)  # an archive that does not install is not kept for the next try
        raise
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return final


async def _download(
    url: str, archive: Path, entry: KnownPanel, retries: int | None, progress: ProgressFn | None,
    settings: Settings | None,
) -> None:  # fmt: skip
    from prsgazer.catalog.client import CatalogClient

    if archive.exists():  # downloaded and verified by an earlier call whose extraction was interrupted
        return

    def verify(path: Path) -> None:
        _verify_archive(path, entry, url)

    def bytes_done(done: int, total: int | None) -> None:
        if progress is not None:
            progress("download", done, total)

    async with CatalogClient(settings, retries=retries) as client:
        await client.fetch_file(
            url, archive, verify=verify, check_md5=False, part=archive.with_name(archive.name + ".part"),
            progress=bytes_done,
        )  # fmt: skip


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _verify_archive(part: Path, entry: KnownPanel, url: str) -> None:
    size = part.stat().st_size
    if entry.size is not None and size != entry.size:
        raise DownloadError(
            f"downloaded {size} bytes, the registry expects {entry.size}",
            url=url,
            hint="the published file changed, or the transfer was cut: run again",
            retryable=True,
        )
    for algo in ("sha256", "md5"):
        want = getattr(entry, algo)
        if want:
            got = _digest(part, algo)
            if got.lower() != want.lower():
                raise DownloadError(
                    f"{algo} mismatch: got {got}, expected {want}; the download was deleted",
                    url=url,
                    hint="the file on the server is not the registered one",
                )


def _extract_zstd_tar(archive: Path, into: Path, url: str, *, progress: ProgressFn | None = None) -> None:
    """Stream-extract a .tar.zst into `into`; refuses absolute paths, '..', links and special files."""
    import zstandard

    into.mkdir(parents=True)
    root = into.resolve()
    try:
        with open(archive, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                n = 0
                for member in tar:
                    target = (root / member.name).resolve()
                    if not str(target).startswith(str(root) + os.sep) and target != root:
                        raise DownloadError(f"archive member {member.name!r} would land outside the panel directory")
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    if not member.isfile():
                        raise DownloadError(f"archive member {member.name!r} is not a regular file or directory")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    with open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 22)
                        written = out.tell()
                    if written != member.size:
                        raise DownloadError(f"archive member {member.name!r} is truncated")
                    n += 1
                    if progress:
                        progress("extract", n, None)
    except DownloadError as exc:
        raise DownloadError(exc.reason, url=url, hint="the archive is damaged or not a reference pack") from exc
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError, ValueError) as exc:
        raise DownloadError(
            f"cannot extract the archive ({type(exc).__name__}: {exc}); nothing was installed",
            url=url,
            hint="delete the partial download and run again",
        ) from exc


# --------------------------------------------------------------------------------------------------
# installed panels


class InstalledPanel(BaseModel):
    name: str
    prefix: str
    build: str
    source: str


def installed_panels(panels_dir: Path) -> list[InstalledPanel]:
    """Panels installed under `panels_dir` (downloaded packs and synthesized panels)."""
    out: list[InstalledPanel] = []
    if not panels_dir.is_dir():
        return out
    for d in sorted(p for p in panels_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = d / ".installed.json"
        if not marker.exists():
            continue
        info = json.loads(marker.read_text())
        for rel, build in sorted(info.get("prefixes", {}).items()):
            out.append(
                InstalledPanel(
                    name=d.name if len(info.get("prefixes", {})) == 1 else f"{d.name}:{build}",
                    prefix=str(d / rel),
                    build=build,
                    source=info.get("url") or info.get("source", ""),
                )
            )
    return out
