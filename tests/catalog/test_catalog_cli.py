"""`prsgazer catalog …` end to end against the fake catalog (exit codes, JSON, offline search)."""

from __future__ import annotations

import json

import pytest

from prsgazer.cli import main
from prsgazer.config import reset_settings
from prsgazer.storage import cid_of_bytes, is_cid

from .catalog_fake import FakeCatalog


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", "http://127.0.0.1:9/rest/")
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", "http://127.0.0.1:9/pub/databases/spot/pgs/")
    reset_settings()


def test_metadata_pull_then_search_offline(online: FakeCatalog, capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, "catalog", "metadata", "pull")
    assert code == 0 and "release 2024-06-11" in out and "scores: 5 rows" in out
    go_offline(monkeypatch)
    code, out, _ = run(capsys, "catalog", "search", "breast", "cancer", "--json")
    assert code == 0
    hits = json.loads(out)
    assert [h["pgs_id"] for h in hits] == ["PGS000001", "PGS000002"]
    code, out, _ = run(capsys, "catalog", "search", "cancer", "--min-variants", "50", "--ancestry", "EAS", "--json")
    assert code == 0 and [h["pgs_id"] for h in json.loads(out)] == ["PGS000001"]
    code, out, _ = run(capsys, "catalog", "search", "cancer")
    assert code == 0 and "3 score(s) · catalog release 2024-06-11" in out
    code, out, _ = run(capsys, "catalog", "traits", "breast", "--json")
    assert code == 0 and [t["efo_id"] for t in json.loads(out)] == ["EFO_0000305", "EFO_1000649"]
    code, out, _ = run(capsys, "catalog", "metadata", "status", "--json")
    assert code == 0 and json.loads(out)["release"] == "2024-06-11"
    code, out, _ = run(capsys, "catalog", "metadata", "pull")
    assert code == 0 and "already stored" in out


def test_search_without_metadata_says_what_to_do(env, capsys) -> None:
    code, _, err = run(capsys, "catalog", "search", "breast")
    assert code == 2
    assert "no PGS Catalog metadata is stored" in err and "catalog metadata pull" in err


def test_download_prints_cids(online: FakeCatalog, capsys) -> None:
    code, out, err = run(capsys, "catalog", "download", "PGS000001", "PGS000002", "--build", "GRCh38")
    assert code == 0, err
    cids = out.split()
    assert cids == [
        cid_of_bytes(online.files[FakeCatalog.file_path("PGS000001", "GRCh38")]),
        cid_of_bytes(online.files[FakeCatalog.file_path("PGS000002", "GRCh38")]),
    ]
    assert all(is_cid(c) for c in cids)
    code, out, _ = run(capsys, "catalog", "download", "PGS000001", "--build", "GRCh38", "--json")
    rec = json.loads(out)[0]
    assert code == 0 and rec["cached"] is True and rec["cid"] == cids[0] and rec["hm_build"] == "GRCh38"
    code, out, _ = run(capsys, "catalog", "download", "PGS001229", "--author-reported")
    assert code == 0 and is_cid(out.strip())


def test_download_input_errors_exit_2(online: FakeCatalog, capsys) -> None:
    code, _, err = run(capsys, "catalog", "download", "PGS000001")
    assert code == 2 and "--build GRCh37 or GRCh38" in err
    code, _, err = run(capsys, "catalog", "download", "PGS12", "--build", "GRCh37")
    assert code == 2 and "not a PGS Catalog score id" in err
    code, _, err = run(capsys, "catalog", "download", "PGS000802", "--build", "GRCh38")
    assert code == 2 and "no such file" in err
    assert online.hits and all(h.path.startswith("/pub/databases/spot/pgs/scores/PGS000802") for h in online.hits)


def test_download_failure_exit_1(online: FakeCatalog, capsys) -> None:
    online.serve_md5 = False
    online.add_fault(FakeCatalog.file_path("PGS000001", "GRCh37"), "truncate_gzip", times=10)
    code, out, err = run(capsys, "catalog", "download", "PGS000001", "--build", "GRCh37")
    assert code == 1 and out == ""
    assert "gave up" in err and "nothing was stored" in err


def test_info(online: FakeCatalog, capsys) -> None:
    code, out, _ = run(capsys, "catalog", "info", "PGS000001", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["best"]["ppm_id"] == "PPM000001"
    assert info["best"]["quality"]["label"] == "modest" and info["best"]["quality"]["metric"] == "C-index"
    assert info["best"]["effects"][0]["text"] == "OR 1.55 (95% CI 1.52–1.58)"
    assert info["files"]["GRCh37"].endswith("PGS000001_hmPOS_GRCh37.txt.gz")
    code, out, _ = run(capsys, "catalog", "info", "PGS000001", "--ancestry", "EAS", "--json")
    assert json.loads(out)["best"]["ppm_id"] == "PPM000002"
    code, out, _ = run(capsys, "catalog", "info", "PGS001229")
    assert code == 0 and "PGS001229 GBE_INI50 — Standing height" in out and "variants: 51,209" in out
    code, out, _ = run(capsys, "catalog", "info", "PGS001229", "--json")
    effects = [e["text"] for ev in json.loads(out)["evaluations"] for e in ev["effects"]]
    assert effects == ["β 0.50 (95% CI 0.49–0.51)", "β -0.70 (SE 0.15)"]
    code, _, err = run(capsys, "catalog", "info", "PGS999999")
    assert code == 2 and "not in the PGS Catalog" in err


def test_online_trait_search_and_unreachable_catalog(online: FakeCatalog, capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, "catalog", "traits", "height", "--online", "--json")
    assert code == 0 and json.loads(out) == [
        {"efo_id": "EFO_0004339", "label": "body height", "n_scores": 1, "n_child_scores": 0}
    ]
    go_offline(monkeypatch)
    import time

    t0 = time.monotonic()
    code, _, err = run(capsys, "catalog", "info", "PGS000001")
    assert time.monotonic() - t0 < 5
    assert code == 3 and "could not be reached (the connection was refused)" in err  # not bad input, not a bug
    assert "stored scoring files" in err
