"""One safe writer for every file prsgazer produces: outputs, caches, store files. See docs/architecture.md
("Outputs").

What is at the destination decides how it is written:

- nothing, or a regular file: the bytes go to a temp file beside it (`.NAME.PID.XXXXXXXX.tmp`) that is
  fsynced and renamed over it (`publish`), so a reader, a crash or `kill -9` sees the old bytes or the new
  ones, never a mix. A new file gets mode `0o666 & ~umask` (applied by the kernel when the temp file is
  created, so a directory's default ACL is honoured too); a replaced file keeps its permission bits.
  Missing parent directories are created; a failure removes the temp file.
- a symlink: written through. The link stays a link; its target is replaced atomically (temp beside it).
- a FIFO or a character device (`/dev/null`, `/dev/stdout`, a terminal): opened and written in place,
  never replaced.
- `-`: standard output.
- a directory, a socket, a block device, or the same file as one of the `inputs` (also through a symlink
  or a hard link): `OutputError`, an `InputError` (exit code 2) that names the path.

A hard-linked destination is replaced, not written through: its other names keep the old bytes (store
blobs back read-only views under `files/` as hard links, and must never change). Temp files left by a
killed process keep their `.….PID.XXXXXXXX.tmp` names, so `stale_temps` can find them for a sweep.

Neutral module: only the standard library and `prsgazer.errors`, so the engine may use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

from prsgazer.errors import OutputError

#: The output path meaning standard output.
STDOUT = "-"

PathLike = str | os.PathLike[str]
Kind = Literal["file", "stream", "stdout"]

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{8})\.tmp$", re.DOTALL)
_MAX_NAME = 100  # bytes of the destination's name kept in a temp name (file names stop at 255 bytes)
_CHUNK = 1 << 20
# errnos that mean "no file can be made there": the user's path is at fault, not the program.
_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.ELOOP, errno.ENAMETOOLONG}


# --------------------------------------------------------------------------------------------------
# small primitives


def temp_name(name: str) -> str:
    """A fresh temp file name for a destination called `name`: `.NAME.PID.XXXXXXXX.tmp`."""
    short = os.fsdecode(os.fsencode(name)[:_MAX_NAME])
    return f".{short}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def is_temp_name(name: str) -> bool:
    """True for a name `temp_name` makes."""
    return _TEMP_RE.match(name) is not None


def stale_temps(directory: PathLike) -> list[Path]:
    """Temp files in `directory` whose writing process is gone (a killed writer's leftovers)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            m = _TEMP_RE.match(entry.name)
            if m is None or not entry.is_file(follow_symlinks=False):
                continue
            pid = int(m.group("pid"))
            if pid != os.getpid() and not _pid_alive(pid):
                found.append(Path(entry.path))
    return sorted(found)


def publish(tmp: PathLike, dest: PathLike, *, mode: int | None = None, durable: bool = True) -> Path:
    """Rename a finished temp file over `dest` (same file system): the atomic step every write ends with.

    `mode` (when given) is set on the temp file first; `durable` fsyncs the file before the rename and
    the directory after it, so the new name survives a crash. `dest` is taken as is (no symlink is
    followed: callers pass a resolved path). On failure the temp file is removed.
    """
    tmp, dest = Path(tmp), Path(dest)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        if durable:
            fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(dest.parent)
    return dest


def fsync_dir(path: PathLike) -> None:
    """fsync a directory (makes a rename in it durable); silently skipped where unsupported."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# what is at the destination


@dataclass(frozen=True)
class Target:
    """Where an output goes: `kind` says how (`file`: temp + rename onto `real`; `stream`: written in
    place; `stdout`), `real` is the path the bytes land at (symlinks followed), `path` as given."""

    path: Path
    kind: Kind
    real: Path | None


def check_output(path: PathLike, *, inputs: Iterable[PathLike | None] = (), field: str | None = None) -> Target:
    """Check an output path without touching anything; `OutputError` (exit 2) when it cannot be written.

    Call it before long work so a bad `--out` fails at once. `inputs` are the files the output is made
    from: writing over one of them is refused. `field` names the option in messages (e.g. `--out`).
    """
    text = os.fspath(path)
    if text == STDOUT:
        return Target(path=Path(STDOUT), kind="stdout", real=None)
    if not text:
        raise OutputError("the output path is empty", field=field, hint="give a file name, or - for standard output")
    if text.endswith(("/", os.sep)):
        if os.path.isdir(text):
            raise _is_directory(text, field)
        raise OutputError("ends with '/', so it names a directory, not a file", file=text, field=field)
    real = Path(os.path.realpath(text))
    try:
        st: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _path_error(exc, text, field) from None
    if st is None:
        _check_parents(real, text, field)
        kind: Kind = "file"
    elif stat.S_ISDIR(st.st_mode):
        raise _is_directory(text, field)
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        kind = "stream"
    else:
        what = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "special"
        raise OutputError(f"is {what}, not a file prsgazer can write", file=text, field=field,
                          hint="write to a regular file, a FIFO, or - for standard output")  # fmt: skip
    if kind == "file":
        _check_inputs(real, st, inputs, text, field)
    return Target(path=Path(text), kind=kind, real=real)


def _is_directory(text: str, field: str | None) -> OutputError:
    return OutputError("is a directory, not a file", file=text, field=field,
                       hint=f"give a file path, e.g. {os.path.join(text, 'NAME')}")  # fmt: skip


def _path_error(exc: OSError, text: str, field: str | None) -> OutputError:
    if exc.errno == errno.ELOOP:
        return OutputError("is a symlink loop", file=text, field=field, hint="fix or remove the link")
    if exc.errno == errno.ENOTDIR:
        return OutputError("a parent of this path is a file, not a directory", file=text, field=field)
    return OutputError(f"cannot be written ({exc.strerror})", file=text, field=field,
                       hint="choose a location you can write to")  # fmt: skip


def _check_parents(real: Path, text: str, field: str | None) -> None:
    """The nearest existing ancestor of a new file must be a directory (the rest are created)."""
    for parent in real.parents:
        try:
            st = os.stat(parent)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _path_error(exc, text, field) from None
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{parent} is a file, not a directory", file=text, field=field)
        return


def _check_inputs(
    real: Path, st: os.stat_result | None, inputs: Iterable[PathLike | None], text: str, field: str | None
) -> None:
    for item in inputs:
        if item is None:
            continue
        itext = os.fspath(item)
        if itext in ("", STDOUT):
            continue
        same = False
        if st is not None:
            with contextlib.suppress(OSError, ValueError):
                ist = os.stat(itext)
                same = (ist.st_dev, ist.st_ino) == (st.st_dev, st.st_ino)
        if not same:
            same = os.path.realpath(itext) == str(real)
        if same:
            raise OutputError(
                f"is the same file as the input {itext}: writing it would destroy the input",
                file=text,
                field=field,
                hint="write the output to another path",
            )


# --------------------------------------------------------------------------------------------------
# writing


class Output:
    """One output being written: `open()` a file object or take a `temp_path()`, then `commit()` or
    `discard()`. `open_output` / `output_path` wrap this; use it directly to commit several outputs
    together or to drop one.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        inputs: Iterable[PathLike | None] = (),
        durable: bool = True,
        field: str | None = None,
    ) -> None:
        self.target = check_output(path, inputs=inputs, field=field)
        self.durable = durable
        self.field = field
        self._tmp: Path | None = None
        self._fh: IO[Any] | None = None
        self._keep_mode: int | None = None
        self._done = False

    @property
    def path(self) -> Path:
        """The destination as given."""
        return self.target.path

    def open(self, mode: str = "wb", *, encoding: str | None = "utf-8", newline: str | None = None) -> IO[Any]:
        """A file object to write to (`w`/`wt` text, `wb` binary); at most once, not with `temp_path`."""
        if mode not in ("w", "wt", "wb"):
            raise ValueError(f"open_output mode must be 'w', 'wt' or 'wb', not {mode!r}")
        self._fresh()
        binary = "b" in mode
        text_args: dict[str, Any] = {} if binary else {"encoding": encoding, "newline": newline}
        if self.target.kind == "stdout":
            self._fh = _stdout(binary)
        elif self.target.kind == "stream":
            self._fh = os.fdopen(self._open_stream(), mode, **text_args)
        else:
            fd, self._tmp = self._new_temp(self._real.parent)
            self._fh = os.fdopen(fd, mode, **text_args)
        return self._fh

    def temp_path(self) -> Path:
        """A path for libraries that write to a path (polars, pyarrow): a fresh empty temp file beside the
        destination (for a stream or `-`: in the temp directory, copied over at `commit`)."""
        self._fresh()
        where = self._real.parent if self.target.kind == "file" else Path(tempfile.gettempdir())
        fd, self._tmp = self._new_temp(where)
        os.close(fd)
        return self._tmp

    def commit(self) -> Path:
        """Finish: rename the temp file into place (or copy it to the stream); returns the path as given."""
        if self._done:
            raise RuntimeError(f"output {self.path} was already committed or discarded")
        try:
            if self._fh is not None:
                fh, self._fh = self._fh, None
                if self.target.kind == "stdout":
                    fh.flush()
                else:
                    fh.close()
            if self._tmp is not None:
                if self.target.kind == "file":
                    publish(self._tmp, self._real, mode=self._keep_mode, durable=self.durable)
                else:
                    self._copy_temp_to_stream()
                self._tmp = None
        except BaseException:
            self.discard()
            raise
        self._done = True
        return self.path

    def discard(self) -> None:
        """Give up: close, remove the temp file; the destination keeps what it had (a stream keeps what
        was already written to it)."""
        fh, self._fh = self._fh, None
        if fh is not None and self.target.kind != "stdout":
            with contextlib.suppress(Exception):
                fh.close()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._done = True

    # -- helpers -------------------------------------------------------------------------------------
    @property
    def _real(self) -> Path:
        assert self.target.real is not None
        return self.target.real

    def _fresh(self) -> None:
        if self._done or self._fh is not None or self._tmp is not None:
            raise RuntimeError(f"output {self.path} is already being written (open or temp_path, once)")

    def _new_temp(self, directory: Path) -> tuple[int, Path]:
        name = self._real.name if self.target.real is not None else "stdout"
        # The kernel applies the umask (or a directory's default ACL) to this mode at creation: a new file
        # gets 0o666 & ~umask with no need to read the process-global umask. A file being replaced lends
        # its own bits (masked here too, so never wider while half written; set exactly at commit).
        self._keep_mode = _existing_mode(self._real) if self.target.kind == "file" else None
        # (owner read/write kept while writing: a library reopens a temp path for writing). A stream's temp
        # file lies in the shared temp directory until it is copied over: private to us.
        if self.target.kind != "file":
            create_mode = 0o600
        else:
            create_mode = 0o666 if self._keep_mode is None else self._keep_mode | 0o600
        try:
            directory.mkdir(parents=True, exist_ok=True)
            while True:
                tmp = directory / temp_name(name)
                try:
                    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, create_mode), tmp
                except FileExistsError:
                    continue
        except OSError as exc:
            if exc.errno in _PATH_ERRNOS:
                raise OutputError(
                    f"cannot create a file in {directory} ({exc.strerror})",
                    file=str(self.path),
                    field=self.field,
                    hint="choose a location you can write to",
                ) from None
            raise

    def _open_stream(self) -> int:
        # No O_CREAT / O_TRUNC: a FIFO or device is written as it is (a FIFO blocks until read).
        try:
            return os.open(self._real, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise _path_error(exc, str(self.path), self.field) from None

    def _copy_temp_to_stream(self) -> None:
        assert self._tmp is not None
        try:
            with open(self._tmp, "rb") as src:
                if self.target.kind == "stdout":
                    dst = _stdout(binary=True)
                    shutil.copyfileobj(src, dst, _CHUNK)
                    dst.flush()
                else:
                    with os.fdopen(self._open_stream(), "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
        finally:
            with contextlib.suppress(OSError):
                self._tmp.unlink()


def _existing_mode(real: Path) -> int | None:
    """The permission bits of the regular file at `real` (set-id bits dropped), None when there is none."""
    with contextlib.suppress(OSError):
        st = os.stat(real)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode) & 0o777
    return None


def _stdout(binary: bool) -> IO[Any]:
    """sys.stdout (text) or its byte buffer; a replaced stdout without one gets bytes decoded as UTF-8."""
    if not binary:
        return sys.stdout
    sys.stdout.flush()  # text already written comes first
    buf = getattr(sys.stdout, "buffer", None)
    # the bridge stands in for a binary stream: it has the two methods a writer calls (write, flush)
    return buf if buf is not None else cast(IO[bytes], _TextBridge(sys.stdout))


class _TextBridge:
    """Bytes written to a text-only stdout (a test harness's): decoded as UTF-8, passed on."""

    def __init__(self, text: IO[str]) -> None:
        import codecs

        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> int:
        self._text.write(self._decoder.decode(bytes(data)))
        return len(data)

    def flush(self) -> None:
        self._text.write(self._decoder.decode(b"", final=True))
        self._text.flush()


@contextlib.contextmanager
def open_output(
    path: PathLike,
    mode: str = "wb",
    *,
    inputs: Iterable[PathLike | None] = (),
    durable: bool = True,
    field: str | None = None,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Write an output through a file object; committed when the block ends, discarded if it raises.

    Example: `with open_output(out, "w", inputs=[genotypes]) as fh: fh.write(text)`. See the module
    docstring for what each kind of destination gets; `durable=False` skips the fsyncs (caches).
    """
    out = Output(path, inputs=inputs, durable=durable, field=field)
    fh = out.open(mode, encoding=encoding, newline=newline)
    try:
        yield fh
    except BaseException:
        out.discard()
        raise
    out.commit()


@contextlib.contextmanager
def output_path(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    durable: bool = True,
    field: str | None = None,
) -> Iterator[Path]:
    """A temp path for a library that writes to paths, committed to `path` when the block ends.

    Example: `with output_path(out) as tmp: frame.write_parquet(tmp)`. Discarded if the block raises.
    """
    out = Output(path, inputs=inputs, durable=durable, field=field)
    tmp = out.temp_path()
    try:
        yield tmp
    except BaseException:
        out.discard()
        raise
    out.commit()


def write_bytes(
    path: PathLike, data: bytes, *, inputs: Iterable[PathLike | None] = (), durable: bool = True,
    field: str | None = None,
) -> Path:  # fmt: skip
    """Write `data` to `path` safely (see the module docstring); returns the path as given."""
    with open_output(path, "wb", inputs=inputs, durable=durable, field=field) as fh:
        fh.write(data)
    return Path(path)


def write_text(
    path: PathLike, text: str, *, inputs: Iterable[PathLike | None] = (), durable: bool = True,
    field: str | None = None, encoding: str = "utf-8",
) -> Path:  # fmt: skip
    """Write `text` to `path` safely (see the module docstring); returns the path as given."""
    with open_output(path, "w", inputs=inputs, durable=durable, field=field, encoding=encoding, newline="") as fh:
        fh.write(text)
    return Path(path)


def copy_file(src: PathLike, dest: PathLike, *, durable: bool = True, field: str | None = None) -> Path:
    """Copy `src`'s bytes to `dest` safely (a copy, never a link); `dest` may not be `src` itself.

    A `dest` that is a hard link to `src` is replaced by a real copy (the rename leaves `src` intact),
    so a linked copy handed out earlier stops sharing bytes with its source.
    """
    out = Output(dest, durable=durable, field=field)
    if out.target.real is not None and os.path.realpath(src) == str(out.target.real):
        raise OutputError(
            f"is the file being copied ({os.fspath(src)})", file=os.fspath(dest), field=field,
            hint="copy to another path",
        )  # fmt: skip
    try:
        if out.target.kind == "file":
            shutil.copyfile(src, out.temp_path())  # sendfile / copy_file_range where the OS has them
        else:
            with open(src, "rb") as fin:
                shutil.copyfileobj(fin, out.open("wb"), _CHUNK)
    except BaseException:
        out.discard()
        raise
    return out.commit()
