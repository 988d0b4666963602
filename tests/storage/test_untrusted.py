"""A remote is untrusted (issue 14, item 2): every field that comes from it is checked before use.

A record on a shared `file://` remote names a file `../../../victim`; the store must never write
outside its own folders because of it, whichever door reads it (`storage get`, `Store.fetch`,
`download`, `pull`, sync). CIDs in lineage fields are CIDs; bytes must hash to their CID; bundle
names are names, never paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prsgazer.assets import Vcf
from prsgazer.cli import main
from prsgazer.errors import PrsgazerError, StorageError
from prsgazer.storage import Store, cid_of_bytes, remote_from_url


def _shared_with_bad_record(tmp_path: Path, field: str, value: object) -> tuple[str, str]:
    """A file:// remote holding one stored VCF whose record's `field` was changed to `value` on the remote."""
    url = f"file://{tmp_path}/shared"
    src = tmp_path / "me.vcf.gz"
    src.write_bytes(b"genotype bytes of a person")
    a = Store(tmp_path / "podA", remote=remote_from_url(url), ttl=0).upload(Vcf(path=src, sample_id="P"))
    rec_file = tmp_path / "shared" / "records" / f"{a.cid}.json"
    rec = json.loads(rec_file.read_text())
    rec[field] = value
    rec_file.write_text(json.dumps(rec))
    return url, a.cid


def test_storage_get_never_writes_outside_the_store_for_a_remote_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reproduction: `storage get` with a remote record naming `../../../victim` overwrote a file."""
    url, cid = _shared_with_bad_record(tmp_path, "filename", "../../../victim")
    home = tmp_path / "pods" / "podB" / "home"
    victim = home / "files" / cid / "../../../victim"  # where the name leads from the store's own folders
    victim.resolve().parent.mkdir(parents=True, exist_ok=True)
    victim.resolve().write_text("precious")
    monkeypatch.setenv("PRSGAZER_HOME", str(home))
    monkeypatch.setenv("PRSGAZER_REMOTE", url)
    monkeypatch.setenv("PRSGAZER_REMOTE_TTL", "0")
    assert main(["storage", "get", cid]) != 0
    err = capsys.readouterr().err
    assert "not a plain file name" in err and "../../../victim" in err
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["storage", "get", cid, "--out", str(out_dir)]) != 0
    assert victim.resolve().read_text() == "precious"
    assert list(out_dir.iterdir()) == []
    assert not (tmp_path / "victim").exists() and not (tmp_path / "pods" / "victim").exists()


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("filename", "../../../victim", "not a plain file name"),
        ("filename", "/etc/passwd", "not a plain file name"),
        ("filename", "a\x00b", "not a plain file name"),
        ("filename", "..", "not a plain file name"),
        ("vcf_cid", "../../blobs/x", "is not a CID"),
        ("size", "lots", "is not a byte count"),
    ],
)
def test_every_way_of_reading_a_bad_remote_record_refuses_it(
    tmp_path: Path, field: str, value: object, needle: str
) -> None:
    url, cid = _shared_with_bad_record(tmp_path, field, value)
    b = Store(tmp_path / "podB", remote=remote_from_url(url), ttl=0)
    for read in (lambda: b.record(cid), lambda: b.fetch(cid), lambda: b.export(cid, tmp_path / "dst"),
                 lambda: b.download(cid, tmp_path / "dst2"), lambda: b.pull([cid])):  # fmt: skip
        with pytest.raises(StorageError, match=needle):
            read()
    # a sync skips it (a warning, not a stop) and keeps nothing of it
    assert b.sync(force=True).added == [] and b.query(asset="vcf") == []
    assert not (tmp_path / "victim").exists() and not (tmp_path / "dst").exists()


def test_a_bad_name_already_in_local_metadata_is_refused_before_any_path_is_built(store, tmp_path: Path) -> None:
    src = tmp_path / "x.vcf"
    src.write_bytes(b"x")
    a = store.upload(Vcf(path=src))
    data = json.loads(store.meta_path.read_text())
    for doc in data["assets"].values():
        doc["filename"] = "../../escape.vcf"
    store.meta_path.write_text(json.dumps(data))
    for read in (lambda: store.fetch(a.cid), lambda: store.export(a.cid), lambda: store.download(a.cid)):
        with pytest.raises(StorageError, match="not a plain file name"):
            read()
    assert not (store.root / "escape.vcf").exists() and not (store.root.parent / "escape.vcf").exists()


def test_uploads_refuse_a_file_name_that_is_not_plain(store, tmp_path: Path) -> None:
    src = tmp_path / "x.vcf"
    src.write_bytes(b"x")
    with pytest.raises(PrsgazerError, match="not a plain file name"):
        store.upload(Vcf(path=src, filename="../x.vcf"))
    assert store.query() == []


def test_a_remote_blob_must_hash_to_its_cid(tmp_path: Path) -> None:
    url, cid = _shared_with_bad_record(tmp_path, "sample_id", "still fine")
    (tmp_path / "shared" / "blobs" / cid).write_bytes(b"other bytes")
    b = Store(tmp_path / "podB", remote=remote_from_url(url), ttl=0)
    with pytest.raises(PrsgazerError, match="corrupt copy"):
        b.export(cid, tmp_path / "dst")
    assert not b.blob_path(cid).exists() and not (tmp_path / "dst" / "me.vcf.gz").exists()
    assert cid != cid_of_bytes(b"other bytes")


@pytest.mark.parametrize("name", ["../../elsewhere", "demo/../demo", ".hidden", "a\x00b", "{planted}"])
def test_bundle_names_are_names_not_paths(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`fetch_bundle` accepted a path as a name: a manifest anywhere (here one planted in a temp dir,
    named by its absolute path) was loaded and its recipe run."""
    from prsgazer.bundles import fetch_bundle, load_bundle

    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "manifest.json").write_text(json.dumps({"name": "x", "description": "planted"}))
    name = name.format(planted=planted)
    with pytest.raises(PrsgazerError, match="not a bundle name"):
        load_bundle(name)
    with pytest.raises(PrsgazerError, match="not a bundle name"):
        fetch_bundle(name)
    if "\x00" not in name:  # a NUL cannot be passed on a command line
        assert main(["bundle", "fetch", name]) == 2
        assert "not a bundle name" in capsys.readouterr().err


def test_bundle_manifests_hold_cids_and_plain_names(tmp_path: Path) -> None:
    from prsgazer.bundles import Bundle

    with pytest.raises(ValueError, match="not a plain file name"):
        Bundle.model_validate({"name": "x", "description": "", "assets": [
            {"role": "r", "asset": "vcf", "filename": "../x"}]})  # fmt: skip
    with pytest.raises(ValueError, match="not a CID"):
        Bundle.model_validate({"name": "x", "description": "", "assets": [
            {"role": "r", "asset": "vcf", "cid": "x/.."}]})  # fmt: skip
