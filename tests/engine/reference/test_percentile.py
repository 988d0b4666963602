"""Percentiles: on the same variants as the person's score (checked by hand from plink2 panel scores
on the person's matched variants), partial panel coverage, the precomputed fallback, N/A reasons."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.reference.distributions import build_distribution
from prsgazer.engine.reference.panel import open_panel
from prsgazer.engine.reference.percentile import (
    distribution_percentiles,
    mid_rank_percentile,
    percentile_from_distribution,
    run_percentiles,
)
from prsgazer.engine.scoring.batch import batch_score
from prsgazer.engine.scoring.match import MatchOptions
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.synthetic.files import write_scorefile


def run_plink2(plink2: str, *args: str) -> None:
    proc = subprocess.run([plink2, "--threads", "1", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def subset_pfile(plink2: str, prefix: Path, out: Path, keep_fraction: float, seed: int) -> Path:
    """The pfile restricted to a random fraction of its variants (plink2 --extract)."""
    ids = pl.read_csv(f"{prefix}.pvar", separator="\t", comment_prefix="##")["ID"]
    rng = np.random.default_rng(seed)
    keep = ids.filter(pl.Series(rng.random(ids.len()) < keep_fraction))
    lst = out.with_suffix(".ids")
    lst.write_text("\n".join(keep.to_list()) + "\n")
    run_plink2(plink2, "--pfile", str(prefix), "--extract", str(lst), "--make-pgen", "--out", str(out))
    return out


def plink2_sums_on(plink2: str, prefix: Path, run, accession: str, rows: set[int] | None, out: Path,  # type: ignore[no-untyped-def]
                   *mods: str) -> pl.DataFrame:  # fmt: skip
    """plink2 SUM over the person's matched rows (optionally only `rows`) on the pfile at `prefix`."""
    m = run.match.matched.filter(pl.col("accession").cast(pl.String) == accession)
    if rows is not None:
        m = m.filter(pl.col("row_nr").is_in(sorted(rows)))
    ids = [f"{c}:{p}:{r}:{a}" for c, p, r, a in m.select("chr_name", "chr_position", "REF", "ALT").iter_rows()]
    sf = out.with_suffix(".score.tsv")
    pl.DataFrame({"ID": ids, "A1": m["matched_effect_allele"], "W": m["effect_weight"]}).write_csv(sf, separator="\t")
    run_plink2(plink2, "--pfile", str(prefix), "--score", str(sf), "1", "2", "3", "header-read", "cols=+scoresums",
               *mods, "--out", str(out))  # fmt: skip
    t = pl.read_csv(out.with_suffix(".sscore"), separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))
    return t.select(pl.col("IID").alias("sample_id"), pl.col("W_SUM").cast(pl.Float64).alias("sum"))


def by_hand(value: float, ref: np.ndarray) -> tuple[float, float]:
    below = (ref < value).sum()
    ties = (ref == value).sum()
    return 100.0 * (below + 0.5 * ties) / len(ref), (value - ref.mean()) / ref.std(ddof=1)


OPTS = RunOptions(match=MatchOptions(min_overlap=0.5))


@pytest.mark.plink2
def test_same_variants_equals_plink2_by_hand(synth_panel, plink2: str, tmp_path: Path) -> None:
    info, files = synth_panel
    person = subset_pfile(plink2, info.holdout_prefix, tmp_path / "person", 0.7, seed=1)
    sf = files[2]
    run = run_scoring(person, [sf], OPTS)
    acc = run.match.summaries[0].accession
    assert run.match.summaries[0].passed and run.match.summaries[0].n_matched < 900 * 0.8
    panel = open_panel(info.prefix)
    pct = run_percentiles(person, [sf], run, OPTS, panel, "EUR")
    pct_all = run_percentiles(person, [sf], run, OPTS, panel, None)
    ref = plink2_sums_on(plink2, info.prefix, run, acc, None, tmp_path / "panel_on_person").join(
        panel.sample_table, on="sample_id"
    )
    eur = ref.filter(pl.col("superpopulation") == "EUR")["sum"].to_numpy()
    for row, row_all in zip(pct.iter_rows(named=True), pct_all.iter_rows(named=True), strict=True):
        value = run.table.filter(pl.col("sample_id") == row["sample_id"])["sum"][0]
        p, z = by_hand(value, eur)
        assert row["percentile_method"] == "same_variants" and row["superpopulation"] == "EUR"
        assert row["percentile"] == pytest.approx(p, abs=1e-9) and row["z"] == pytest.approx(z, rel=1e-5)
        assert row["n_reference"] == len(eur) and row["percentile_reason"] is None
        assert row["percentile_variants"] == run.match.summaries[0].n_matched
        p_all, z_all = by_hand(value, ref["sum"].to_numpy())
        assert row_all["superpopulation"] == "ALL" and row_all["percentile"] == pytest.approx(p_all, abs=1e-9)
        assert row_all["z"] == pytest.approx(z_all, rel=1e-5)
    # several labels at once: one row per (sample, score, label), identical to the one-label calls
    many = run_percentiles(person, [sf], run, OPTS, panel, ["EUR", "AFR", None])
    assert many.height == 3 * pct.height
    assert many.filter(pl.col("superpopulation") == "EUR").equals(pct)
    assert many.filter(pl.col("superpopulation") == "ALL").equals(pct_all)
    afr = run_percentiles(person, [sf], run, OPTS, panel, "AFR")
    assert many.filter(pl.col("superpopulation") == "AFR").equals(afr)
    # not the precomputed distribution: the panel's full-score distribution differs
    full = batch_score(panel, [sf], out_dir=tmp_path / "b").scores(acc).join(panel.sample_table, on="sample_id")
    assert not np.allclose(np.sort(full["sum"].to_numpy()), np.sort(ref["sum"].to_numpy()))


@pytest.mark.plink2
def test_panel_lacking_variants_rescores_the_person_on_the_shared_ones(synth_panel, plink2: str,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    info, files = synth_panel
    small_panel = subset_pfile(plink2, info.prefix, tmp_path / "panel80", 0.8, seed=2)
    (tmp_path / "panel80.psam").write_text(Path(f"{info.prefix}.psam").read_text())  # keep SuperPop
    sf = files[1]
    run = run_scoring(info.holdout_prefix, [sf], OPTS)
    acc = run.match.summaries[0].accession
    panel = open_panel(small_panel)
    pct = run_percentiles(info.holdout_prefix, [sf], run, OPTS, panel, "AFR")
    n_matched = run.match.summaries[0].n_matched
    shared_n = pct["percentile_variants"][0]
    assert 0 < shared_n < n_matched
    assert (pct["percentile_method"] == "same_variants").all()
    assert f"panel lacks {n_matched - shared_n} of the person's {n_matched}" in pct["percentile_reason"][0]
    # by hand: both sides by plink2 on the shared rows
    panel_ids = set(pl.read_csv(f"{small_panel}.pvar", separator="\t", comment_prefix="##")["POS"].to_list())
    m = run.match.matched.filter(pl.col("chr_position").is_in(sorted(panel_ids)))
    shared = set(m["row_nr"].to_list())
    assert len(shared) == shared_n
    person = plink2_sums_on(plink2, info.holdout_prefix, run, acc, shared, tmp_path / "person_shared",
                            "no-mean-imputation")  # fmt: skip
    ref = plink2_sums_on(plink2, small_panel, run, acc, shared, tmp_path / "panel_shared").join(
        panel.sample_table, on="sample_id"
    )
    afr = ref.filter(pl.col("superpopulation") == "AFR")["sum"].to_numpy()
    for row in pct.iter_rows(named=True):
        value = person.filter(pl.col("sample_id") == row["sample_id"])["sum"][0]
        p, z = by_hand(value, afr)
        assert row["percentile"] == pytest.approx(p, abs=0.5)  # plink2 prints 6 digits: ties may shift half a rank
        assert row["z"] == pytest.approx(z, rel=1e-4)


def test_precomputed_fallback_is_labelled_with_the_gap(synth_panel, tmp_path: Path) -> None:
    info, files = synth_panel
    panel = open_panel(info.prefix)
    res = batch_score(panel, [files[2]], out_dir=tmp_path / "b")
    acc = res.outcomes[0].accession
    dist = build_distribution(res.scores(acc), panel.sample_table,
                              meta={"pgs_id": acc, "summary": res.outcomes[0].summary.model_dump()})  # type: ignore[union-attr]  # fmt: skip
    run = run_scoring(info.holdout_prefix, [files[2]], OPTS)
    pct = distribution_percentiles(run, {acc: dist}, "EAS")
    eas = dist.samples.filter(pl.col("superpopulation") == "EAS")["score"].cast(pl.Float64).to_numpy()
    for row in pct.iter_rows(named=True):
        assert row["percentile_method"] == "precomputed"
        assert row["percentile_reason"].startswith("precomputed distribution (not re-scored on the person's variants)")
        assert "person matched" in row["percentile_reason"]
        value = run.table.filter(pl.col("sample_id") == row["sample_id"])["sum"][0]
        assert row["percentile"] == pytest.approx(by_hand(value, eas)[0])
    r = percentile_from_distribution(0.0, dist, "EUR", "gap text")
    assert r.method == "precomputed" and "gap text" in (r.reason or "")


def test_not_available_says_why(synth_panel, tmp_path: Path) -> None:
    info, files = synth_panel
    panel = open_panel(info.prefix)
    run = run_scoring(info.holdout_prefix, [files[0]], OPTS)
    unknown = run_percentiles(info.holdout_prefix, [files[0]], run, OPTS, panel, "XYZ")
    assert (unknown["percentile_method"] == "n/a").all() and unknown["percentile"].is_null().all()
    assert "superpopulation 'XYZ' is not in the panel" in unknown["percentile_reason"][0]
    bad = tmp_path / "b.txt"
    rows = pl.DataFrame({"chr_name": ["1", "1"], "chr_position": [5, 6], "effect_allele": ["A", "C"],
                         "other_allele": ["G", "T"], "effect_weight": [0.1, 0.2]})  # fmt: skip
    write_scorefile(rows, bad, pgs_id="PGS999002", genome_build="GRCh38")
    run2 = run_scoring(info.holdout_prefix, [bad, files[1]], OPTS)
    pct = run_percentiles(info.holdout_prefix, [bad, files[1]], run2, OPTS, panel, None)
    failed = pct.filter(pl.col("pgs_id") == "PGS999002")
    assert (failed["percentile_method"] == "n/a").all()
    assert failed["percentile_reason"][0].startswith("score failed matching")
    assert mid_rank_percentile(2.0, np.array([1.0, 2.0, 3.0, 4.0])) == 37.5
    one = pl.DataFrame({"sample_id": ["a"], "superpopulation": ["EUR"], "population": ["GBR"]})
    dist = build_distribution(pl.DataFrame({"sample_id": ["a"], "sum": [1.0]}), one)
    lonely = percentile_from_distribution(1.0, dist, "EUR")
    assert lonely.method == "n/a" and "only 1 reference sample" in (lonely.reason or "")
    assert percentile_from_distribution(None, dist).reason == "no value to compare"
