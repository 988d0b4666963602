"""Adjusted scores on the 1000 Genomes reference PCs: scores simulated over the PCs must come out with mean ≈ 0 and
sd ≈ 1 within each population; the mean-variance fit against pgsc_calc's own likelihood optimised by BFGS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.optimize
import scipy.stats

from prsgazer.engine.ancestry import adjust_scores, fit_adjustment, fit_mean_variance
from prsgazer.engine.ancestry.adjust import neg_log_likelihood
from prsgazer.errors import InputError

from .test_similarity import reference_pcs

POPS = ["AFR", "AMR", "EAS", "EUR", "SAS"]


def simulate(ref: pl.DataFrame, *, hetero: bool, seed: int) -> np.ndarray:
    """A score whose mean (and, with `hetero`, log variance) is linear in the first 4 standardised PCs."""
    rng = np.random.default_rng(seed)
    x = ref.select([f"PC{k}" for k in range(1, 5)]).to_numpy()
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    mean = 10.0 + x @ np.array([0.8, -0.5, 0.3, 0.2])
    log_var = np.log(0.25) + (x @ np.array([0.6, 0.3, -0.2, 0.1]) if hetero else 0.0)
    return mean + np.exp(log_var / 2) * rng.standard_normal(len(x))


def _long(ref: pl.DataFrame, values: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.concat([pl.DataFrame({"sample_id": ref["IID"], "pgs_id": k, "sum": v}) for k, v in values.items()])


@pytest.fixture(scope="module")
def adjusted(shared_data: Path):
    ref = reference_pcs(shared_data)
    scores = _long(ref, {"HOMO": simulate(ref, hetero=False, seed=1), "HETERO": simulate(ref, hetero=True, seed=2)})
    frame = ref.rename({"IID": "sample_id", "SuperPop": "superpopulation"})
    model = fit_adjustment(frame, scores)
    out = adjust_scores(model, frame, scores).join(frame.select("sample_id", "superpopulation"), on="sample_id")
    return ref, scores, model, out


def _per_population(out: pl.DataFrame, pgs_id: str, col: str) -> pl.DataFrame:
    return (
        out.filter(pl.col("pgs_id") == pgs_id)
        .group_by("superpopulation")
        .agg(mean=pl.col(col).mean(), sd=pl.col(col).std(ddof=0), n=pl.len())
        .sort("superpopulation")
    )


def test_adjusted_z_have_mean_0_and_sd_1_in_every_population(adjusted) -> None:
    _, _, model, out = adjusted
    lines = []
    for pgs_id, cols in (("HOMO", ("z", "z_pc_mean", "z_pc_meanvar")), ("HETERO", ("z", "z_pc_mean", "z_pc_meanvar"))):
        for col in cols:
            t = _per_population(out, pgs_id, col)
            lines.append(
                f"{pgs_id:6} {col:13} "
                + "  ".join(
                    f"{p} {m:+.3f}/{s:.3f}" for p, m, s in zip(t["superpopulation"], t["mean"], t["sd"], strict=True)
                )
            )
    print("\nmean/sd per population:\n" + "\n".join(lines))  # fmt: skip
    for pgs_id, col in (("HOMO", "z_pc_mean"), ("HOMO", "z_pc_meanvar"), ("HETERO", "z_pc_meanvar")):
        t = _per_population(out, pgs_id, col)
        assert t["superpopulation"].to_list() == POPS
        assert (t["mean"].abs() < 0.15).all(), (pgs_id, col, t)
        assert ((t["sd"] - 1).abs() < 0.12).all(), (pgs_id, col, t)
    # z within the population is standardised by construction (pgsc_calc: ddof 0)
    t = _per_population(out, "HETERO", "z")
    np.testing.assert_allclose(t["mean"].to_numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(t["sd"].to_numpy(), 1, atol=1e-12)
    # with a variance that depends on ancestry, the mean-only adjustment leaves unequal spreads
    t = _per_population(out, "HETERO", "z_pc_mean")
    assert t["sd"].max() - t["sd"].min() > 0.3
    assert model.scores["HETERO"].meanvar_converged


def test_z_pc_mean_is_the_ols_residual_on_raw_pcs(adjusted) -> None:
    """Standardising PCs and centring the score change the parametrisation, not the residuals: an OLS on the
    raw PCs (numpy lstsq) gives the same z_pc_mean."""
    ref, scores, _, out = adjusted
    x = np.column_stack([np.ones(ref.height), ref.select([f"PC{k}" for k in range(1, 5)]).to_numpy()])
    y = scores.filter(pl.col("pgs_id") == "HOMO")["sum"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    got = out.filter(pl.col("pgs_id") == "HOMO")["z_pc_mean"].to_numpy()
    np.testing.assert_allclose(got, resid / resid.std(), rtol=1e-9, atol=1e-9)


def test_mean_variance_fit_equals_pgsc_calc_bfgs(adjusted) -> None:
    """pgsc_calc's `fullLL_fit`: BFGS on its negative log-likelihood and gradient (nLL_mu_and_var,
    grdnt_mu_and_var), started from our OLS/gamma fit; our block coordinate ascent reaches the same optimum."""
    ref, scores, model, _ = adjusted
    adj = model.scores["HETERO"]
    x = ref.select([f"PC{k}" for k in range(1, 5)]).to_numpy()
    x = (x - np.asarray(model.pc_mean)) / np.asarray(model.pc_sd)
    design = np.column_stack([np.ones(len(x)), x])
    y = scores.filter(pl.col("pgs_id") == "HETERO")["sum"].to_numpy() - adj.offset

    def nll(theta: np.ndarray) -> float:  # pgsc_calc nLL_mu_and_var
        mu, var = design @ theta[:5], np.exp(design @ theta[5:])
        return float(np.sum(np.log(np.sqrt(var)) + 0.5 * (y - mu) ** 2 / var))

    def grad(theta: np.ndarray) -> np.ndarray:  # pgsc_calc grdnt_mu_and_var
        mu, var = design @ theta[:5], np.exp(design @ theta[5:])
        mu_c = -(y - mu) / var
        sig_c = 1 / (2 * var) - 0.5 * (y - mu) ** 2 / var**2
        return np.concatenate([design.T @ mu_c, design.T @ (sig_c * var)])

    start = np.concatenate([adj.mean_coef, np.zeros(5)])
    start[5] = np.log(adj.resid_sd**2)
    bfgs = scipy.optimize.minimize(nll, start, jac=grad, method="BFGS", options={"maxiter": 1000, "gtol": 1e-8})
    ours = np.concatenate([adj.meanvar_mean_coef, adj.meanvar_var_coef])
    assert nll(ours) <= bfgs.fun + 1e-6
    np.testing.assert_allclose(ours, bfgs.x, atol=1e-4)
    assert np.max(np.abs(grad(ours))) < 1e-5
    assert neg_log_likelihood(y, design, ours[:5], ours[5:]) == pytest.approx(nll(ours), rel=1e-12)
    # the fit recovers the simulated model (intercepts shifted by the score offset and PC scaling)
    assert np.allclose(ours[6:], [0.6, 0.3, -0.2, 0.1], atol=0.12)


def test_fit_mean_variance_on_a_known_model() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5000, 2))
    design = np.column_stack([np.ones(5000), x])
    y = design @ [1.0, 2.0, -1.0] + np.exp(design @ [0.2, 0.5, -0.3] / 2) * rng.standard_normal(5000)
    beta0, *_ = np.linalg.lstsq(design, y, rcond=None)
    b, g, converged, iters = fit_mean_variance(y, design, beta0)
    assert converged and iters < 200
    np.testing.assert_allclose(b, [1.0, 2.0, -1.0], atol=0.05)
    np.testing.assert_allclose(g, [0.2, 0.5, -0.3], atol=0.06)


def test_percentile_within_the_most_similar_population(adjusted) -> None:
    ref, scores, model, _ = adjusted
    frame = ref.rename({"IID": "sample_id", "SuperPop": "superpopulation"})
    eur = (
        scores.filter(pl.col("pgs_id") == "HOMO").join(frame, on="sample_id").filter(pl.col("superpopulation") == "EUR")
    )
    ref_vals = eur["sum"].to_numpy()
    # two targets said to be most similar to EUR, with their PCs
    targets = frame[:2].with_columns(sample_id=pl.Series(["t1", "t2"]), superpopulation=pl.lit("EUR"))
    values = [float(np.quantile(ref_vals, 0.9)), float(ref_vals[3])]  # the second ties a reference value
    tscores = pl.DataFrame({"sample_id": ["t1", "t2"], "pgs_id": "HOMO", "sum": values})
    got = adjust_scores(model, targets, tscores)
    assert got["ancestry"].to_list() == ["EUR", "EUR"]
    want = [scipy.stats.percentileofscore(ref_vals, v, kind="mean") for v in values]
    np.testing.assert_allclose(got["percentile"].to_numpy(), want)
    np.testing.assert_allclose(got["z"].to_numpy(), (np.asarray(values) - ref_vals.mean()) / ref_vals.std())


def test_constant_score_and_missing_reference_values(shared_data: Path) -> None:
    ref = reference_pcs(shared_data)
    frame = ref.rename({"IID": "sample_id", "SuperPop": "superpopulation"})
    flat = _long(ref, {"FLAT": np.full(ref.height, 3.0)})
    model = fit_adjustment(frame, flat)
    assert model.scores["FLAT"].reason == "the score has no variance in the reference"
    out = adjust_scores(model, frame[:3], flat[:3])
    assert out["z_pc_mean"].null_count() == 3 and out["z_pc_meanvar"].null_count() == 3
    assert out["percentile"].to_list() == [50.0, 50.0, 50.0] and out["z"].null_count() == 3
    with pytest.raises(InputError, match="reference samples have a value"):
        fit_adjustment(frame, flat[:2])
    with pytest.raises(InputError, match="PC columns"):
        fit_adjustment(frame.drop("PC4"), flat)
