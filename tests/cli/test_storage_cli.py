"""`prsgazer storage …` end to end, in-process and as a real subprocess (exit codes 0 / 2 / 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prsgazer import __version__
from prsgazer.cli import main
from prsgazer.storage import cid_of_bytes


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"prsgazer {__version__}"


def test_put_ls_get_lineage_rm(capsys, tmp_path: Path) -> None:
    vcf = tmp_path / "me.vcf.gz"
    vcf.write_bytes(b"vcf bytes")
    code, out, err = run(capsys, "storage", "put", str(vcf), "--asset", "vcf", "sample_id=NA1", "n_samples=1")
    assert code == 0, err
    cid = out.strip()
    assert cid == cid_of_bytes(b"vcf bytes")

    res = tmp_path / "res.tsv"
    res.write_bytes(b"sample\tsum\n")
    code, out, err = run(capsys, "storage", "put", str(res), "-a", "prs_result", f"genotypes_cid={cid}", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["asset"] == "prs_result" and rec["genotypes_cid"] == cid

    code, out, _ = run(capsys, "storage", "ls", "asset=vcf", "n_samples=1", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["cid"] for r in rows] == [cid] and rows[0]["sample_id"] == "NA1"

    code, out, _ = run(capsys, "storage", "ls", "asset=vcf", "asset=prs_result", "--json")
    assert {r["asset"] for r in json.loads(out)} == {"vcf", "prs_result"}

    dest = tmp_path / "copy.vcf.gz"
    code, out, _ = run(capsys, "storage", "get", cid, "--out", str(dest))
    assert code == 0 and Path(out.strip()) == dest and dest.read_bytes() == b"vcf bytes"

    code, out, _ = run(capsys, "storage", "lineage", rec["cid"], "--json")
    lin = json.loads(out)
    assert lin["root"]["parents"][0]["cid"] == cid and lin["root"]["parents"][0]["via"] == "genotypes_cid"

    code, out, _ = run(capsys, "storage", "rm", cid)
    assert code == 0
    code, out, _ = run(capsys, "storage", "ls", "asset=vcf", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["storage", "put", "{dir}", "--asset", "vcf"], "is a directory"),
        (["storage", "put", "{dir}/missing.vcf", "--asset", "vcf"], "does not exist"),
        (["storage", "put", "{file}", "--asset", "vfc"], "unknown asset type 'vfc'"),
        (["storage", "put", "{file}", "--asset", "vcf", "colour=red"], "field 'colour'"),
        (["storage", "put", "{file}", "--asset", "vcf", "novalue"], "expected key=value"),
        (["storage", "ls", "colour=red"], "unknown filter key"),
        (["storage", "get", "not-a-cid"], "is not a CID"),
        (["storage", "rm", cid_of_bytes(b"never stored")], "no asset with CID"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(capsys, tmp_path: Path, args: list[str], needle: str) -> None:
    f = tmp_path / "f.vcf"
    f.write_bytes(b"x")
    argv = [a.format(dir=tmp_path, file=f) for a in args]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in " ".join(err.split())


def test_subprocess_exit_codes_and_types(tmp_path: Path) -> None:
    env = {**os.environ, "PRSGAZER_HOME": str(tmp_path / "home")}
    ok = subprocess.run(
        [sys.executable, "-m", "prsgazer", "storage", "types", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    keys = {t["asset"] for t in json.loads(ok.stdout)}
    assert {"vcf", "genotypes", "scoring_file", "reference_panel", "distribution", "prs_result"} <= keys
    bad = subprocess.run(
        [sys.executable, "-m", "prsgazer", "storage", "put", str(tmp_path), "--asset", "vcf"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "is a directory" in bad.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "prsgazer", "storage", "put"], capture_output=True, text=True, env=env
    )
    assert usage.returncode == 2


def test_check_reports_corruption_with_exit_1(capsys, tmp_path: Path) -> None:
    f = tmp_path / "f.vcf"
    f.write_bytes(b"good bytes")
    code, out, _ = run(capsys, "storage", "put", str(f), "--asset", "vcf")
    cid = out.strip()
    from prsgazer.storage import default_store

    blob = default_store().blob_path(cid)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"bad bytes!")
    default_store()._verified.clear()
    code, out, _ = run(capsys, "storage", "check", "--json")
    assert code == 1 and json.loads(out)["corrupt"] == [cid]
