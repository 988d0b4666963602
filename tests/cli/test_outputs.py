"""Where the CLI writes (`score --out/--match-log`, `reference distributions --out`, `storage get --out`):
`-` is standard output, a directory or an input given as the output is exit 2 before any work, a symlink
stays a link, a FIFO is streamed to, and files follow the umask (prsgazer.fileio, issue 12 item 6)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from prsgazer.cli import main
from prsgazer.config import reset_settings
from prsgazer.synthetic.files import random_cohort, random_score, write_pfile, write_scorefile, write_vcf


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    reset_settings()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A plink2 prefix, the same cohort as a VCF, and a scoring file over it."""
    cohort = random_cohort(30, 150, seed=3, chrom="1")
    prefix = write_pfile(cohort, tmp_path / "c")
    vcf = write_vcf(cohort, tmp_path / "c.vcf.gz", contig_lengths={"1": 249250621})
    sf = write_scorefile(random_score(cohort, 80, seed=1).rows, tmp_path / "S.txt", pgs_id="S")
    return prefix, vcf, sf


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield
    finally:
        os.umask(old)


def _snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_ino) for p in paths}


def test_score_out_dash_prints_the_table_on_stdout(files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix, _, sf = files
    assert main(["score", str(prefix), "-s", str(sf), "--out", "ref.tsv"]) == 0
    capsys.readouterr()
    code = main(["score", str(prefix), "-s", str(sf), "--out", "-", "--match-log", "log.tsv"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert cap.out == (tmp_path / "ref.tsv").read_text()  # the table, and nothing else, on stdout
    assert cap.out.startswith("sample_id\tpgs_id\tsum\tavg\tdenom\tn_matched\tn_variants")
    assert len(cap.out.splitlines()) == 1 + 30
    assert "wrote -" in cap.err and (tmp_path / "log.tsv").exists()
    assert not (tmp_path / "-").exists() and not (tmp_path / "-.run.json").exists()  # no provenance "beside" stdout


def test_score_out_dash_in_a_subprocess(files, tmp_path: Path) -> None:
    prefix, _, sf = files
    env = {**os.environ, "PRSGAZER_CACHE_DIR": str(tmp_path / "cache"), "PRSGAZER_HOME": str(tmp_path / "home")}
    args = [sys.executable, "-m", "prsgazer", "score", str(prefix), "-s", str(sf)]
    subprocess.run([*args, "--out", "ref.tsv"], cwd=tmp_path, env=env, capture_output=True, check=True, timeout=300)
    got = subprocess.run([*args, "--out", "-"], cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert got.returncode == 0, got.stderr.decode()
    assert got.stdout == (tmp_path / "ref.tsv").read_bytes()
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("option", ["--out", "--match-log"])
def test_score_output_on_a_directory_exits_2_before_scoring(
    files, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    prefix, _, sf = files
    d = tmp_path / "results"
    d.mkdir()
    args = ["score", str(prefix), "-s", str(sf), "--out", "out.tsv", option, str(d)]
    code = main(args)
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 2, err
    assert str(d) in err and "is a directory" in err and option in err
    assert "Traceback" not in err and "genotypes:" not in err  # refused before the run
    assert list(d.iterdir()) == [] and not (tmp_path / "out.tsv").exists()


@pytest.mark.parametrize(
    "which", ["scorefile", "vcf", "pvar_of_prefix", "symlink_to_scorefile", "hardlink_to_scorefile"]
)
def test_score_out_equal_to_an_input_exits_2_and_keeps_it(
    files, tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    prefix, vcf, sf = files
    genotypes = str(vcf) if which == "vcf" else str(prefix)
    out = {"scorefile": sf, "vcf": vcf, "pvar_of_prefix": Path(f"{prefix}.pvar")}.get(which)
    if which == "symlink_to_scorefile":
        out = tmp_path / "link.tsv"
        out.symlink_to(sf)
    elif which == "hardlink_to_scorefile":
        out = tmp_path / "hard.tsv"
        os.link(sf, out)
    assert out is not None
    inputs = [sf, vcf, *(Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam"))]
    before = _snapshot(inputs)
    code = main(["score", genotypes, "-s", str(sf), "--out", str(out)])
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 2, err
    assert "same file as the input" in err and "--out" in err and str(out) in err
    assert _snapshot(inputs) == before  # bytes and inodes: untouched
    # the match log too
    code = main(["score", genotypes, "-s", str(sf), "--out", "fine.tsv", "--match-log", str(out)])
    assert code == 2 and "--match-log" in capsys.readouterr().err.replace("\n", "")
    assert _snapshot(inputs) == before and not (tmp_path / "fine.tsv").exists()


def test_score_out_symlink_umask_and_fifo(files, tmp_path: Path, capsys, umask: None) -> None:
    prefix, _, sf = files
    os.umask(0o027)
    assert main(["score", str(prefix), "-s", str(sf), "--out", "ref.tsv"]) == 0
    capsys.readouterr()
    ref = (tmp_path / "ref.tsv").read_bytes()
    assert stat.S_IMODE((tmp_path / "ref.tsv").stat().st_mode) == 0o640  # not 0600 whatever the umask
    assert stat.S_IMODE((tmp_path / "ref.tsv.run.json").stat().st_mode) == 0o640  # its provenance too
    # a symlink stays a link; its target gets the table
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "t.tsv"
    target.write_text("old")
    link = tmp_path / "link.tsv"
    link.symlink_to(target)
    assert main(["score", str(prefix), "-s", str(sf), "--out", str(link)]) == 0
    assert link.is_symlink() and target.read_bytes() == ref
    # a FIFO is streamed to
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: dict[str, bytes] = {}

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got["data"] = fh.read()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert main(["score", str(prefix), "-s", str(sf), "--out", str(fifo)]) == 0
    t.join(60)
    assert got["data"] == ref and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert not (tmp_path / "pipe.run.json").exists()  # a stream has no "beside"


def test_reference_distributions_out_checks(files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix, _, sf = files
    d = tmp_path / "dir"
    d.mkdir()
    inputs = [sf, *(Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam"))]
    before = _snapshot(inputs)
    for out, words in [(d, ["is a directory"]), (sf, ["same file as the input"]),
                       (Path(f"{prefix}.psam"), ["same file as the input"])]:  # fmt: skip
        code = main(["reference", "distributions", str(prefix), "-s", str(sf), "--out", str(out)])
        err = capsys.readouterr().err.replace("\n", "")
        assert code == 2, err
        assert str(out) in err and "--out" in err and all(w in err for w in words)
    assert _snapshot(inputs) == before and list(d.iterdir()) == []


def test_reference_distributions_out_dash(synth_panel, capsys: pytest.CaptureFixture[str]) -> None:
    info, files = synth_panel
    code = main(["reference", "distributions", str(info.prefix), "-s", str(files[0]), "--out", "-"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    lines = cap.out.splitlines()
    assert lines[0].startswith("pgs_id\tsuperpopulation\tn\tmean\tstd\tp5\tp50\tp95")
    assert len(lines) == 1 + 6 and not Path("-").exists()


def test_storage_get_out_dash_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], umask: None) -> None:
    src = tmp_path / "me.tsv"
    src.write_text("a\tb\n1\t2\n")
    assert main(["storage", "put", str(src), "--asset", "prs_result", "--json"]) == 0
    import json

    cid = json.loads(capsys.readouterr().out)["cid"]
    assert main(["storage", "get", cid, "--out", "-"]) == 0
    assert capsys.readouterr().out == "a\tb\n1\t2\n"  # the bytes only, no path line
    assert not (tmp_path / "-").exists()
    os.umask(0o002)
    out = tmp_path / "copy.tsv"
    assert main(["storage", "get", cid, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text() == "a\tb\n1\t2\n" and stat.S_IMODE(out.stat().st_mode) == 0o664
    assert pl.read_csv(out, separator="\t").height == 1


def test_ancestry_out_checks(files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix, vcf, _ = files
    d = tmp_path / "dir"
    d.mkdir()
    inputs = [vcf, *(Path(f"{prefix}{e}") for e in (".pgen", ".pvar", ".psam"))]
    before = _snapshot(inputs)
    for out, words in [(d, ["is a directory"]), (vcf, ["same file as the input"]),
                       (Path(f"{prefix}.pvar"), ["same file as the input"])]:  # fmt: skip
        code = main(["ancestry", str(vcf), "--panel", str(prefix), "--out", str(out)])
        err = capsys.readouterr().err.replace("\n", "")
        assert code == 2, err
        assert str(out) in err and "--out" in err and all(w in err for w in words)
        assert "reference PCA" not in err and "sample(s) on" not in err  # refused before any work
    assert _snapshot(inputs) == before and list(d.iterdir()) == []
