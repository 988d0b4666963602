"""prsgazer.fileio, the one safe writer: regular files (atomic, umask), symlinks written through, FIFOs and
character devices streamed, `-` as standard output, directories and inputs refused, no partial file after a
failure or `kill -9`.

No test here writes to /dev/null or any other real device: the device branch is exercised on a pseudo
terminal this test opens itself (os.openpty), and /dev/null is only stat-ed by `check_output`.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from prsgazer import fileio
from prsgazer.errors import InputError, OutputError
from prsgazer.fileio import (
    Output,
    check_output,
    copy_file,
    open_output,
    output_path,
    publish,
    stale_temps,
    write_bytes,
    write_text,
)


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask whatever the test set."""
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield
    finally:
        os.umask(old)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if fileio.is_temp_name(p.name))


# --------------------------------------------------------------------------------------------------
# regular files


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_new_file_content_and_mode_follow_the_umask(tmp_path: Path, umask: None, mask: int) -> None:
    os.umask(mask)
    out = tmp_path / "deep" / "er" / "out.tsv"  # parents are created
    write_text(out, "a\tb\n1\t2\n")
    assert out.read_text() == "a\tb\n1\t2\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    with output_path(tmp_path / "lib.bin") as tmp:  # a library writing to a path
        tmp.write_bytes(b"\x00\x01")
    assert stat.S_IMODE((tmp_path / "lib.bin").stat().st_mode) == 0o666 & ~mask
    assert (tmp_path / "lib.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == [] and _leftovers(out.parent) == []


def test_replacing_a_file_is_atomic_and_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    out.chmod(0o640)
    before = out.stat().st_ino
    os.umask(0o000)
    write_bytes(out, b"new\n")
    assert out.read_bytes() == b"new\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # as the shell's `>` would leave it
    assert out.stat().st_ino != before  # a new inode renamed into place, not rewritten in place
    out.chmod(0o444)
    with output_path(out) as tmp:
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o644  # never wider than the file it replaces (+ owner rw)
        tmp.write_bytes(b"newer\n")
    assert out.read_bytes() == b"newer\n" and stat.S_IMODE(out.stat().st_mode) == 0o444
    assert _leftovers(tmp_path) == []


def test_text_mode_and_encoding(tmp_path: Path) -> None:
    out = tmp_path / "t.txt"
    with open_output(out, "w") as fh:
        fh.write("β-naïve\n")
    assert out.read_bytes() == "β-naïve\n".encode()


def test_hard_linked_destination_is_replaced_not_written_through(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("shared\n")
    out = tmp_path / "out.txt"
    os.link(other, out)
    write_text(out, "mine\n")
    assert out.read_text() == "mine\n" and other.read_text() == "shared\n"


# --------------------------------------------------------------------------------------------------
# symlinks


def test_symlink_stays_a_link_and_its_target_gets_the_bytes(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "target.tsv"
    target.write_text("old\n")
    links = tmp_path / "links"
    links.mkdir()
    link = links / "out.tsv"
    link.symlink_to(Path("..") / "real" / "target.tsv")  # relative, as users make them
    chain = links / "chain.tsv"
    chain.symlink_to(link)
    write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "real" / "target.tsv")
    assert target.read_text() == "new\n" and not target.is_symlink()
    write_text(chain, "newer\n")  # a chain of links too
    assert chain.is_symlink() and link.is_symlink() and target.read_text() == "newer\n"
    with output_path(link) as tmp:
        assert tmp.parent == real_dir  # the temp file sits beside the TARGET: the rename stays on its disk
        tmp.write_text("from a library\n")
    assert link.is_symlink() and target.read_text() == "from a library\n"
    assert _leftovers(real_dir) == [] and _leftovers(links) == []


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "out.tsv"
    link.symlink_to(tmp_path / "made" / "later.tsv")
    write_text(link, "x\n")
    assert link.is_symlink() and (tmp_path / "made" / "later.tsv").read_text() == "x\n"


def test_symlink_loop_is_an_input_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OutputError, match="symlink loop"):
        write_text(a, "x")


# --------------------------------------------------------------------------------------------------
# FIFOs, character devices, standard output


def _read_fifo(fifo: Path, got: dict[str, bytes]) -> threading.Thread:
    def reader() -> None:
        with open(fifo, "rb") as fh:
            got["data"] = fh.read()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("how", ["write_bytes", "output_path"])
def test_fifo_is_streamed_to_not_replaced(tmp_path: Path, how: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    payload = bytes(random.Random(1).randbytes(3 << 20))  # larger than a pipe buffer: really streamed
    got: dict[str, bytes] = {}
    t = _read_fifo(fifo, got)
    if how == "write_bytes":
        write_bytes(fifo, payload)
    else:
        with output_path(fifo) as tmp:
            assert tmp.parent != tmp_path  # the library writes a temp file elsewhere, then it is streamed
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o600  # private while it waits in the shared temp dir
            tmp.write_bytes(payload)
    t.join(30)
    assert got["data"] == payload
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_fifo_through_a_symlink(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.tsv"
    link.symlink_to(fifo)
    got: dict[str, bytes] = {}
    t = _read_fifo(fifo, got)
    write_text(link, "via link\n")
    t.join(30)
    assert got["data"] == b"via link\n" and link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_character_device_is_written_in_place_on_a_pty(tmp_path: Path) -> None:
    master, slave = os.openpty()  # our own pseudo terminal: a character device we may write to
    try:
        tty.setraw(slave)  # no output processing ("\n" stays "\n")
        name = os.ttyname(slave)
        assert stat.S_ISCHR(os.stat(name).st_mode)
        assert check_output(name).kind == "stream"
        write_bytes(name, b"first\n")
        with output_path(name) as tmp:
            tmp.write_bytes(b"second\n")
        got = b""
        deadline = time.monotonic() + 10
        while len(got) < len(b"first\nsecond\n") and time.monotonic() < deadline:
            got += os.read(master, 1024)
        assert got == b"first\nsecond\n"
        assert stat.S_ISCHR(os.stat(name).st_mode)  # still the device
    finally:
        os.close(master)
        os.close(slave)


def test_dev_null_is_dispatched_as_a_stream_never_replaced() -> None:
    # Only stat-ed: the write path for it is the one the pty test exercises (open O_WRONLY, no O_CREAT).
    before = os.stat("/dev/null")
    target = check_output("/dev/null")
    assert target.kind == "stream" and target.real == Path("/dev/null")
    out = Output("/dev/null")
    out.discard()  # nothing was opened: a stream target creates no temp file and nothing at the path
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_dash_is_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_text("-", "a\tb\n")
    with output_path("-") as tmp:
        tmp.write_bytes(b"1\t2\n")
    with open_output("-", "wb") as fh:
        fh.write(b"3\t4\n")
    assert capsys.readouterr().out == "a\tb\n1\t2\n3\t4\n"
    assert list(tmp_path.iterdir()) == []  # no file named '-'


def test_dash_is_standard_output_bytes_in_a_subprocess(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4096
    code = textwrap.dedent(
        """
        import sys
        from prsgazer.fileio import output_path, write_bytes
        data = bytes(range(256)) * 4096
        print("text first", flush=True)
        write_bytes("-", data)
        with output_path("-") as tmp:
            tmp.write_bytes(data)
        """
    )
    got = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60, check=True)
    assert got.stdout == b"text first\n" + payload + payload
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# refused outputs


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    d = tmp_path / "results"
    d.mkdir()
    with pytest.raises(OutputError, match="is a directory") as exc:
        write_text(d, "x", field="--out")
    assert isinstance(exc.value, InputError) and exc.value.exit_code == 2
    assert str(d) in str(exc.value) and "--out" in str(exc.value)
    link = tmp_path / "to-dir"
    link.symlink_to(d)
    with pytest.raises(OutputError, match="is a directory"):
        check_output(link)
    with pytest.raises(OutputError, match="names a directory"):
        check_output(str(tmp_path / "new") + "/")
    assert list(d.iterdir()) == []


def test_parent_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("keep")
    with pytest.raises(OutputError, match="not a directory"):
        write_text(f / "sub" / "out.tsv", "x")
    assert f.read_text() == "keep"


def test_socket_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a short relative name: AF_UNIX paths are limited to ~108 bytes
    with socket.socket(socket.AF_UNIX) as s:
        s.bind("s.sock")
        with pytest.raises(OutputError, match="socket"):
            write_text("s.sock", "x")
    assert stat.S_ISSOCK(os.lstat(tmp_path / "s.sock").st_mode)


def test_empty_path_is_an_input_error() -> None:
    with pytest.raises(OutputError, match="empty"):
        check_output("")


def test_output_equal_to_an_input_is_refused(tmp_path: Path) -> None:
    inp = tmp_path / "in.tsv"
    inp.write_text("precious\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    link = tmp_path / "link.tsv"
    link.symlink_to(inp)
    hard = tmp_path / "hard.tsv"
    os.link(inp, hard)
    aliases = [inp, str(inp), sub / ".." / "in.tsv", link, hard]
    for out in aliases:
        with pytest.raises(OutputError, match="same file as the input") as exc:
            write_text(out, "clobbered\n", inputs=[None, tmp_path / "other", inp], field="--out")
        assert exc.value.exit_code == 2 and "--out" in str(exc.value)
    # and the other way round: the input named through a link, the output by its real name
    with pytest.raises(OutputError, match="same file as the input"):
        check_output(inp, inputs=[link])
    with pytest.raises(OutputError, match="same file as the input"):  # neither exists yet: compared by path
        check_output(tmp_path / "new.tsv", inputs=[sub / ".." / "new.tsv"])
    assert inp.read_text() == "precious\n" and link.is_symlink() and hard.read_text() == "precious\n"
    assert _leftovers(tmp_path) == []
    write_text(tmp_path / "fine.tsv", "ok\n", inputs=[inp, link, hard, "-"])  # a different file is fine


# --------------------------------------------------------------------------------------------------
# failures


@pytest.mark.parametrize("how", ["open_output", "output_path"])
def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, how: str) -> None:
    out = tmp_path / "out.tsv"
    out.write_text("old\n")
    new = tmp_path / "new.tsv"
    for dest in (out, new):
        with pytest.raises(RuntimeError, match="boom"):
            if how == "open_output":
                with open_output(dest, "w") as fh:
                    fh.write("half of the new")
                    raise RuntimeError("boom")
            else:
                with output_path(dest) as tmp:
                    tmp.write_text("half of the new")
                    raise RuntimeError("boom")
    assert out.read_text() == "old\n" and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_output_object_commit_discard_once(tmp_path: Path) -> None:
    out = Output(tmp_path / "a.txt")
    out.open("wb").write(b"x")
    assert out.commit() == tmp_path / "a.txt"
    with pytest.raises(RuntimeError):
        out.commit()
    dropped = Output(tmp_path / "b.txt")
    dropped.temp_path().write_bytes(b"y")
    dropped.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with pytest.raises(ValueError, match="mode"):
        Output(tmp_path / "c.txt").open("a")


_WRITER = """
import sys
from prsgazer.fileio import open_output

path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
i = 0
while True:
    i += 1
    with open_output(path, "wb") as fh:
        for k in range(n):
            fh.write(bytes([65 + i % 26]) * 65536)
            if mode == "stall" and k == n // 2:
                print("half", flush=True)
                sys.stdin.read()  # wait, half written, to be killed
    if i == 1:
        print("ready", flush=True)
"""


def _writer(tmp_path: Path, out: Path, n: int, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out), str(n), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=tmp_path,
    )


def test_sigkill_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    out.write_bytes(b"old content\n")
    with _writer(tmp_path, out, 8, "stall") as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"half\n"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    assert out.read_bytes() == b"old content\n"
    stale = stale_temps(tmp_path)  # the killed writer's temp file, findable for a sweep
    assert len(stale) == 1 and stale[0].name.startswith(".out.bin.") and stale[0].name.endswith(".tmp")
    assert stale[0].stat().st_size > 0


def test_sigkill_at_random_times_never_leaves_a_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    old = b"old content\n"
    n = 16
    rng = random.Random(7)
    seen_new = 0
    for _ in range(12):
        out.write_bytes(old)
        with _writer(tmp_path, out, n, "loop") as proc:
            try:
                assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # one full write done
                time.sleep(rng.uniform(0, 0.15))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
        data = out.read_bytes()
        assert data == old or (len(data) == n * 65536 and len(set(data)) == 1), (len(data), set(data))
        seen_new += data != old
        for p in stale_temps(tmp_path):
            p.unlink()
    assert seen_new > 0  # the writer did get files in between the kills
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# the primitives other modules use


def test_publish_sets_mode_and_renames(tmp_path: Path) -> None:
    tmp = tmp_path / fileio.temp_name("blob")
    tmp.write_bytes(b"abc")
    publish(tmp, tmp_path / "blob", mode=0o444)
    assert (tmp_path / "blob").read_bytes() == b"abc" and stat.S_IMODE((tmp_path / "blob").stat().st_mode) == 0o444
    assert not tmp.exists()
    missing = tmp_path / fileio.temp_name("x")
    missing.write_bytes(b"x")
    with pytest.raises(OSError):
        publish(missing, tmp_path / "no" / "such" / "dir" / "x")
    assert not missing.exists()  # a failed publish removes its temp file


def test_copy_file_copies_and_replaces_a_hard_link_to_its_source(tmp_path: Path, umask: None) -> None:
    os.umask(0o022)
    src = tmp_path / "blob"
    src.write_bytes(b"stored bytes")
    src.chmod(0o444)
    dest = tmp_path / "copy.bin"
    os.link(src, dest)  # a copy handed out earlier as a hard link
    copy_file(src, dest)
    assert dest.read_bytes() == b"stored bytes" and dest.stat().st_ino != src.stat().st_ino
    with pytest.raises(OutputError, match="being copied"):
        copy_file(src, src)
    fresh = tmp_path / "fresh.bin"
    copy_file(src, fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # the umask, not the read-only blob's mode


def test_stale_temps_skips_live_writers_and_other_files(tmp_path: Path) -> None:
    live = tmp_path / fileio.temp_name("x")  # this process: alive
    live.write_bytes(b"")
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    dead = tmp_path / f".x.{dead_pid}.0123abcd.tmp"
    dead.write_bytes(b"")
    (tmp_path / "x.tmp").write_bytes(b"")
    (tmp_path / ".x.tmp").write_bytes(b"")
    assert stale_temps(tmp_path) == [dead]


def test_long_and_multibyte_names_get_valid_temp_names(tmp_path: Path) -> None:
    name = "é" * 120 + ".tsv"  # 244 bytes: a temp name repeating it whole would pass the 255-byte limit
    write_text(tmp_path / name, "x\n")
    assert (tmp_path / name).read_text() == "x\n" and [p.name for p in tmp_path.iterdir()] == [name]
    assert fileio.is_temp_name(fileio.temp_name(name)) and len(os.fsencode(fileio.temp_name(name))) < 255
