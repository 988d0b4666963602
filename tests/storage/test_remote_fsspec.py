"""fsspec remotes end to end: `file://` in a tmp dir and S3 through a real moto server on 127.0.0.1.

Two `Store` roots stand for two pods sharing one remote: what one uploads, the other queries, fetches
and verifies; corrupt remote bytes are refused; companions come along; deletes propagate.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from prsgazer.assets import Psam, Pvar, ReferencePanel, Vcf
from prsgazer.cli import main
from prsgazer.config import reset_settings
from prsgazer.errors import IntegrityError, StorageError
from prsgazer.storage import FsspecRemote, Store, cid_of_bytes, cid_of_file, default_store, remote_from_url


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def pod(root: Path, url: str, options: dict[str, Any] | None = None, **kw: Any) -> Store:
    return Store(root, remote=remote_from_url(url, storage_options=options), ttl=0, **kw)


def upload_panel(store: Store, tmp_path: Path) -> ReferencePanel:
    pvar = store.upload(Pvar(path=write(tmp_path, "in/ref.pvar.zst", b"pvar-bytes" * 100), panel="tiny"))
    psam = store.upload(Psam(path=write(tmp_path, "in/ref.psam", b"#IID\tSuperPop\nS1\tEUR\n"), panel="tiny"))
    return store.upload(
        ReferencePanel(
            path=write(tmp_path, "in/ref.pgen", b"pgen-bytes" * 300),
            panel="tiny",
            n_samples=1,
            pvar_cid=pvar.cid,
            psam_cid=psam.cid,
        )
    )  # type: ignore[return-value]


def share_between_two_pods(url: str, tmp_path: Path, options: dict[str, Any] | None = None) -> None:
    """The scenario both fsspec backends must pass."""
    a = pod(tmp_path / "podA", url, options)
    b = pod(tmp_path / "podB", url, options)
    vcf = a.upload(Vcf(path=write(tmp_path, "in/me.vcf.gz", b"vcf-bytes"), sample_id="NA1", genome_build="GRCh38"))
    panel = upload_panel(a, tmp_path)

    # pod B sees A's records without holding any bytes yet
    assert [v.cid for v in b.query(asset="vcf", sample_id="NA1")] == [vcf.cid]
    assert b.one(asset="reference_panel", panel="tiny").cid == panel.cid
    assert not any(b.blobs.iterdir())

    # fetching the panel brings its companions, verified, as one plink2 prefix
    got = b.fetch(panel.cid, tmp_path / "fetched")
    d = tmp_path / "fetched"
    assert sorted(p.name for p in d.iterdir()) == ["ref.pgen", "ref.psam", "ref.pvar.zst"]
    assert got.path == d / "ref.pgen" and got.path.read_bytes() == b"pgen-bytes" * 300
    assert (d / "ref.pvar.zst").read_bytes() == b"pvar-bytes" * 100
    for cid in (panel.cid, panel.pvar_cid, panel.psam_cid):
        assert cid_of_file(b.blob_path(cid)) == cid  # cached locally under its CID, verified
    assert b.get(vcf.cid).path.read_bytes() == b"vcf-bytes"
    assert b.lineage(panel.cid).root.parents[0].asset in {"pvar", "psam"}

    # an update on A shows on B; a delete on B disappears from A and from the remote
    a.update(vcf.cid, sample_id="NA2")
    assert b.one(cid=vcf.cid).sample_id == "NA2"
    b.delete(vcf.cid)
    assert a.query(asset="vcf") == []
    assert not a.remote.has_blob(vcf.cid) and a.remote.get_record(vcf.cid) is None
    assert not a.blob_path(vcf.cid).exists()  # A's cached copy went with the remote delete
    assert b.remote_status()["pending"] == {} and a.remote_status()["pending"] == {}


def test_file_remote_two_pods_share_assets(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/shared"
    share_between_two_pods(url, tmp_path)
    # the layout other tools can rely on: blobs/<cid>, records/<cid>.json, one JSON object each
    shared = tmp_path / "shared"
    blobs = sorted(p.name for p in (shared / "blobs").iterdir())
    records = sorted(p.name for p in (shared / "records").iterdir())
    assert len(blobs) == 3 and records == [f"{c}.json" for c in blobs]
    for c in blobs:
        assert cid_of_file(shared / "blobs" / c) == c
        assert json.loads((shared / "records" / f"{c}.json").read_text())["cid"] == c
    assert list((shared / "tmp").iterdir()) == []  # atomic writes leave nothing behind


def test_s3_two_pods_share_one_bucket(tmp_path: Path, s3_bucket: str, s3_options: dict[str, Any], s3fs_client) -> None:
    url = f"s3://{s3_bucket}/prsgazer"
    share_between_two_pods(url, tmp_path, s3_options)
    keys = sorted(k.split("/", 1)[1] for k in s3fs_client.find(s3_bucket))
    assert len(keys) == 6
    assert {k.split("/")[1] for k in keys} == {"blobs", "records"}


def test_s3_remote_ignores_protocols_other_libraries_registered(
    tmp_path: Path, s3_bucket: str, s3_options: dict[str, Any], s3fs_client
) -> None:
    """Importing Flyte's storage registers obstore's fsspec shim for s3:// process-wide (it rejects
    s3fs options such as `key`); the remote must keep using s3fs with the same options."""
    import flyte.storage._storage  # noqa: F401 - the import is the point: it clobbers fsspec's s3 entry
    import fsspec

    assert "obstore" in fsspec.get_filesystem_class("s3").__module__
    remote = remote_from_url(f"s3://{s3_bucket}/prsgazer", storage_options=s3_options)
    assert type(remote.fs).__module__.startswith("s3fs")
    share_between_two_pods(f"s3://{s3_bucket}/prsgazer", tmp_path, s3_options)


def test_corrupt_s3_blob_is_refused_and_repaired_by_force_push(
    tmp_path: Path, s3_bucket: str, s3_options: dict[str, Any], s3fs_client
) -> None:
    url = f"s3://{s3_bucket}/p"
    a = pod(tmp_path / "podA", url, s3_options)
    b = pod(tmp_path / "podB", url, s3_options)
    vcf = a.upload(Vcf(path=write(tmp_path, "me.vcf", b"the true bytes"), sample_id="S"))
    s3fs_client.pipe(f"{s3_bucket}/p/blobs/{vcf.cid}", b"the WRONG bytes")

    with pytest.raises(IntegrityError) as exc:
        b.get(vcf.cid)
    assert url in str(exc.value) and vcf.cid in str(exc.value) and cid_of_bytes(b"the WRONG bytes") in str(exc.value)
    assert not b.blob_path(vcf.cid).exists() and list(b.tmp.iterdir()) == []  # never cached
    with pytest.raises(IntegrityError):
        b.fetch(vcf.cid, tmp_path / "out")
    assert not (tmp_path / "out" / "me.vcf").exists()

    # a plain push skips the blob (it is "present"); --force re-uploads the verified local bytes
    assert a.push([vcf.cid]).blobs_present == [vcf.cid]
    assert a.push([vcf.cid], force=True).blobs_uploaded == [vcf.cid]
    assert b.get(vcf.cid).path.read_bytes() == b"the true bytes"


def test_s3_configured_from_the_aws_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, s3_bucket: str
) -> None:
    """PRSGAZER_REMOTE plus the standard AWS variables is all a pod needs (botocore reads them)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PRSGAZER_REMOTE", f"s3://{s3_bucket}/env")
    monkeypatch.setenv("PRSGAZER_REMOTE_TTL", "0")
    for name in ("podA", "podB"):
        monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / name))
        reset_settings()
        store = default_store()
        assert isinstance(store.remote, FsspecRemote) and store.remote.url == f"s3://{s3_bucket}/env"
        if name == "podA":
            cid = store.put(write(tmp_path, "x.vcf", b"from the environment"), "vcf", sample_id="E").cid
        else:
            assert store.one(sample_id="E").cid == cid
            assert store.get(cid).path.read_bytes() == b"from the environment"


def test_remote_options_setting_is_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: str, s3_options):
    monkeypatch.setenv("PRSGAZER_REMOTE", f"s3://{s3_bucket}")
    monkeypatch.setenv("PRSGAZER_REMOTE_OPTIONS", json.dumps(s3_options))
    reset_settings()
    store = default_store()
    cid = store.put(write(tmp_path, "y.vcf", b"options from json"), "vcf").cid
    assert store.remote.has_blob(cid)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_s3_is_a_clear_error_and_the_upload_stays_pending(tmp_path: Path) -> None:
    options = {
        "key": "k",
        "secret": "s",
        "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
    }
    store = pod(tmp_path / "pod", "s3://nowhere/p", options)
    with pytest.raises(StorageError) as exc:
        store.upload(Vcf(path=write(tmp_path, "me.vcf", b"local first"), sample_id="S"))
    text = str(exc.value)
    assert "s3://nowhere/p" in text and "pending" in text and "endpoint_url" in text
    cid = cid_of_bytes(b"local first")
    # the bytes are safe locally and the change waits for `storage push`
    assert store.blob_path(cid).exists()
    assert store.remote_status()["pending"] == {cid: "put"}
    with pytest.raises(StorageError, match="nowhere"):
        store.push()


def test_cli_push_false_then_push_and_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    monkeypatch.setenv("PRSGAZER_REMOTE", f"file://{shared}")
    monkeypatch.setenv("PRSGAZER_REMOTE_PUSH", "false")
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "podA"))
    vcf = write(tmp_path, "me.vcf.gz", b"cli bytes")
    assert main(["storage", "put", str(vcf), "--asset", "vcf", "sample_id=NA1"]) == 0
    cid = capsys.readouterr().out.strip()
    assert not (shared / "blobs" / cid).exists()  # not pushed yet

    assert main(["storage", "remote", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == {cid: "put"}
    assert main(["storage", "push"]) == 0
    out = capsys.readouterr().out
    assert "1 blob(s) uploaded" in out and cid in out and "me.vcf.gz" in out
    assert (shared / "blobs" / cid).read_bytes() == b"cli bytes"
    assert main(["storage", "push", "--all"]) == 0
    assert "0 blob(s) uploaded, 1 already there" in capsys.readouterr().out

    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "podB"))
    assert main(["storage", "pull"]) == 0
    assert "1 new" in capsys.readouterr().out
    assert main(["storage", "pull", cid]) == 0
    out = capsys.readouterr().out
    assert "1 downloaded and verified" in out and cid in out
    assert (tmp_path / "podB" / "blobs" / cid).read_bytes() == b"cli bytes"
    assert main(["storage", "ls", "sample_id=NA1", "--json"]) == 0
    assert [r["cid"] for r in json.loads(capsys.readouterr().out)] == [cid]


def test_cli_push_without_remote_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["storage", "push"]) == 2
    assert "PRSGAZER_REMOTE" in capsys.readouterr().err


N_UPLOADS = 6


def _pod_worker(root: str, url: str, proc: int, workdir: str) -> None:
    store = Store(root, remote=remote_from_url(url), ttl=0)
    for i in range(N_UPLOADS):
        p = Path(workdir) / f"p{proc}_{i}.vcf"
        p.write_bytes(f"proc {proc} file {i}\n".encode() * (i + 1))
        store.upload(Vcf(path=p, sample_id=f"P{proc}", source=f"upload-{i}"))
    store.upload(Vcf(path=write(Path(workdir), f"shared{proc}.vcf", b"every pod uploads this"), sample_id="all"))


@pytest.mark.slow
def test_concurrent_pods_and_processes_lose_nothing(tmp_path: Path) -> None:
    """2 pods x 2 processes each, pushing to one file:// remote at once: every record and blob arrives."""
    import multiprocessing as mp

    url = f"file://{tmp_path}/shared"
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_pod_worker, args=(str(tmp_path / f"pod{k // 2}"), url, k, str(tmp_path))) for k in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    expected = {cid_of_bytes(f"proc {k} file {i}\n".encode() * (i + 1)) for k in range(4) for i in range(N_UPLOADS)}
    expected.add(cid_of_bytes(b"every pod uploads this"))
    remote = remote_from_url(url)
    assert set(remote.list_records()) == expected and remote.list_blobs() == expected
    fresh = pod(tmp_path / "fresh", url)
    assert {a.cid for a in fresh.query(asset="vcf")} == expected
    for k in range(2):
        assert Store(tmp_path / f"pod{k}", remote=remote).remote_status()["pending"] == {}
