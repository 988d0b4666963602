"""HfRemote end to end: the real `huggingface_hub` client against a fake Hub on 127.0.0.1 (fakehub.py).

Proves: batched pushes (one commit for many files, blobs before records), pulls verified against the
CID, queries across pods, deletes in one commit, pagination of tree listings, and clear errors for
401 (bad token), a missing repo and a missing blob. The client never takes the LFS or Xet paths
(the fake Hub answers `uploadMode: regular` and sends no Xet headers), checked on the request log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prsgazer.assets import Psam, Pvar, ReferencePanel, Vcf
from prsgazer.config import reset_settings
from prsgazer.errors import IntegrityError, NotFoundError, StorageError
from prsgazer.storage import HfRemote, Store, cid_of_bytes, cid_of_file, default_store, remote_from_url

from .fakehub import FakeHub, git_blob_id

REPO = "lab/prs-store"
URL = f"hf://datasets/{REPO}"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def pod(root: Path, hub: FakeHub, token: str | None = None, url: str = URL, **kw: Any) -> Store:
    remote = remote_from_url(url, hf_token=token or hub.token, hf_endpoint=hub.endpoint)
    kw.setdefault("ttl", 0)
    return Store(root, remote=remote, **kw)


def panel_in(store: Store, tmp_path: Path) -> ReferencePanel:
    pvar = store.upload(Pvar(path=write(tmp_path, "in/ref.pvar.zst", b"pvar" * 50), panel="tiny"))
    psam = store.upload(Psam(path=write(tmp_path, "in/ref.psam", b"#IID\nS1\n"), panel="tiny"))
    return store.upload(
        ReferencePanel(
            path=write(tmp_path, "in/ref.pgen", b"pgen" * 80), panel="tiny", pvar_cid=pvar.cid, psam_cid=psam.cid
        )
    )  # type: ignore[return-value]


def no_lfs_or_xet(hub: FakeHub) -> None:
    for _, path in hub.requests:
        assert "lfs" not in path and "xet" not in path, path


def test_push_batches_into_one_commit_and_pod_b_pulls_and_queries(tmp_path: Path, fake_hub: FakeHub) -> None:
    a = pod(tmp_path / "podA", fake_hub, push=False)
    vcf = a.upload(Vcf(path=write(tmp_path, "in/me.vcf.gz", b"vcf bytes"), sample_id="NA1"))
    panel = panel_in(a, tmp_path)
    assert fake_hub.repos == {}  # push=False: nothing left the pod yet

    report = a.push()
    assert sorted(report.blobs_uploaded) == sorted([vcf.cid, panel.cid, panel.pvar_cid, panel.psam_cid])
    repo = fake_hub.repos[("dataset", REPO)]
    assert repo.private  # genomic data: the repo is created private
    assert len(repo.commits) == 1 and repo.commits[0]["operations"] == 8  # 4 blobs + 4 records, one commit
    assert repo.files[f"blobs/{panel.cid}"] == b"pgen" * 80
    assert json.loads(repo.files[f"records/{vcf.cid}.json"])["sample_id"] == "NA1"
    assert a.remote_status()["pending"] == {}

    b = pod(tmp_path / "podB", fake_hub)
    assert [x.cid for x in b.query(asset="vcf", sample_id="NA1")] == [vcf.cid]
    got = b.fetch(panel.cid, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ref.pgen", "ref.psam", "ref.pvar.zst"]
    assert got.path.read_bytes() == b"pgen" * 80
    for cid in (panel.cid, panel.pvar_cid, panel.psam_cid):
        assert cid_of_file(b.blob_path(cid)) == cid
    no_lfs_or_xet(fake_hub)

    # pushing again moves nothing: blobs present, records unchanged → no commit at all
    again = a.push(all=True)
    assert again.blobs_uploaded == [] and len(again.blobs_present) == 4
    assert len(repo.commits) == 1


def test_upload_with_push_on_write_is_one_commit_per_upload_and_visible_at_once(
    tmp_path: Path, fake_hub: FakeHub
) -> None:
    a = pod(tmp_path / "podA", fake_hub)
    b = pod(tmp_path / "podB", fake_hub)
    vcf = a.upload(Vcf(path=write(tmp_path, "a.vcf", b"A"), sample_id="S"))
    assert len(fake_hub.commits(REPO)) == 1
    assert b.get(vcf.cid).path.read_bytes() == b"A"  # unknown CID: record and bytes pulled on demand

    a.update(vcf.cid, sample_id="T")
    assert b.one(cid=vcf.cid).sample_id == "T"
    b.delete(vcf.cid)
    assert fake_hub.commits(REPO)[-1]["operations"] == 2  # record and blob deleted in one commit
    assert not any(p.endswith(vcf.cid) or vcf.cid in p for p in fake_hub.files(REPO))
    assert a.query(asset="vcf") == []


def test_default_store_from_settings_uses_the_hub(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRSGAZER_REMOTE", f"{URL}/sub/dir")
    monkeypatch.delenv("PRSGAZER_HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN", fake_hub.token)  # the HF_TOKEN fallback
    monkeypatch.setenv("PRSGAZER_HF_ENDPOINT", fake_hub.endpoint)
    reset_settings()
    store = default_store()
    assert isinstance(store.remote, HfRemote) and store.remote.prefix == "sub/dir"
    cid = store.put(write(tmp_path, "x.vcf", b"x"), "vcf").cid
    assert set(fake_hub.files(REPO)) == {f"sub/dir/blobs/{cid}", f"sub/dir/records/{cid}.json"}


def test_listing_follows_pagination(tmp_path: Path, fake_hub: FakeHub) -> None:
    fake_hub.page_size = 2
    a = pod(tmp_path / "podA", fake_hub, push=False)
    cids = [a.upload(Vcf(path=write(tmp_path, f"v{i}.vcf", b"v%d" % i), sample_id=f"S{i}")).cid for i in range(5)]
    a.push()
    b = pod(tmp_path / "podB", fake_hub)
    assert sorted(v.cid for v in b.query(asset="vcf")) == sorted(cids)
    tree_pages = [p for m, p in fake_hub.requests if m == "GET" and "/tree/" in p]
    assert len(tree_pages) == 3  # 5 records, 2 per page


def test_bad_token_is_a_clear_storage_error(tmp_path: Path, fake_hub: FakeHub) -> None:
    good = pod(tmp_path / "good", fake_hub)
    good.upload(Vcf(path=write(tmp_path, "a.vcf", b"A")))
    bad = pod(tmp_path / "bad", fake_hub, token="hf_wrong")
    with pytest.raises(StorageError) as exc:
        bad.query(asset="vcf")
    text = str(exc.value)
    assert "401" in text and URL in text and fake_hub.endpoint in text and "PRSGAZER_HF_TOKEN" in text
    with pytest.raises(StorageError) as exc:
        bad.upload(Vcf(path=write(tmp_path, "b.vcf", b"B")))
    assert "401" in str(exc.value) and "pending" in str(exc.value)
    assert bad.remote_status()["pending"] == {cid_of_bytes(b"B"): "put"}  # kept locally, waiting


def test_read_only_token_reads_but_a_push_is_a_clear_403(tmp_path: Path, fake_hub: FakeHub) -> None:
    a = pod(tmp_path / "podA", fake_hub)
    vcf = a.upload(Vcf(path=write(tmp_path, "a.vcf", b"A"), sample_id="S"))
    fake_hub.read_only_tokens.add("hf_read")
    reader = pod(tmp_path / "reader", fake_hub, token="hf_read")
    assert reader.get(vcf.cid).path.read_bytes() == b"A"
    with pytest.raises(StorageError) as exc:
        reader.upload(Vcf(path=write(tmp_path, "b.vcf", b"B")))
    text = str(exc.value)
    assert "403" in text and "write access" in text and URL in text


def test_unreachable_hub_is_a_clear_storage_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = remote_from_url(URL, hf_token="t", hf_endpoint=f"http://127.0.0.1:{port}")
    store = Store(tmp_path / "pod", remote=remote, ttl=0)
    # record reads and paths-info are single requests (listings go through the client's retry backoff)
    with pytest.raises(StorageError) as exc:
        store.get(cid_of_bytes(b"somewhere else"))
    assert "cannot reach the Hub" in str(exc.value) and "PRSGAZER_HF_ENDPOINT" in str(exc.value)
    with pytest.raises(StorageError, match="cannot reach the Hub"):
        remote.has_blob(cid_of_bytes(b"x"))


def test_missing_repo_and_missing_blob_name_the_remote(tmp_path: Path, fake_hub: FakeHub) -> None:
    nowhere = pod(tmp_path / "p1", fake_hub, url="hf://datasets/lab/no-such-repo")
    with pytest.raises(StorageError) as exc:
        nowhere.query()
    assert "hf://datasets/lab/no-such-repo" in str(exc.value) and "not found" in str(exc.value)

    a = pod(tmp_path / "podA", fake_hub)
    vcf = a.upload(Vcf(path=write(tmp_path, "a.vcf", b"A")))
    del fake_hub.files(REPO)[f"blobs/{vcf.cid}"]  # record without bytes on the Hub
    b = pod(tmp_path / "podB", fake_hub)
    with pytest.raises(NotFoundError) as nf:
        b.get(vcf.cid)
    assert URL in str(nf.value) and vcf.cid in str(nf.value)
    with pytest.raises(NotFoundError, match="nor on remote"):
        b.get(cid_of_bytes(b"never stored anywhere"))


def test_corrupt_blob_on_the_hub_is_refused(tmp_path: Path, fake_hub: FakeHub) -> None:
    a = pod(tmp_path / "podA", fake_hub)
    vcf = a.upload(Vcf(path=write(tmp_path, "a.vcf", b"good bytes")))
    fake_hub.files(REPO)[f"blobs/{vcf.cid}"] = b"evil bytes"
    b = pod(tmp_path / "podB", fake_hub)
    with pytest.raises(IntegrityError) as exc:
        b.get(vcf.cid)
    assert URL in str(exc.value) and cid_of_bytes(b"evil bytes") in str(exc.value)
    assert not b.blob_path(vcf.cid).exists() and list(b.tmp.iterdir()) == []
    a.push([vcf.cid], force=True)
    assert fake_hub.files(REPO)[f"blobs/{vcf.cid}"] == b"good bytes"
    assert b.get(vcf.cid).path.read_bytes() == b"good bytes"


def test_record_version_tag_is_the_hub_blob_id(tmp_path: Path, fake_hub: FakeHub) -> None:
    """What we store as "seen" after a push must equal what the listing reports, or every sync refetches."""
    a = pod(tmp_path / "podA", fake_hub)
    vcf = a.upload(Vcf(path=write(tmp_path, "a.vcf", b"A"), sample_id="S"))
    listing = a.remote.list_records()
    assert listing == {vcf.cid: git_blob_id(fake_hub.files(REPO)[f"records/{vcf.cid}.json"])}
    with a._db() as db:
        assert a._state(db)["seen"][vcf.cid] == listing[vcf.cid]
    before = len(fake_hub.requests)
    a.query()
    fetched = [p for _, p in fake_hub.requests[before:] if "/resolve/" in p]
    assert fetched == []  # nothing changed: the sync lists, fetches nothing
