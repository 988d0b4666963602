"""PGS Catalog reference packs: registry, resumable verified download through the catalog's HTTP client,
safe extraction, installed panels. A local HTTP server on 127.0.0.1 speaks the file server's protocol
(Range requests, cuts mid-transfer)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard

from prsgazer.catalog import reference_packs as packs_mod
from prsgazer.catalog.reference_packs import KnownPanel, download_panel, inspect_pack, installed_panels
from prsgazer.engine.reference.panel import open_panel
from prsgazer.errors import DownloadError, InputError


class _Server:
    """Serves `files` (path → bytes) with Range support; `cut` makes the next full GET of a path stop
    after that many bytes (the connection closes mid-body, as a dropped transfer)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.log: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                outer.log.append((self.path, rng))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                limit = outer.cut.pop(self.path, None) if start == 0 else None
                self.wfile.write(body[start:limit] if limit is not None else body[start:])
                if limit is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pgs/resources/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    s = _Server()
    yield s
    s.close()


def make_pack(prefix: Path) -> bytes:
    """A small pack in the PGS Catalog layout: `<build>_<name>_ALL.{pgen,pvar.zst,psam}` + a KING file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))

        add("GRCh38_test_ALL.pgen", Path(f"{prefix}.pgen").read_bytes())
        add("GRCh38_test_ALL.pvar.zst", zstandard.ZstdCompressor().compress(Path(f"{prefix}.pvar").read_bytes()))
        add("GRCh38_test_ALL.psam", Path(f"{prefix}.psam").read_bytes())
        add("deg2_hg38.king.cutoff.out.id", b"#IID\n")
    return zstandard.ZstdCompressor(level=3).compress(buf.getvalue())


def registry(name: str, data: bytes, *, sha256: str | None = None, size: int | None = None) -> dict[str, KnownPanel]:
    return {
        name: KnownPanel(name=name, filename=f"{name}.tar.zst", url=f"https://example.invalid/{name}.tar.zst",
                         builds=["GRCh38"], n_samples=400, description="test pack", size=size, sha256=sha256)
    }  # fmt: skip


def test_download_resumes_after_a_cut(synth_panel, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info, _ = synth_panel
    data = make_pack(info.prefix)
    path = "/pgs/resources/pgsc_test_v1.tar.zst"
    server.files[path] = data
    server.cut[path] = len(data) // 3
    known = registry("pgsc_test_v1", data, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    dest = tmp_path / "panels"
    got = download_panel("pgsc_test_v1", dest, base_url=server.url, known=known, retries=3)
    assert got == dest / "pgsc_test_v1"
    ranges = [r for p, r in server.log if p == path]
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 3}-"  # resumed where the cut left it
    assert not (dest / ".download" / "pgsc_test_v1.tar.zst.part").exists()
    p = open_panel(got / "GRCh38_test_ALL")
    assert p.superpopulations == ["AFR", "AMR", "EAS", "EUR", "SAS"] and p.variants.height == 3000
    assert inspect_pack(got).prefixes == {"GRCh38_test_ALL": "GRCh38"}
    [inst] = installed_panels(dest)
    assert inst.name == "pgsc_test_v1" and inst.build == "GRCh38"
    n = len(server.log)
    assert download_panel("pgsc_test_v1", dest, base_url=server.url, known=known) == got and len(server.log) == n


def test_checksum_mismatch_is_refused(synth_panel, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info, _ = synth_panel
    data = make_pack(info.prefix)
    server.files["/pgs/resources/pgsc_bad_v1.tar.zst"] = data
    known = registry("pgsc_bad_v1", data, sha256="0" * 64)
    dest = tmp_path / "panels"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_panel("pgsc_bad_v1", dest, base_url=server.url, known=known, retries=0)
    assert not (dest / "pgsc_bad_v1").exists()
    assert not list((dest / ".download").iterdir())  # the bad bytes were deleted


def test_truncated_archive_is_refused_and_nothing_is_left(synth_panel, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info, _ = synth_panel
    data = make_pack(info.prefix)
    server.files["/pgs/resources/pgsc_cut_v1.tar.zst"] = data[: len(data) * 2 // 3]  # the server's file is short
    known = registry("pgsc_cut_v1", data)  # no size, no checksum: only extraction can tell
    dest = tmp_path / "panels"
    with pytest.raises(DownloadError, match="cannot extract the archive"):
        download_panel("pgsc_cut_v1", dest, base_url=server.url, known=known, retries=0)
    assert sorted(p.name for p in dest.iterdir()) == [".download"]  # no panel dir, no .extract-* dir
    assert installed_panels(dest) == []
    # a wrong size announced by the registry is refused before extraction
    known = registry("pgsc_cut_v1", data, size=len(data))
    with pytest.raises(DownloadError):
        download_panel("pgsc_cut_v1", dest, base_url=server.url, known=known, retries=1)
    assert not (dest / "pgsc_cut_v1").exists()


def test_pack_without_superpopulations_is_refused(synth_panel, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info, _ = synth_panel
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for ext in (".pgen", ".pvar"):
            tar.add(f"{info.prefix}{ext}", arcname=f"GRCh38_x_ALL{ext}")
        psam = b"#IID\tSEX\nA\t1\n"
        ti = tarfile.TarInfo("GRCh38_x_ALL.psam")
        ti.size = len(psam)
        tar.addfile(ti, io.BytesIO(psam))
    server.files["/pgs/resources/pgsc_nosp_v1.tar.zst"] = zstandard.ZstdCompressor().compress(buf.getvalue())
    dest = tmp_path / "panels"
    with pytest.raises(DownloadError, match="no superpopulation column"):
        download_panel("pgsc_nosp_v1", dest, base_url=server.url, known=registry("pgsc_nosp_v1", b""), retries=0)
    assert not (dest / "pgsc_nosp_v1").exists()


def test_registry_has_the_real_packs() -> None:
    k = packs_mod.KNOWN_PANELS
    assert k["pgsc_1000G_v1"].url == "https://ftp.ebi.ac.uk/pub/databases/spot/pgs/resources/pgsc_1000G_v1.tar.zst"
    assert k["pgsc_HGDP+1kGP_v1"].filename == "pgsc_HGDP+1kGP_v1.tar.zst"
    assert k["pgsc_1000G_v1"].n_samples == 3202
    for entry in k.values():
        assert entry.sha256 is None and "does not publish a checksum" in entry.checksum_note
    with pytest.raises(InputError, match="unknown panel"):
        download_panel("nope", Path("/nonexistent"))
