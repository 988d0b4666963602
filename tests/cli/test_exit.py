"""`prsgazer.cli.leave`: the console entry point's exit does what a normal exit does for the outside
world (threads joined, exit handlers and finalizers run, streams flushed, the exit code kept), only
without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_leave_runs_cleanup_and_keeps_the_code(tmp_path: Path) -> None:
    folder, late = tmp_path / "tmp-folder", tmp_path / "late.txt"
    code = f"""
import pathlib, shutil, sys, threading, time, weakref
from concurrent.futures import ThreadPoolExecutor
from prsgazer.cli import leave
folder = pathlib.Path({str(folder)!r}); folder.mkdir()
class Owner: pass
owner = Owner()
weakref.finalize(owner, shutil.rmtree, folder, True)  # as a genotype source owns its temp folder
def slow():
    time.sleep(0.3)
    pathlib.Path({str(late)!r}).write_text("done")
threading.Thread(target=slow).start()  # non-daemon: a normal exit waits for it
pool = ThreadPoolExecutor(1)
pool.submit(time.sleep, 0.2)
print("x" * 100_000, end="")  # buffered: must reach the pipe
leave(3)
"""
    done = _run(code, tmp_path)
    assert done.returncode == 3, done.stderr
    assert len(done.stdout) == 100_000
    assert not folder.exists()
    assert late.read_text() == "done"


def test_cli_entry_exits_through_leave(tmp_path: Path) -> None:
    """`prsgazer --version` and a usage error, through the installed console script."""
    exe = Path(sys.executable).parent / "prsgazer"
    ok = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("prsgazer ")
    bad = subprocess.run([str(exe), "score"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr
