"""`prsgazer reference …` and `prsgazer score … --panel`: files, columns, names, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.cli import main
from prsgazer.config import reset_settings


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    reset_settings()


def test_synthesize_list_and_distributions_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reference", "synthesize", "--samples", "60", "--variants", "400", "--seed", "3", "--name", "tiny",
                 "--register"])  # fmt: skip
    cap = capsys.readouterr()
    assert code == 0, cap.err
    prefix = Path(cap.out.strip())
    assert prefix == tmp_path / "home" / "panels" / "tiny" / "tiny"
    assert all(Path(f"{prefix}{e}").exists() for e in (".pgen", ".pvar", ".psam"))
    assert "stored as reference_panel" in cap.err
    # --out DIR writes DIR/<name>.*
    code = main(["reference", "synthesize", "-n", "20", "-m", "50", "--out", str(tmp_path / "d"), "--name", "p"])
    assert code == 0 and capsys.readouterr().out.strip() == str(tmp_path / "d" / "p")
    assert main(["reference", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert "pgsc_1000G_v1" in listed and "pgsc_HGDP+1kGP_v1" in listed and '"tiny"' in listed
    # scoring files over the panel's variants, then distributions by panel NAME
    from prsgazer.synthetic.simulate import read_simulated_pvar, write_scorefile

    pvar = read_simulated_pvar(prefix).filter(~pl.concat_str("REF", "ALT").is_in(["AT", "TA", "CG", "GC"]))
    files = [write_scorefile(pvar, tmp_path / f"S{k}.txt", pgs_id=f"PGS80000{k}", n_variants=n, seed=k)
             for k, n in enumerate([30, 200])]  # fmt: skip
    out = tmp_path / "dist.tsv"
    args = ["reference", "distributions", "tiny", "-s", str(files[0]), "-s", str(files[1]), "--out", str(out)]
    code = main(args)
    cap = capsys.readouterr()
    assert code == 0, cap.err
    t = pl.read_csv(out, separator="\t", null_values="NA")
    assert t.columns[:8] == ["pgs_id", "superpopulation", "n", "mean", "std", "p5", "p50", "p95"]
    assert {"p1", "p99", "min", "max", "checks_passed"} <= set(t.columns)
    assert t.height == 2 * 6 and set(t["superpopulation"]) == {"AFR", "AMR", "ALL", "EAS", "EUR", "SAS"}
    assert t.filter(pl.col("superpopulation") == "ALL")["n"].to_list() == [60, 60]
    assert "2 computed, 0 cached" in cap.err
    # rerun: cached; the store holds the panel asset, usable by name after the folder is gone
    assert main([*args, "--store", "--dist-dir", str(tmp_path / "dists")]) == 0
    assert "0 computed, 2 cached" in capsys.readouterr().err
    # precomputed fallback in `score`: labelled, with the gap stated
    dists = sorted((tmp_path / "dists").glob("*.distribution.parquet"))
    assert len(dists) == 2
    scored = tmp_path / "scored.tsv"
    code = main(["score", str(prefix), "-s", str(files[1]), "--out", str(scored), "--distribution", str(dists[0]),
                 "--distribution", str(dists[1]), "--superpopulation", "AFR"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    st = pl.read_csv(scored, separator="\t", null_values="NA")
    afr = st.join(pl.read_csv(f"{prefix}.psam", separator="\t").select(pl.col("#IID").alias("sample_id"), "SuperPop"),
                  on="sample_id")  # fmt: skip
    assert (st["percentile_method"] == "precomputed").all()
    assert st["percentile_reason"][0].startswith("precomputed distribution (not re-scored")
    assert afr.filter(pl.col("SuperPop") == "AFR")["percentile"].is_between(0, 100).all()
    shutil.rmtree(tmp_path / "home" / "panels" / "tiny")
    assert main(args) == 0, capsys.readouterr().err


def test_distributions_bad_inputs_exit_2(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cineca = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    sf = shared_data / "scorefiles" / "PGS001229_22.txt"
    # a psam without SuperPop
    assert main(["reference", "distributions", str(cineca), "-s", str(sf), "--out", str(tmp_path / "o.tsv")]) == 2
    assert "SuperPop" in capsys.readouterr().err and not (tmp_path / "o.tsv").exists()
    # an unknown panel name, a known one not installed, no scoring file
    assert main(["reference", "distributions", "nope", "-s", str(sf), "--out", str(tmp_path / "o.tsv")]) == 2
    assert "no such panel" in capsys.readouterr().err
    assert main(["reference", "distributions", "pgsc_1000G_v1", "-s", str(sf), "--out", "o.tsv"]) == 2
    assert "prsgazer reference download pgsc_1000G_v1" in capsys.readouterr().err
    assert main(["reference", "distributions", str(cineca), "--out", "o.tsv"]) == 2
    # CINECA with a SuperPop column from the 1000 Genomes labels: a tiny real panel
    ref = pl.read_csv(shared_data / "ancestry" / "ref.psam", separator="\t", infer_schema=False).rename(
        lambda c: c.lstrip("#")
    )
    for ext in (".pgen", ".pvar"):
        shutil.copy(f"{cineca}{ext}", tmp_path / f"cineca{ext}")
    psam = pl.read_csv(f"{cineca}.psam", separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))
    sp_col = next(c for c in ref.columns if c.lower().startswith("superpop"))
    psam = psam.join(ref.select("IID", pl.col(sp_col).alias("SuperPop")), on="IID", how="left")
    psam.rename({"FID": "#FID"}).write_csv(tmp_path / "cineca.psam", separator="\t", null_value="NA")
    out = tmp_path / "cineca.tsv"
    assert main(["reference", "distributions", str(tmp_path / "cineca"), "-s", str(sf), "--out", str(out)]) == 0
    t = pl.read_csv(out, separator="\t", null_values="NA")
    expected = pl.read_csv(shared_data / "expected" / "cineca_PGS001229_22_expected_plink2_sscore.tsv", separator="\t")
    row = t.filter(pl.col("superpopulation") == "ALL").row(0, named=True)
    x = expected["PGS001229_SUM"].to_numpy()
    assert row["n"] == 2504 and row["mean"] == pytest.approx(x.mean(), abs=1e-5)
    assert row["p50"] == pytest.approx(np.quantile(x, 0.5), abs=1e-5)


def test_score_with_panel_percentiles(synth_panel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info, files = synth_panel
    out = tmp_path / "out.tsv"
    base = ["score", str(info.holdout_prefix), "-s", str(files[2]), "--out", str(out), "--panel", str(info.prefix)]
    code = main([*base, "--superpopulation", "EUR"])
    assert code == 0, capsys.readouterr().err
    t = pl.read_csv(out, separator="\t", null_values="NA")
    assert {"percentile", "z", "percentile_method", "percentile_reason", "n_reference"} <= set(t.columns)
    assert t.height == 4 and (t["percentile_method"] == "same_variants").all()
    assert t["percentile"].is_between(0, 100).all() and (t["superpopulation"] == "EUR").all()
    # any case works; an unknown superpopulation is bad input listing the panel's groups, and no table
    before = out.read_bytes()
    assert main([*base, "--superpopulation", "eur"]) == 0 and out.read_bytes() == before
    capsys.readouterr()
    out.unlink()
    assert main([*base, "--superpopulation", "XYZ"]) == 2
    err = capsys.readouterr().err
    assert "unknown superpopulation 'XYZ'" in err and "AFR, AMR, EAS, EUR, SAS" in err and not out.exists()
    # without a panel (or distributions) the option is refused, not ignored
    assert main(["score", str(info.holdout_prefix), "-s", str(files[2]), "--out", str(out), "--superpopulation",
                 "EUR"]) == 2  # fmt: skip
    assert "--superpopulation needs --panel" in capsys.readouterr().err
    # a panel in another build is refused
    other = tmp_path / "p37"
    for ext in (".pgen", ".psam"):
        shutil.copy(f"{info.prefix}{ext}", f"{other}{ext}")
    body = [ln for ln in Path(f"{info.prefix}.pvar").read_text().splitlines() if not ln.startswith("##")]
    Path(f"{other}.pvar").write_text("##contig=<ID=1,length=249250621>\n" + "\n".join(body) + "\n")
    code = main(["score", str(info.holdout_prefix), "-s", str(files[2]), "--out", str(tmp_path / "x.tsv"),
                 "--panel", str(other)])  # fmt: skip
    assert code == 2 and "the panel is GRCh37 but the genotypes are GRCh38" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()


def test_synthesize_covering_a_catalog_file_makes_it_match(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--cover` places SNPs at a scoring file's positions with its alleles: the score then matches the panel
    on every row the matcher accepts (the strand-ambiguous ones stay excluded, as for real panels)."""
    from prsgazer.engine.scorefile import read_scorefile
    from prsgazer.synthetic.simulate import read_simulated_pvar

    sf = tmp_path / "PGS000001_hmPOS_GRCh38.txt.gz"
    shutil.copy(shared_data / "scorefiles" / sf.name, sf)
    args = ["reference", "synthesize", "-n", "60", "-m", "600", "--cover", str(sf), "--holdout", "2", "--out", "p",
            "--name", "covered"]  # fmt: skip
    code = main(args)
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "covering 77 sites of 1 scoring file(s)" in cap.err and "GRCh38" in cap.err  # the file's build
    prefix = Path(cap.out.strip())
    pvar = read_simulated_pvar(prefix)
    assert pvar.height == 600  # the covered sites count among --variants
    rows = read_scorefile(sf).scorable.select("chr_name", "chr_position", "effect_allele", "other_allele")
    at = {(str(c), int(p)): {r, a} for c, p, r, a in pvar.select("#CHROM", "POS", "REF", "ALT").iter_rows()}
    for chrom, pos, ea, oa in rows.iter_rows():
        assert at[(chrom, pos)] == {ea, oa}, (chrom, pos)
    ambiguous = sum({ea, oa} in ({"A", "T"}, {"C", "G"}) for _, _, ea, oa in rows.iter_rows())
    # the panel's own distribution and a holdout person's score both use every unambiguous row
    code = main(["reference", "distributions", str(prefix), "-s", str(sf), "--out", "dist.tsv"])
    assert code == 0, capsys.readouterr().err
    dist = pl.read_csv("dist.tsv", separator="\t", null_values="NA")
    assert set(dist["n_variants_matched"]) == {77 - ambiguous}
    assert dist.filter(pl.col("superpopulation") == "ALL")["n"][0] == 60
    code = main(["score", f"{prefix}_holdout", "-s", str(sf), "--panel", str(prefix), "--superpopulation", "EUR",
                 "--out", "out.tsv"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    scored = pl.read_csv("out.tsv", separator="\t", null_values="NA")
    assert scored["n_matched"].to_list() == [77 - ambiguous] * 2 and scored["percentile"].is_not_null().all()
    # the same arguments give the same panel; a build the file is not in is refused
    assert main([*args[:-4], "--out", "q", "--name", "covered"]) == 0
    capsys.readouterr()
    for ext in (".pgen", ".pvar", ".psam"):
        assert Path(f"p/covered{ext}").read_bytes() == Path(f"q/covered{ext}").read_bytes()
    assert main([*args[:-4], "--build", "GRCh37", "--out", "r"]) == 2
    assert "the files to cover are in GRCh38, not GRCh37" in capsys.readouterr().err
    assert main(["reference", "synthesize", "-n", "20", "-m", "50", "--cover", str(sf), "--out", "s"]) == 2
    assert "more than the 50 variants asked for" in capsys.readouterr().err
