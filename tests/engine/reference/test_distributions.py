"""Distributions: stats recomputed independently with numpy from the stored sample scores; the parquet
round trip; every data check passes on good data and fails on a crafted bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.reference.distributions import (
    ALL,
    QUANTILES,
    STAT_COLUMNS,
    aggregate,
    build_distribution,
    check_distribution,
    read_distribution,
    write_distribution,
)
from prsgazer.engine.reference.panel import open_panel
from prsgazer.engine.scoring.batch import batch_score


@pytest.fixture(scope="module")
def dist_case(synth_panel, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    info, files = synth_panel
    d = tmp_path_factory.mktemp("dist")
    panel = open_panel(info.prefix, cache_dir=d / "cache")
    res = batch_score(panel, files[2:3], out_dir=d / "out")
    scores = res.scores(files[2].name.split(".")[0])
    dist = build_distribution(
        scores,
        panel.sample_table,
        expected_superpopulations=panel.superpopulations,
        panel_counts=panel.superpopulation_counts,
        meta={"pgs_id": "PGS900003"},
    )
    path = write_distribution(dist, d / "x.distribution.parquet")
    return panel, scores, dist, path


def test_stats_recomputed_with_numpy(dist_case) -> None:  # type: ignore[no-untyped-def]
    panel, _scores, _dist, path = dist_case
    back = read_distribution(path)
    assert back.stats.columns == STAT_COLUMNS
    assert back.stats["superpopulation"].to_list() == ["AFR", "AMR", "EAS", "EUR", "SAS", ALL]
    assert back.samples["score"].dtype == pl.Float32 and back.samples.height == panel.n_samples
    assert back.checks_passed and {c.name for c in back.checks} == {
        "superpopulations_present", "finite", "nonzero_std", "quantiles_ordered", "n_in_range", "stats_reproducible",
    }  # fmt: skip
    for row in back.stats.iter_rows(named=True):
        x = back.scores(row["superpopulation"])  # the stored float32 sample scores
        assert row["n"] == len(x) == (panel.n_samples if row["superpopulation"] == ALL
                                     else panel.superpopulation_counts[row["superpopulation"]])  # fmt: skip
        tol = 1e-6 * np.abs(x).max()
        assert abs(row["mean"] - x.mean()) < tol
        assert abs(row["std"] - x.std(ddof=1)) < tol
        assert abs(row["min"] - x.min()) < tol and abs(row["max"] - x.max()) < tol
        q = np.quantile(x, np.array(QUANTILES) / 100)
        assert np.abs(np.array([row[f"p{k}"] for k in QUANTILES]) - q).max() < tol
    # hand-computed type-7 quantile on a tiny sample
    tiny = pl.DataFrame({"sample_id": list("abcd"), "sum": [1.0, 2.0, 4.0, 8.0]})
    st = aggregate(tiny, pl.DataFrame({"sample_id": list("abcd"), "superpopulation": ["EUR"] * 4}))
    eur = st.filter(pl.col("superpopulation") == "EUR").row(0, named=True)
    assert eur["p50"] == 3.0 and eur["p25"] == 1.75 and eur["std"] == pytest.approx(np.std([1, 2, 4, 8], ddof=1))


def _checks(stats: pl.DataFrame, samples: pl.DataFrame, panel) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    got = check_distribution(
        stats, samples, expected_superpopulations=panel.superpopulations, panel_counts=panel.superpopulation_counts
    )
    return {c.name: c.passed for c in got}


def test_checks_fail_on_crafted_bad_inputs(dist_case) -> None:  # type: ignore[no-untyped-def]
    panel, _scores, dist, _ = dist_case
    stats, samples = dist.stats, dist.samples
    assert all(_checks(stats, samples, panel).values())
    # a superpopulation missing
    no_eur = samples.filter(pl.col("superpopulation") != "EUR")
    assert not _checks(aggregate(no_eur.rename({"score": "sum"}), panel.sample_table), no_eur, panel)[
        "superpopulations_present"
    ]
    # NaN / inf statistic
    bad = stats.with_columns(pl.when(pl.col("superpopulation") == "AFR").then(np.inf).otherwise(pl.col("mean"))
                             .alias("mean"))  # fmt: skip
    assert not _checks(bad, samples, panel)["finite"]
    # zero std: every sample of one group has the same score
    flat = samples.with_columns(
        pl.when(pl.col("superpopulation") == "SAS").then(pl.lit(1.0, pl.Float32)).otherwise(pl.col("score"))
        .alias("score")
    )  # fmt: skip
    flat_stats = aggregate(flat.rename({"score": "sum"}), panel.sample_table)
    assert not _checks(flat_stats, flat, panel)["nonzero_std"]
    # quantiles out of order
    swapped = stats.with_columns(pl.col("p10").alias("p90"), pl.col("p90").alias("p10"))
    assert not _checks(swapped, samples, panel)["quantiles_ordered"]
    # n outside the panel's range
    more = stats.with_columns(pl.col("n") + 1)
    assert not _checks(more, samples, panel)["n_in_range"]
    # stored stats that are not those of the stored samples
    shifted = stats.with_columns(pl.col("mean") + 1e-3)
    c = {x.name: x for x in check_distribution(shifted, samples, expected_superpopulations=panel.superpopulations)}
    assert not c["stats_reproducible"].passed and "mean" in c["stats_reproducible"].detail


def test_unreadable_distribution_is_input_error(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(p)
    with pytest.raises(Exception, match="not a prsgazer distribution"):
        read_distribution(p)
