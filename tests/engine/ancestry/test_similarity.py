"""Most similar superpopulation: leave-one-out on the 1000 Genomes reference PCs of the PGS Catalog
calculator's test data, the χ² tail, low-confidence flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.stats

from prsgazer.engine.ancestry import SimilarityOptions, assign, chi2_sf, fit_similarity, leave_one_out
from prsgazer.errors import InputError


def reference_pcs(shared_data: Path) -> pl.DataFrame:
    """ref.pcs (unrelated 1000 Genomes samples, 10 PCs) with SuperPop/Population from ref.psam."""
    d = shared_data / "ancestry"
    pcs = pl.read_csv(d / "ref.pcs", separator="\t", infer_schema=False)
    psam = pl.read_csv(d / "ref.psam", separator="\t", infer_schema=False).rename({"#IID": "IID"})
    out = pcs.join(psam.select("IID", "SuperPop", "Population"), on="IID", how="left", maintain_order="left")
    return out.with_columns(pl.col(r"^PC\d+$").cast(pl.Float64))


def _matrix(frame: pl.DataFrame, k: int = 10) -> np.ndarray:
    return frame.select([f"PC{i + 1}" for i in range(k)]).to_numpy()


def test_leave_one_out_on_1000_genomes(shared_data: Path) -> None:
    ref = reference_pcs(shared_data)
    assert ref.height == 2575 and ref["SuperPop"].null_count() == 0
    loo = leave_one_out(_matrix(ref), ref["SuperPop"].to_list())
    acc = float((loo["label"] == loo["superpopulation"]).mean())
    wrong = loo.filter(pl.col("label") != pl.col("superpopulation"))
    pairs = wrong.group_by("label", "superpopulation").len().sort("len", descending=True).rows()
    right = loo.height - wrong.height
    print(f"1000 Genomes leave-one-out accuracy (5 PCs, Gaussian): {acc:.4f} ({right}/{loo.height}); errors {pairs}")
    assert acc >= 0.99
    # the errors are admixed samples between AFR, AMR and EUR, never EAS or SAS
    assert not {"EAS", "SAS"} & set(wrong["label"].to_list() + wrong["superpopulation"].to_list())


def test_leave_one_out_downdates_equal_refits(shared_data: Path) -> None:
    ref = reference_pcs(shared_data)
    pcs, labels = _matrix(ref), ref["SuperPop"].to_list()
    loo = leave_one_out(pcs, labels)
    for i in (0, 700, 1500, 2574):
        keep = np.arange(len(labels)) != i
        model = fit_similarity(pcs[keep], [lab for k, lab in enumerate(labels) if k != i])
        res = assign(model, pcs[i : i + 1])
        row = loo.filter(pl.col("index") == i)
        assert row["superpopulation"][0] == res["superpopulation"][0]
        assert row["probability"][0] == pytest.approx(res["probability"][0], rel=1e-9)


def test_assign_probabilities_and_confidence(shared_data: Path) -> None:
    ref = reference_pcs(shared_data)
    model = fit_similarity(_matrix(ref), ref["SuperPop"].to_list())
    assert model.populations == ["AFR", "AMR", "EAS", "EUR", "SAS"]
    mid = np.vstack([model.means[model.populations.index("EUR")], model.means[model.populations.index("EAS")]])
    far = mid[:1] + 60.0  # far from every population
    between = mid.mean(axis=0, keepdims=True)
    out = assign(model, np.vstack([mid, far, between]), ["eur", "eas", "far", "between"])
    assert out["superpopulation"].to_list()[:2] == ["EUR", "EAS"]
    probs = out.select(pl.col(r"^P_.*$")).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert out["low_confidence"].to_list()[:3] == [False, False, True]
    assert out["fit_p"][2] < 1e-6 < out["fit_p"][0]
    # the HGDP targets projected by pgsc_calc: a probability for each, some low-confidence (HGDP has
    # populations unlike any 1000 Genomes superpopulation)
    t = pl.read_csv(shared_data / "ancestry" / "target.pcs", separator="\t", infer_schema=False)
    got = assign(model, _matrix(t.with_columns(pl.col(r"^PC\d+$").cast(pl.Float64))), t["IID"].to_list())
    counts = dict(got["superpopulation"].value_counts().rows())
    print(f"HGDP targets: {counts}; low-confidence {got['low_confidence'].sum()} of {got.height}")
    assert set(counts) == set(model.populations)
    assert 0.1 < got["low_confidence"].mean() < 0.6


def test_chi2_tail_matches_scipy() -> None:
    for df in (1, 2, 3, 4, 5, 10, 11):
        for x in (0.01, 0.5, 3.0, 11.07, 40.0, 300.0):
            assert chi2_sf(x, df) == pytest.approx(scipy.stats.chi2.sf(x, df), rel=1e-9, abs=1e-300)
    assert chi2_sf(0.0, 3) == 1.0


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="at least two reference populations"):
        fit_similarity(np.zeros((30, 5)), ["A"] * 30)
    with pytest.raises(InputError, match="at least 5 columns"):
        fit_similarity(np.zeros((30, 3)), ["A", "B"] * 15)
    rng = np.random.default_rng(0)
    model = fit_similarity(rng.standard_normal((40, 5)), ["A", "B"] * 20, SimilarityOptions(n_pcs=5))
    with pytest.raises(InputError, match="at least 5 columns"):
        assign(model, np.zeros((2, 4)))
