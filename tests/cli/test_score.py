"""`prsgazer score`: OUT.tsv and match log on real data; bad inputs exit 2 naming file/line/field and
leave no output file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
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


def test_score_cineca(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    sf = shared_data / "scorefiles"
    out, log = tmp_path / "out.tsv", tmp_path / "log.tsv"
    code = main(
        [
            "score",
            str(base),
            "--scorefile",
            str(sf / "PGS001229_22.txt"),
            "-s",
            str(sf / "PGS000001.txt.gz"),
            "--out",
            str(out),
            "--match-log",
            str(log),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    table = pl.read_csv(out, separator="\t", null_values="NA")
    assert table.columns[:7] == ["sample_id", "pgs_id", "sum", "avg", "denom", "n_matched", "n_variants"]
    assert table.height == 2 * 2504
    first = table.row(0, named=True)
    assert (first["sample_id"], first["pgs_id"], first["denom"], first["n_matched"], first["n_variants"]) == (
        "HG00096",
        "PGS001229",
        1564,
        782,
        835,
    )
    assert f"{first['sum']:.6g}" == "0.54502" and first["status"] == "ok"
    failed = table.filter(pl.col("pgs_id") == "PGS000001")
    assert (failed["status"] == "failed").all() and failed["sum"].is_null().all()
    assert "no_position" in failed["reason"][0]
    assert "782/835 matched" in err and "is_ambiguous 47" in err and "no_candidate 6" in err
    assert "PGS000001: FAILED" in err
    logdf = pl.read_csv(log, separator="\t", null_values="NA", infer_schema_length=0)
    statuses = dict(logdf.filter(pl.col("accession") == "PGS001229")["match_status"].value_counts().rows())
    assert (statuses["matched"], statuses["excluded"], statuses["unmatched"]) == (782, 47, 6)


def _cohort_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    cohort = random_cohort(60, 200, seed=2, chrom="1")
    prefix = write_pfile(cohort, tmp_path / "c")
    vcf = write_vcf(cohort, tmp_path / "c.vcf.gz", contig_lengths={"1": 249250621})
    sf = write_scorefile(random_score(cohort, 100, seed=1).rows, tmp_path / "S.txt", pgs_id="S")
    return prefix, vcf, sf


def _bad(tmp_path: Path, kind: str) -> tuple[Path, Path, list[str]]:
    prefix, vcf, sf = _cohort_files(tmp_path)
    head = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\n"
    )
    if kind == "truncated_gzip":
        data = vcf.read_bytes()
        bad = tmp_path / "cut.vcf.gz"
        bad.write_bytes(data[: len(data) // 2])
        return bad, sf, [str(bad)]
    if kind == "vcf_without_gt":
        bad = tmp_path / "nogt.vcf"
        bad.write_text(head + "1\t10000\t.\tA\tG\t.\t.\t.\tDP\t7\n")
        return bad, sf, [str(bad), "line 4", "FORMAT"]
    if kind == "malformed_row":
        bad = tmp_path / "bad.vcf"
        bad.write_text(head + "1\t10000\t.\tA\tG\t.\t.\t.\tGT\t0/1\n1\t10097\t.\tA\n")
        return bad, sf, [str(bad), "line 5"]
    if kind == "empty_scorefile":
        empty = tmp_path / "empty.txt"
        empty.write_text("")
        return prefix, empty, [str(empty), "empty scoring file"]
    if kind == "non_acgt_allele":
        s = tmp_path / "nonacgt.txt"
        s.write_text(
            "#pgs_id=X\n#genome_build=GRCh37\nchr_name\tchr_position\teffect_allele\teffect_weight\n1\t10000\tA\t1\n1\t10097\tJ\t1\n"
        )
        return prefix, s, [str(s), "line 5", "effect_allele"]
    if kind == "wrong_build":
        cohort = random_cohort(5, 50, seed=4)
        v38 = write_vcf(cohort, tmp_path / "b38.vcf.gz", contig_lengths={"1": 248956422, "2": 242193529})
        return v38, sf, [str(v38), "GRCh38", "GRCh37", "S_hmPOS_GRCh38"]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated_gzip",
        "vcf_without_gt",
        "malformed_row",
        "empty_scorefile",
        "non_acgt_allele",
        "wrong_build",
    ],
)
def test_bad_input_exits_2_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    geno, sf, words = _bad(tmp_path, kind)
    out = tmp_path / "res" / "OUT.tsv"
    code = main(["score", str(geno), "--scorefile", str(sf), "--out", str(out)])
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 2, err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists()
    assert not (tmp_path / "res").exists() or list((tmp_path / "res").iterdir()) == []


def test_all_scores_failing_exits_2_and_keeps_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = _cohort_files(tmp_path)[0]
    other = random_cohort(5, 100, seed=9, chrom="3")
    sf = write_scorefile(random_score(other, 50, seed=1).rows, tmp_path / "Z.txt", pgs_id="Z")
    out, log = tmp_path / "out.tsv", tmp_path / "log.tsv"
    code = main(["score", str(prefix), "-s", str(sf), "--out", str(out), "--match-log", str(log)])
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 2
    assert "no score passed matching" in err and "Z: no variant matched" in err
    assert not out.exists() and log.exists()


def test_min_overlap_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, vcf, sf = _cohort_files(tmp_path)
    out = tmp_path / "o.tsv"
    assert main(["score", str(vcf), "-s", str(sf), "-o", str(out), "--min-overlap", "1.0", "--keep-ambiguous"]) == 0
    t = pl.read_csv(out, separator="\t")
    assert (t["status"] == "ok").all() and (t["n_matched"] == 100).all() and t.height == 60
    assert main(["score", str(vcf), "-s", str(sf), "-o", str(out), "--coverage", "bogus"]) == 2
    assert main(["score", str(vcf), "-o", str(out)]) == 2
    assert "--scorefile" in capsys.readouterr().err


def test_gzip_vcf_matches_pfile(tmp_path: Path) -> None:
    prefix, vcf, sf = _cohort_files(tmp_path)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert main(["score", str(prefix), "-s", str(sf), "-o", str(a)]) == 0
    assert main(["score", str(vcf), "-s", str(sf), "-o", str(b)]) == 0
    assert a.read_text() == b.read_text()
    with gzip.open(vcf, "rt") as fh:
        assert fh.readline().startswith("##fileformat")


def test_single_person_wgs_with_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A variant-only VCF declared WGS, with a FASTA for the reference bases: absent sites are
    hom-ref and the score equals the one from a VCF listing every site."""
    import numpy as np

    cohort = random_cohort(1, 300, seed=12)
    full = write_vcf(cohort, tmp_path / "full.vcf", contig_lengths={"1": 249250621})
    sparse = write_vcf(cohort, tmp_path / "sparse.vcf", contig_lengths={"1": 249250621}, skip_homref=True)
    seq = np.array(list("ACGT"))[np.random.default_rng(1).integers(0, 4, int(cohort.sites["pos"].max()) + 10)]
    seq[cohort.sites["pos"].to_numpy() - 1] = cohort.sites["ref"].to_list()
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">1\n" + "\n".join("".join(seq[i : i + 60]) for i in range(0, len(seq), 60)) + "\n")
    sf = write_scorefile(random_score(cohort, 200, seed=2).rows, tmp_path / "W.txt", pgs_id="W")
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert main(["score", str(full), "-s", str(sf), "-o", str(a)]) == 0
    capsys.readouterr()
    code = main(["score", str(sparse), "-s", str(sf), "-o", str(b), "--coverage", "wgs", "--reference", str(fasta)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "coverage=wgs (declared)" in err and "filled as hom-ref" in err
    ta, tb = (pl.read_csv(x, separator="\t") for x in (a, b))
    assert ta["n_matched"].to_list() == tb["n_matched"].to_list() == ta["n_variants"].to_list()
    assert abs(ta["sum"][0] - tb["sum"][0]) < 1e-12
    # without --coverage the same file leaves absent sites unmatched (and the score fails)
    assert main(["score", str(sparse), "-s", str(sf), "-o", str(tmp_path / "c.tsv")]) == 2
    assert "coverage=unknown" in capsys.readouterr().err


def test_dosages_are_used_and_reported_and_hard_calls_ignore_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prsgazer.synthetic.files import (
        random_cohort,
        random_genotype_probabilities,
        random_score,
        write_dosage_vcf,
        write_scorefile,
        write_vcf,
    )

    cohort = random_cohort(60, 300, seed=3, chrom="2")
    gp = random_genotype_probabilities(cohort, seed=4, noise=0.7)
    ds = write_dosage_vcf(cohort, tmp_path / "ds.vcf.gz", gp, fields=("DS",))
    gt = write_vcf(cohort, tmp_path / "gt.vcf.gz")
    sf = write_scorefile(random_score(cohort, 200, seed=5).rows, tmp_path / "S.txt", pgs_id="S")
    runs = {}
    for name, args in {"ds": [str(ds)], "hard": [str(ds), "--hard-calls"], "gt": [str(gt)]}.items():
        out = tmp_path / f"{name}.tsv"
        assert main(["score", *args, "-s", str(sf), "--out", str(out)]) == 0
        runs[name] = (pl.read_csv(out, separator="\t", null_values="NA"), capsys.readouterr().err)
    assert "dosages: DS" in runs["ds"][1] and (runs["ds"][0]["dosage_source"] == "DS").all()
    assert "dosages: hard calls" in runs["hard"][1] and (runs["hard"][0]["dosage_source"] == "hard calls").all()
    assert runs["hard"][0]["sum"].to_list() == runs["gt"][0]["sum"].to_list()  # --hard-calls: the GT numbers
    assert (runs["ds"][0]["sum"] - runs["gt"][0]["sum"]).abs().max() > 0.05  # the dosages really count
    assert main(["score", str(ds), "-s", str(sf), "--out", str(tmp_path / "x.tsv"), "--dosage-fields", "XX"]) == 2


def test_several_genotype_files_and_a_samplesheet_score_as_one(tmp_path: Path) -> None:
    from prsgazer.synthetic.files import Cohort

    a = random_cohort(30, 200, seed=1, chrom="1")
    b = random_cohort(30, 200, seed=2, chrom="2")
    b = Cohort(sites=b.sites, samples=a.samples, genotypes=b.genotypes)
    whole = Cohort(sites=pl.concat([a.sites, b.sites]), samples=a.samples,
                   genotypes=np.concatenate([a.genotypes, b.genotypes]))  # fmt: skip
    sf = write_scorefile(random_score(whole, 300, seed=3).rows, tmp_path / "S.txt", pgs_id="S")
    write_vcf(a, tmp_path / "c1.vcf.gz")
    write_pfile(b, tmp_path / "c2")
    write_vcf(whole, tmp_path / "all.vcf.gz")
    (tmp_path / "sheet.csv").write_text("sampleset,path_prefix,chrom,format\nx,c1,1,vcf\nx,c2,2,pfile\n")
    outs = {}
    for name, geno in {"all": ["all.vcf.gz"], "parts": ["c1.vcf.gz", "c2"], "sheet": ["sheet.csv"]}.items():
        out = tmp_path / f"{name}.tsv"
        assert main(["score", *[str(tmp_path / g) for g in geno], "-s", str(sf), "--out", str(out)]) == 0
        outs[name] = pl.read_csv(out, separator="\t")["sum"].to_list()
    assert outs["parts"] == outs["all"] == outs["sheet"]


def test_output_formats_sscore_and_pgsc(shared_data: Path, tmp_path: Path) -> None:
    """--format sscore equals plink2's .sscore for CINECA (the PGS Catalog calculator's expected output, 6
    significant digits), FID and IID kept apart; --format pgsc has pgsc_calc's columns; .gz is gzipped;
    every output has its provenance beside it."""
    base = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    sf = shared_data / "scorefiles" / "PGS001229_22.txt"
    out = tmp_path / "cineca.sscore"
    assert main(["score", str(base), "-s", str(sf), "--format", "sscore", "--out", str(out)]) == 0
    got = pl.read_csv(out, separator="\t")
    assert got.columns == ["#FID", "IID", "ALLELE_CT", "DENOM", "NAMED_ALLELE_DOSAGE_SUM", "PGS001229_AVG",
                           "PGS001229_SUM"]  # fmt: skip
    want = pl.read_csv(shared_data / "expected" / "cineca_PGS001229_22_expected_plink2_sscore.tsv", separator="\t")
    both = got.join(want, on="IID", suffix="_plink2")
    assert both.height == 2504 and (both["#FID"] == both["IID"]).all()
    for col in ("ALLELE_CT", "DENOM", "NAMED_ALLELE_DOSAGE_SUM"):
        assert (both[col] == both[f"{col}_plink2"]).all(), col
    for col in ("PGS001229_SUM", "PGS001229_AVG"):
        assert ((both[col] - both[f"{col}_plink2"]).abs() <= 5e-6).all(), col
    run = json.loads((tmp_path / "cineca.sscore.run.json").read_text())
    assert run["params"]["min_overlap"] == 0.75 and run["code_version"] and run["summaries"][0]["n_matched"] == 782
    gz = tmp_path / "agg.txt.gz"
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sampleset,path_prefix,chrom,format\ncineca,{base},22,pfile\n")
    assert main(["score", str(sheet), "-s", str(sf), "--format", "pgsc", "--out", str(gz)]) == 0
    with gzip.open(gz, "rt") as fh:
        agg = pl.read_csv(fh, separator="\t")
    assert agg.columns == ["sampleset", "IID", "PGS", "SUM", "DENOM", "AVG"] and agg.height == 2504
    assert (agg["sampleset"] == "cineca").all() and agg["SUM"].to_list() == got["PGS001229_SUM"].to_list()
    # the long format keeps FID and IID apart at the end
    long_out = tmp_path / "long.tsv"
    assert main(["score", str(base), "-s", str(sf), "--out", str(long_out)]) == 0
    t = pl.read_csv(long_out, separator="\t", null_values="NA")
    assert t.columns[:2] == ["sample_id", "pgs_id"] and t.columns[-2:] == ["fid", "iid"]


def test_a_scoring_file_in_the_other_build_is_lifted(shared_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A GRCh38 custom file made from PGS001229_22 (GRCh37, lifted with hg19ToHg38, no harmonised columns)
    scores CINECA (GRCh37) with --chain hg38ToHg19 exactly as the original file restricted to the rows that
    survive the round trip; the lost rows are in the match log with their reason."""
    from prsgazer.engine.scorefile import read_scorefile
    from prsgazer.engine.scorefile.liftover import lift_scorefile, read_chain

    chains = shared_data / "chain"
    original = shared_data / "scorefiles" / "PGS001229_22.txt"
    cineca = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    rows = read_scorefile(original).variants
    to38, lost38 = lift_scorefile(rows, read_chain(chains / "hg19ToHg38.over.chain.gz"))
    # rows lost on the way to GRCh38, each with its reason (chain gaps; one lands on an alt contig only)
    assert dict(lost38.select("rsID", "reason").iter_rows()) == {
        "rs5757417": "unmapped_gap", "rs3788338": "unmapped_gap", "rs1885362": "unmapped_gap",
        "rs144686326": "alt_contig",
    }  # fmt: skip
    back, lost19 = lift_scorefile(to38, read_chain(chains / "hg38ToHg19.over.chain.gz"))
    assert lost19.height == 0 and back.height == 831  # the round trip lands every survivor where it started
    survivors = rows.filter(~pl.col("rsID").is_in(lost38["rsID"].to_list()))
    assert back["chr_position"].to_list() == survivors["chr_position"].to_list()
    grch38 = tmp_path / "custom38.txt"
    lines = ["#pgs_id=PGS001229", "#pgs_name=GBE_INI50 lifted", "#genome_build=GRCh38",
             "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"]  # fmt: skip
    lines += [f"{r['rsID']}\t{r['chr_name']}\t{r['chr_position']}\t{r['effect_allele']}\t{r['other_allele']}\t"
              f"{r['effect_weight']!r}" for r in to38.iter_rows(named=True)]  # fmt: skip
    grch38.write_text("\n".join(lines) + "\n")
    surviving = tmp_path / "surviving37.txt"
    kept = set(back["rsID"].to_list())
    src = original.read_text().splitlines()
    surviving.write_text("\n".join([ln for ln in src if ln.startswith(("#", "rsID")) or ln.split("\t")[0] in kept])
                         + "\n")  # fmt: skip
    # without a chain: the build mismatch is an input error that names the fix
    assert main(["score", str(cineca), "-s", str(grch38), "--build", "GRCh37", "--out", str(tmp_path / "x.tsv")]) == 2
    assert "--chain hg38ToHg19.over.chain.gz" in capsys.readouterr().err
    out, log = tmp_path / "lifted.tsv", tmp_path / "log.tsv"
    to19 = str(chains / "hg38ToHg19.over.chain.gz")
    args = ["--build", "GRCh37", "--chain", to19, "--out", str(out), "--match-log", str(log)]
    assert main(["score", str(cineca), "-s", str(grch38), *args]) == 0
    assert "liftover: custom38.txt GRCh38 → GRCh37 with hg38ToHg19.over.chain.gz: 831/831 rows lifted" in (
        capsys.readouterr().err
    )
    want = tmp_path / "want.tsv"
    assert main(["score", str(cineca), "-s", str(surviving), "--out", str(want)]) == 0
    got, exp = pl.read_csv(out, separator="\t"), pl.read_csv(want, separator="\t")
    assert got["sum"].to_list() == exp["sum"].to_list() and got["n_matched"].to_list() == exp["n_matched"].to_list()
    # rows the chain cannot lift are listed in the match log with their reason, never lost
    gap = tmp_path / "gap38.txt"
    gap.write_text("\n".join([*lines, "rsX\t22\t1\tA\tG\t0.5"]) + "\n")  # position 1 of chr22: no chain covers it
    assert main(["score", str(cineca), "-s", str(gap), *args]) == 0
    logdf = pl.read_csv(log, separator="\t", null_values="NA", infer_schema_length=0)
    lost = logdf.filter(pl.col("line") == str(len(lines) + 1)).select("chr_position", "match_status", "label")
    assert lost.rows() == [("1", "unmatched", "liftover_no_chain")]


def test_person_run_imports_only_what_it_uses(tmp_path: Path) -> None:
    """One person's `prsgazer score`, in a fresh interpreter, loads none of the batch, compiled-kernel,
    workflow or server machinery: each is
    tens to hundreds of milliseconds of every start (issue 15)."""
    import subprocess
    import sys

    cohort = random_cohort(1, 300, seed=4)
    vcf = write_vcf(cohort, tmp_path / "person.vcf")
    sf = write_scorefile(random_score(cohort, 100, seed=5).rows, tmp_path / "PGS000777.txt", pgs_id="PGS000777")
    code = (
        "import sys\n"
        "from prsgazer.cli import main\n"
        f"rc = main(['score', {str(vcf)!r}, '-s', {str(sf)!r}, '--out', {str(tmp_path / 'out.tsv')!r}])\n"
        "print(rc)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rc, modules = done.stdout.strip().splitlines()[-2:]
    assert rc == "0", done.stderr
    loaded = set(modules.split())
    assert "prsgazer.engine.scoring.run" in loaded  # the check sees what the run imported
    heavy = ["numba", "prsgazer.engine.scoring.batch", "flyte", "fastmcp", "marimo",
             "prsgazer.storage", "scipy", "sklearn", "pydantic_settings"]  # fmt: skip
    assert [m for m in heavy if m in loaded] == []


def test_version_loads_no_command(tmp_path: Path) -> None:
    """`prsgazer --version` prints the version without importing any command's module (nor polars or
    numpy): 0.31 s → 0.18 s a call on the bench VM."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from prsgazer.cli import main\n"
        "rc = main(['--version'])\n"
        "print(rc)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    version, rc, modules = done.stdout.strip().splitlines()[-3:]
    assert version.startswith("prsgazer ") and rc == "0"
    loaded = set(modules.split())
    assert [m for m in ("polars", "numpy", "prsgazer.cli.score", "prsgazer.cli.storage") if m in loaded] == []
