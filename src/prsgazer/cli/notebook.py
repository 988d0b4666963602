"""`prsgazer notebook [--host 127.0.0.1] [--port N]`: serve the marimo app. See docs/notebook.md.

Runs `marimo run --headless` on `prsgazer/notebooks/app.py` (read-only app: visitors use it, they
cannot edit its code) and prints the URL in its first line. On a loopback host no token is needed;
on any other interface a token is required: `PRSGAZER_NOTEBOOK_TOKEN`, else a random one printed
with the URL. The token reaches marimo on its standard input, never on its command line (which
other users of the machine can read).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from prsgazer.config import is_loopback
from prsgazer.errors import InputError

APP = Path(__file__).resolve().parents[1] / "notebooks" / "app.py"


def free_port(host: str, port: int) -> int:
    """`port`, checked free on `host`; 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror})", field="--port") from None
        return int(sock.getsockname()[1])


def marimo_command(host: str, port: int, *, token: bool) -> list[str]:
    """The `marimo run` command line serving the app (a token, if any, is read from stdin)."""
    exe = shutil.which("marimo", path=str(Path(sys.executable).parent))
    base = [exe] if exe else [sys.executable, "-m", "marimo"]
    auth = ["--token", "--token-password-file", "-"] if token else ["--no-token"]
    return [*base, "run", str(APP), "--headless", "--host", host, "--port", str(port), "--no-sandbox",
            "--session-ttl", "120", *auth]  # fmt: skip


def notebook(
    host: Annotated[str | None, typer.Option(help="Interface (default PRSGAZER_NOTEBOOK_HOST, 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default PRSGAZER_NOTEBOOK_PORT; 0: any free).")
    ] = None,
) -> None:
    """Serve the notebook app: bring a genome, choose scores, run the report, see plots and download it."""
    from prsgazer.config import get_settings

    s = get_settings()
    host = host or s.notebook_host
    port = free_port(host, s.notebook_port if port is None else port)
    token = ""
    if not is_loopback(host):
        token = s.notebook_token.get_secret_value() if s.notebook_token is not None else secrets.token_urlsafe(18)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"http://{shown}:{port}" + (f"?access_token={token}" if token else "")
    print(f"prsgazer notebook: {url}", flush=True)
    print("stop with Ctrl-C", file=sys.stderr, flush=True)
    env = os.environ | {"MARIMO_SKIP_UPDATE_CHECK": "1", "DO_NOT_TRACK": "1"}
    cmd = marimo_command(host, port, token=bool(token))
    if os.name == "posix":  # become the server: signals and the process id are marimo's
        if token:
            r, w = os.pipe()
            os.write(w, token.encode())
            os.close(w)
            os.dup2(r, 0)
            os.close(r)
        sys.stdout.flush()
        os.execve(cmd[0], cmd, env)
    import subprocess

    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if token else None)
    if token and proc.stdin is not None:
        proc.stdin.write(token.encode())
        proc.stdin.close()
    try:
        raise typer.Exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        raise typer.Exit(proc.wait()) from None
