"""What the MCP tools may touch on the file system. See docs/mcp.md ("Safety").

`upload_file` reads only regular files inside the allowed directories (`PRSGAZER_MCP_ALLOWED_DIRS`,
default `$PRSGAZER_HOME/inputs` and `~/Documents/prsgazer`), after resolving every symlink, and no
larger than `PRSGAZER_MCP_MAX_UPLOAD_BYTES`. The file is opened once (no following of a final
symlink, no blocking on a FIFO) and checked through that descriptor, and on Linux the store reads the
very inode that was checked (`/proc/self/fd/N`), so swapping the path afterwards cannot smuggle in
another file. A file with more than one hard link is refused: its other names may lie outside the
allowed directories (a hard link there to `/etc/shadow` must not be read). `download_file` writes
copies (never links to a blob) only inside the store (`<root>/exports/<cid>/`) or into an allowed
directory, never over a different existing file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from prsgazer.config import Settings
from prsgazer.errors import InputError


def allowed_dirs(settings: Settings) -> list[Path]:
    """The directories `upload_file` may read, as given (not resolved), default ones included."""
    raw = settings.mcp_allowed_dirs.strip()
    if raw:
        return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    return [settings.home / "inputs", Path(platformdirs.user_documents_dir()) / "prsgazer"]


def _within(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def _resolved_roots(roots: list[Path]) -> list[Path]:
    out = []
    for r in roots:
        with contextlib.suppress(OSError):
            out.append(r.resolve(strict=True))
    return out


def _describe(roots: list[Path]) -> str:
    return ", ".join(str(r) for r in roots) or "(none)"


def resolve_inside(path: str, roots: list[Path], *, what: str = "path", must_exist: bool = True) -> Path:
    """`path` with every symlink resolved, refused unless it lies inside one of `roots`.

    A relative path is taken relative to the first root. `~` is expanded.
    """
    if not isinstance(path, str) or not path.strip():
        raise InputError(f"{what} is empty", field=what, hint=f"a file inside {_describe(roots)}")
    if "\x00" in path:
        raise InputError(f"{what} contains a NUL byte", field=what)
    real_roots = _resolved_roots(roots)
    if not real_roots:
        raise InputError(
            "no allowed directory exists",
            field=what,
            hint=f"create one of {_describe(roots)} or set PRSGAZER_MCP_ALLOWED_DIRS",
        )
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = roots[0] / p
    try:
        real = p.resolve(strict=must_exist)
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist", field=what, hint=f"allowed directories: {_describe(roots)}"
        ) from None
    except (OSError, RuntimeError) as exc:  # symlink loops, permissions
        raise InputError(f"{path} cannot be resolved ({exc})", field=what) from None
    if not _within(real, real_roots):
        escaped = " (through a symlink)" if _within(p.absolute(), [*roots, *real_roots]) else ""
        raise InputError(
            f"{path} is outside the allowed directories{escaped}",
            field=what,
            hint=f"allowed: {_describe(roots)}; copy the file there or set PRSGAZER_MCP_ALLOWED_DIRS",
        )
    return real


@dataclass
class CheckedFile:
    """A file opened for upload: `path` is what the store should read (same inode as checked)."""

    path: Path
    real_path: Path
    size: int
    name: str


def _fd_path(fd: int) -> Path | None:
    p = Path(f"/proc/self/fd/{fd}")
    return p if p.exists() else None


@contextlib.contextmanager
def open_for_upload(path: str, roots: list[Path], max_bytes: int) -> Iterator[CheckedFile]:
    """Open and check a file `upload_file` was asked to read (see the module docstring)."""
    real = resolve_inside(path, roots)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a file", field="path", hint="give one file") from None
    except OSError as exc:
        raise InputError(f"{path} cannot be opened ({exc.strerror})", field="path") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path} is a directory, not a file", field="path", hint="give one file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path} is not a regular file (device, FIFO or socket)", field="path")
        if st.st_nlink > 1:
            raise InputError(
                f"{path} has {st.st_nlink} hard links: another name of this file may lie outside the allowed "
                "directories, so it is not read",
                field="path",
                hint="copy the file into the allowed directory (cp, not ln) and upload the copy",
            )
        if st.st_size > max_bytes:
            raise InputError(
                f"{path} is {st.st_size:,} bytes, more than the upload limit of {max_bytes:,}",
                field="path",
                hint="raise PRSGAZER_MCP_MAX_UPLOAD_BYTES, or use `prsgazer storage put` from a shell",
            )
        via_fd = _fd_path(fd)
        if via_fd is not None:
            # the descriptor names the inode actually opened: re-check where it lives
            opened = Path(os.readlink(via_fd))
            if not _within(opened, _resolved_roots(roots)):
                raise InputError(f"{path} moved outside the allowed directories while opening", field="path")
        yield CheckedFile(path=via_fd or real, real_path=real, size=st.st_size, name=real.name)
    finally:
        os.close(fd)


def safe_filename(name: str, fallback: str) -> str:
    """A stored record's filename reduced to one harmless path component."""
    base = Path(name.replace("\\", "/")).name if name else ""
    if base in ("", ".", "..") or base.startswith("."):
        return fallback
    return base
