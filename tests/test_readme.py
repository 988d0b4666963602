"""The README's examples, run as written: every line of its ```bash blocks, in order, in one shell.

What a new user has is all they get: an empty store, a working directory holding the repository's
`src/` and `bench/`, and the network — here the local fake PGS Catalog (REST API and file server,
tests/catalog/catalog_fake.py), a local file server holding a small reference pack under the real
pack's name, and a `file://` remote for `storage push/pull`. `uv run X` runs X from this environment
(the repository is already synced), so each line runs exactly as typed otherwise. Lines that start a
server, the test suite itself or a benchmark are left out, each for a stated reason; everything else
must succeed.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

README = REPO / "README.md"

#: Lines not run, by their start, with the reason; each must still be in the README (the list stays true).
NOT_RUN = {
    "uv run pytest": "the test suite itself",
    "uv run prsgazer notebook": "starts a server that runs until stopped (tests/notebooks serve and drive it)",
    "uv run python bench/": "a benchmark: minutes of CPU, with plink2 side by side; run on its own",
}


def readme_lines() -> list[str]:
    """The commands of the README's ```bash blocks, in order (comment-only and blank lines dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_examples_are_plain_commands() -> None:
    """Nothing a reader must edit first: no placeholders, no optional-argument brackets, no elided CIDs."""
    for line in readme_lines():
        words = shlex.split(line, comments=True)
        assert words, line
        assert "…" not in line.split("#")[0], f"placeholder in: {line}"
        assert not re.search(r"\[-", line.split("#")[0]), f"optional-argument brackets in: {line}"
    for start in NOT_RUN:
        assert any(line.startswith(start) for line in readme_lines()), f"{start!r} is no longer in the README"


class _Files:
    """A local HTTP file server over one directory (the reference-pack server of PRSGAZER_REFERENCE_BASE_URL)."""

    def __init__(self, root: Path) -> None:
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _pack(prefix: Path, out: Path) -> None:
    """A small reference pack in the PGS Catalog layout, under the real pack's file name."""
    import io
    import tarfile

    import zstandard

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("GRCh38_1000G_ALL.pgen", Path(f"{prefix}.pgen").read_bytes()),
            ("GRCh38_1000G_ALL.pvar.zst", zstandard.ZstdCompressor().compress(Path(f"{prefix}.pvar").read_bytes())),
            ("GRCh38_1000G_ALL.psam", Path(f"{prefix}.psam").read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))


@pytest.mark.slow
def test_readme_examples_run_as_written(
    tmp_path: Path, isolated_env: Path, fake_catalog_server: Any, synth_panel: Any
) -> None:
    fake_catalog_server.reset()
    packs = tmp_path / "packs"
    packs.mkdir()
    _pack(synth_panel[0].prefix, packs / "pgsc_1000G_v1.tar.zst")
    files = _Files(packs)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("src", "bench"):  # a clone's working directory
        (work / name).symlink_to(REPO / name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PRSGAZER_")) and "proxy" not in k.lower()}  # fmt: skip
    env.update(
        PRSGAZER_HOME=str(isolated_env / "home"),
        PRSGAZER_CACHE_DIR=str(isolated_env / "cache"),
        PRSGAZER_CATALOG_REST_URL=fake_catalog_server.rest_url,
        PRSGAZER_CATALOG_FTP_URL=fake_catalog_server.ftp_url,
        PRSGAZER_CATALOG_RETRIES="1",
        PRSGAZER_CATALOG_BACKOFF="0.01",
        PRSGAZER_REFERENCE_BASE_URL=files.url,
        PRSGAZER_REMOTE=(tmp_path / "remote").as_uri(),
        PRSGAZER_REMOTE_PUSH="false",
        DO_NOT_TRACK="1",
        FASTMCP_CHECK_FOR_UPDATES="off",
        PY=sys.executable,
        BIN=str(Path(sys.executable).parent),
    )
    shim = r"""
uv() {  # `uv run X …` as the synced project runs it: X from this environment
  [ "$1" = run ] || { echo "README test: only 'uv run …' is supported (got: uv $*)" >&2; return 2; }
  shift
  case "$1" in
    prsgazer) shift; "$PY" -m prsgazer "$@" ;;
    python) shift; "$PY" "$@" ;;
    *) cmd="$1"; shift; "$BIN/$cmd" "$@" ;;
  esac
}
set -euo pipefail
"""
    ran, skipped = [], []
    script = [shim]
    for line in readme_lines():
        if any(line.startswith(start) for start in NOT_RUN):
            skipped.append(line)
            continue
        ran.append(line)
        script += [f"printf '%s %s\\n' \"$SECONDS\" {shlex.quote('+ ' + line)} >&2", line]
    script.append("echo README-DONE >&2")
    try:
        done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True,
                              timeout=1500)  # fmt: skip
    finally:
        files.close()
    tail = done.stderr[-6000:]
    print("\n".join(line for line in done.stderr.splitlines() if " + " in line))  # seconds at each line's start
    assert done.returncode == 0 and "README-DONE" in done.stderr, f"a README line failed:\n{tail}"
    assert len(ran) >= 20 and {next(s for s in NOT_RUN if line.startswith(s)) for line in skipped} == set(NOT_RUN)
    # the examples did what they say
    assert "PRS report for DEMO_PERSON" in done.stdout
    assert (work / "me.vcf.gz").exists() and (work / "dist.tsv").exists() and (work / "out.tsv").exists()
    out = (work / "out.tsv").read_text().splitlines()
    assert len(out) == 3 and "percentile" in out[0]
    assert (isolated_env / "home" / "panels" / "pgsc_1000G_v1" / ".installed.json").exists()
    assert (isolated_env / "home" / "panels" / "covered" / ".installed.json").exists()
