"""PGS Catalog reference packs: the registry of known packs (`KNOWN_PANELS`), their verified,
resumable download and installation (`download_panel`), and the panels installed on this machine
(`installed_panels`). See docs/reference.md ("Registry and download").

`download_panel(name, dest_dir)`: streamed HTTP download with Range resume, size and checksum
verification, zstd tar extraction into a temporary directory, structure check, atomic rename.
Nothing half-downloaded or half-extracted is ever taken as good.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from loguru import logger
from pydantic import BaseModel, Field

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
    retries: int = 5,
    timeout: float = 60.0,
    keep_archive: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Download and install a known panel under `dest_dir/<name>/`; returns that directory.

    The archive is streamed to `dest_dir/.download/<file>.part`; an interrupted transfer resumes with
    an HTTP Range request (a server that ignores Range restarts it). The finished file must have the
    expected size (registry, else the server's) and checksum (when the registry has one); a mismatch
    deletes it and raises `DownloadError`. The zstd tar is extracted into a temporary directory,
    its layout checked (`inspect_pack`), and only then renamed to `dest_dir/<name>` with an
    `.installed.json` marker. Already installed: returned at once.
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
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / f"{entry.filename}.part"
    total = _fetch_resumable(url, part, expected_size=entry.size, retries=retries, timeout=timeout, progress=progress)
    _verify_archive(part, entry, total, url)
    tmp = dest / f".extract-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _extract_zstd_tar(part, tmp, url, progress=progress)
        layout = inspect_pack(tmp)
        write_text(
            tmp / ".installed.json",
            json.dumps(
                {
                    "name": name,
                    "url": url,
                    "size": total,
                    "sha256": _digest(part, "sha256"),
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
        raise
    if not keep_archive:
        part.unlink(missing_ok=True)
    return final


def _fetch_resumable(
    url: str,
    part: Path,
    *,
    expected_size: int | None,
    retries: int,
    timeout: float,
    progress: ProgressFn | None,
) -> int:
    """Stream `url` into `part`, resuming with Range after a cut. Returns the total size."""
    total: int | None = expected_size
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have == total:
            return total
        if total is not None and have > total:
            part.unlink()
            have = 0
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status = resp.status
                if status == 206:
                    crange = resp.headers.get("Content-Range", "")
                    start = int(crange.split(" ")[1].split("-")[0]) if crange.startswith("bytes ") else -1
                    if start != have:
                        raise DownloadError(f"server resumed at byte {start}, expected {have}", url=url)
                    size_txt = crange.rsplit("/", 1)[-1]
                    server_total = int(size_txt) if size_txt.isdigit() else None
                    mode = "ab"
                else:  # 200: the whole file (the server ignored Range, or nothing to resume)
                    length = resp.headers.get("Content-Length")
                    server_total = int(length) if length and length.isdigit() else None
                    have, mode = 0, "wb"
                if server_total is not None:
                    if total is not None and server_total != total:
                        raise DownloadError(
                            f"server reports {server_total} bytes, the registry expects {total}",
                            url=url,
                            hint="the published file changed: update KNOWN_PANELS",
                        )
                    total = server_total
                with open(part, mode) as fh:
                    while chunk := resp.read(1 << 20):
                        fh.write(chunk)
                        have += len(chunk)
                        if progress:
                            progress("download", have, total)
            if total is None or have == total:
                return have
            raise ConnectionError(f"transfer ended at byte {have} of {total}")
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have and total is None:
                return have  # nothing left to send: the part file is complete
            if exc.code < 500 and exc.code != 429:
                raise DownloadError(f"HTTP {exc.code} {exc.reason}", url=url) from exc
            error: Exception = exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            error = exc
        attempt += 1
        if attempt > retries:
            kept = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"download kept failing after {retries} retries ({error}); {kept} bytes kept for the next attempt",
                url=url,
                hint="run the same command again to resume",
            )
        logger.warning(f"{url}: {error}; resuming (attempt {attempt}/{retries})")
        time.sleep(min(2.0**attempt * 0.1, 10.0))


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _verify_archive(part: Path, entry: KnownPanel, total: int, url: str) -> None:
    size = part.stat().st_size
    if size != total:
        raise DownloadError(f"downloaded {size} bytes, expected {total}", url=url, hint="run again to resume")
    for algo in ("sha256", "md5"):
        want = getattr(entry, algo)
        if want:
            got = _digest(part, algo)
            if got.lower() != want.lower():
                part.unlink(missing_ok=True)
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
