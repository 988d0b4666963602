"""Ancestry through the doors: `prsgazer ancestry` places held-out people in their own population, and
`prsgazer score --panel --ancestry` adjusts their scores exactly as an independent computation does
(plink2's panel sums on the same variants, numpy regression on the reference PCs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.cli import main


def _plink2_panel_sums(plink2: str, prefix: Path, scorefile: Path, out: Path) -> pl.DataFrame:
    """plink2 SUM of every panel sample (the synthetic scoring file's rows all match the panel)."""
    rows = pl.read_csv(scorefile, separator="\t", comment_prefix="#")
    ids = [f"{c}:{p}" for c, p in rows.select("chr_name", "chr_position").iter_rows()]
    pvar = pl.read_csv(f"{prefix}.pvar", separator="\t", comment_prefix="##").rename({"#CHROM": "CHROM"})
    by_pos = dict(zip((f"{c}:{p}" for c, p in pvar.select("CHROM", "POS").iter_rows()), pvar["ID"], strict=True))
    sf = out.with_suffix(".score.tsv")
    pl.DataFrame({"ID": [by_pos[i] for i in ids], "A1": rows["effect_allele"], "W": rows["effect_weight"]}).write_csv(
        sf, separator="\t"
    )
    proc = subprocess.run(
        [plink2, "--threads", "1", "--pfile", str(prefix), "--score", str(sf), "1", "2", "3", "header-read",
         "cols=+scoresums", "no-mean-imputation", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    t = pl.read_csv(out.with_suffix(".sscore"), separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))
    return t.select(pl.col("IID").alias("sample_id"), pl.col("W_SUM").cast(pl.Float64).alias("sum"))


def test_ancestry_places_held_out_people_in_their_population(synth_panel, tmp_path: Path) -> None:
    info, _ = synth_panel
    out = tmp_path / "anc.tsv"
    assert main(["ancestry", str(info.holdout_prefix), "--panel", str(info.prefix), "--out", str(out)]) == 0
    got = pl.read_csv(out, separator="\t")
    truth = pl.read_csv(f"{info.holdout_prefix}.psam", separator="\t").rename({"#IID": "sample_id"})
    both = got.join(truth, on="sample_id")
    assert both.height == 4 and (both["superpopulation"] == both["SuperPop"]).all()
    assert (got["probability"] > 0.9).all() and not got["low_confidence"].any()
    assert [f"PC{k}" for k in range(1, 11)] == [c for c in got.columns if c.startswith("PC")]


@pytest.mark.plink2
def test_adjusted_scores_equal_an_independent_computation(synth_panel, plink2: str, tmp_path: Path) -> None:
    from prsgazer.engine.ancestry import AncestryPca

    info, files = synth_panel
    sf = files[2]  # 900 rows
    out = tmp_path / "out.tsv"
    args = ["score", str(info.holdout_prefix), "-s", str(sf), "--panel", str(info.prefix), "--ancestry", "--out"]
    assert main([*args, str(out)]) == 0
    got = pl.read_csv(out, separator="\t", null_values="NA")
    assert (got["percentile_method"] == "same_variants_ancestry").all()
    # the reference: plink2's sums of the panel on the same (all) variants, the PCA's own samples and PCs
    ref = _plink2_panel_sums(plink2, info.prefix, sf, tmp_path / "panel")
    from prsgazer.config import get_settings

    (cached,) = (get_settings().cache_dir / "ancestry").glob("*.pca.parquet")
    pca = AncestryPca.read(cached)
    frame = pca.pc_frame().join(ref, on="sample_id")
    x = frame.select([f"PC{k}" for k in range(1, 5)]).to_numpy()
    mu, sd = x.mean(axis=0), x.std(axis=0)
    v = frame["sum"].to_numpy()
    design = np.column_stack([np.ones(len(v)), (x - mu) / sd])
    beta, *_ = np.linalg.lstsq(design, v - v.mean(), rcond=None)
    resid_sd = (v - v.mean() - design @ beta).std()
    anc_out = tmp_path / "a.tsv"
    assert main(["ancestry", str(info.holdout_prefix), "--panel", str(info.prefix), "--out", str(anc_out)]) == 0
    people = pl.read_csv(anc_out, separator="\t").join(got, on="sample_id")
    assert people.height == 4
    for row in people.iter_rows(named=True):
        pcs = (np.array([row[f"PC{k}"] for k in range(1, 5)]) - mu) / sd
        z_pc_mean = (row["sum"] - v.mean() - np.r_[1.0, pcs] @ beta) / resid_sd
        # plink2 prints sums to 6 significant digits: agreement to that precision
        assert row["z_pc_mean"] == pytest.approx(z_pc_mean, rel=1e-4, abs=1e-5)
        pop = frame.filter(pl.col("superpopulation") == row["superpopulation"])["sum"].to_numpy()
        below, ties = (pop < row["sum"]).sum(), (pop == row["sum"]).sum()
        assert row["percentile"] == pytest.approx(100 * (below + 0.5 * ties) / len(pop))
        assert row["z"] == pytest.approx((row["sum"] - pop.mean()) / pop.std(), rel=1e-4, abs=1e-5)
        assert row["n_reference"] == len(pop) and row["ancestry"] == row["superpopulation"]
        assert np.isfinite(row["z_pc_meanvar"])


def test_a_single_persons_vcf_is_placed_with_absent_sites_as_hom_ref(synth_panel, person_vcf, tmp_path: Path) -> None:
    """A variant-only VCF: declared wgs, its absent PCA sites count as hom-ref (not missing)."""
    info, _ = synth_panel
    vcf, pop = person_vcf
    out = tmp_path / "anc.tsv"
    assert main(["ancestry", str(vcf), "--panel", str(info.prefix), "--coverage", "wgs", "--out", str(out)]) == 0
    got = pl.read_csv(out, separator="\t").row(0, named=True)
    assert got["superpopulation"] == pop and got["probability"] > 0.9 and got["missing_rate"] == 0.0
    # without the coverage absent sites are unknown: few PCA variants are shared, and the place is flagged
    out2 = tmp_path / "anc2.tsv"
    assert main(["ancestry", str(vcf), "--panel", str(info.prefix), "--out", str(out2)]) == 0
    assert pl.read_csv(out2, separator="\t")["low_confidence"][0]


def test_ancestry_options_are_checked(synth_panel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info, files = synth_panel
    base = ["score", str(info.holdout_prefix), "-s", str(files[0]), "--out", str(tmp_path / "o.tsv")]
    assert main([*base, "--ancestry"]) == 2
    assert "--ancestry needs --panel" in capsys.readouterr().err
    assert main([*base, "--ancestry", "--panel", str(info.prefix), "--superpopulation", "EUR"]) == 2
    assert "not both" in capsys.readouterr().err
