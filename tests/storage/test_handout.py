"""Copies that hold (issue 14, item 5): what the store hands out is a copy, and a long-running process
re-verifies what it verified before.

`storage get` and MCP `download_file` handed out hard links to blobs: editing the "copy" as root (or
after a chmod) changed the only stored copy. A blob verified once was trusted while its inode, size
and mtime stayed the same, so a changed byte with the mtime put back was served.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prsgazer.assets import Vcf
from prsgazer.cli import main
from prsgazer.errors import IntegrityError
from prsgazer.storage import LocalStore, cid_of_bytes, cid_of_file


def _edit(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)  # what a user (or root, who needs no chmod) does to a file they were given
    path.write_bytes(data)


@pytest.mark.parametrize("how", [[], ["--out", "{dir}"]])
def test_storage_get_hands_out_a_copy(how: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "me.vcf"
    f.write_bytes(b"the only stored copy")
    assert main(["storage", "put", str(f), "--asset", "vcf"]) == 0
    cid = capsys.readouterr().out.strip()
    (tmp_path / "dir").mkdir()
    assert main(["storage", "get", cid, *[a.format(dir=tmp_path / "dir") for a in how]]) == 0
    got = Path(capsys.readouterr().out.strip())
    from prsgazer.storage import default_store

    blob = default_store().blob_path(cid)
    assert got.read_bytes() == b"the only stored copy"
    assert os.stat(got).st_ino != os.stat(blob).st_ino and os.stat(got).st_nlink == 1
    _edit(got, b"edited by its owner")
    assert cid_of_file(blob) == cid
    assert main(["storage", "check"]) == 0
    capsys.readouterr()
    # asking again gives the stored bytes, not the edited copy
    assert main(["storage", "get", cid, *[a.format(dir=tmp_path / "dir") for a in how]]) == 0
    assert Path(capsys.readouterr().out.strip()).read_bytes() == b"the only stored copy"


def test_storage_get_to_a_file_name_brings_the_companions_under_that_name(
    synth_panel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`storage get PANEL --out ref.pgen` gives ref.pvar and ref.psam beside it (a fileset plink2 and
    `score --reference ref.pvar` can read); `--no-companions` gives the one file."""
    from prsgazer.storage import default_store
    from prsgazer.storage.plink import put_pfile

    info, _ = synth_panel
    panel = put_pfile(default_store(), info.prefix, "reference_panel", panel="p", genome_build="GRCh38")
    assert main(["storage", "get", panel.cid, "--out", str(tmp_path / "ref.pgen")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ref.pgen")
    for ext in (".pgen", ".pvar", ".psam"):
        assert (tmp_path / f"ref{ext}").read_bytes() == Path(f"{info.prefix}{ext}").read_bytes()
    assert main(["storage", "get", panel.cid, "--out", str(tmp_path / "one.pgen"), "--no-companions"]) == 0
    assert sorted(p.name for p in tmp_path.glob("one.*")) == ["one.pgen"]


def test_export_copies_companions_too(store: LocalStore, synth_panel, tmp_path: Path) -> None:
    from prsgazer.storage.plink import put_pfile

    info, _ = synth_panel
    panel = put_pfile(store, info.prefix, "reference_panel", panel="p", genome_build="GRCh38")
    got = store.export(panel.cid, tmp_path / "out")
    assert got.path is not None
    for ext in (".pgen", ".pvar", ".psam"):
        copy = Path(got.path).with_suffix(ext)
        assert copy.exists() and os.stat(copy).st_nlink == 1
    _edit(Path(got.path), b"not a pgen any more")
    assert store.check()["corrupt"] == []


def test_a_changed_byte_with_the_same_mtime_is_not_served(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "a.vcf"
    src.write_bytes(b"ACGT" * 1000)
    cid = store.upload(Vcf(path=src)).cid
    store.get(cid)  # verified once by this (long-running) process
    blob = store.blob_path(cid)
    st = os.stat(blob)
    _edit(blob, b"ACGA" + b"ACGT" * 999)  # same size
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the mtime put back
    assert (os.stat(blob).st_ino, os.stat(blob).st_size, os.stat(blob).st_mtime_ns) == (
        st.st_ino, st.st_size, st.st_mtime_ns)  # fmt: skip
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get(cid)
    assert not blob.exists()


def test_verified_blobs_are_rehashed_after_the_reverify_interval(tmp_path: Path, monkeypatch) -> None:
    import prsgazer.storage.local as local

    hashed: list[str] = []
    real = local.cid_of_file

    def counting(path):  # type: ignore[no-untyped-def]
        hashed.append(str(path))
        return real(path)

    monkeypatch.setattr(local, "cid_of_file", counting)
    src = tmp_path / "a.vcf"
    src.write_bytes(b"bytes")
    for after, rehashes in ((3600.0, 0), (0.0, 3)):
        store = LocalStore(tmp_path / f"s{after}", reverify_after=after)
        cid = store.upload(Vcf(path=src)).cid
        hashed.clear()
        for _ in range(3):
            store.get(cid)
        assert len(hashed) == rehashes
    assert cid == cid_of_bytes(b"bytes")


def test_the_setting_reaches_the_default_store(monkeypatch) -> None:
    from prsgazer import storage
    from prsgazer.config import reset_settings

    monkeypatch.setenv("PRSGAZER_REVERIFY_SECONDS", "42")
    reset_settings()
    storage._stores.clear()
    assert storage.default_store().reverify_after == 42.0
