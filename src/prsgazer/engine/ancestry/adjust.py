"""Ancestry-aware scores: percentile and z within the most similar population, and the two PC-based
normalisations of the PGS Catalog calculator. See docs/ancestry.md ("Adjusted scores").

Fitted on the reference samples' scores and PCs (pgsc_calc's `pgs_adjust`, pgscatalog.calc
`lib/legacy/_ancestry/tools.py`), applied to targets:

- `percentile`, `z`: among the reference samples of the target's most similar population (for a
  reference sample: its own); percentile = 100 × (#{x < v} + ½ #{x = v}) / n, z = (v − mean) / sd with
  ddof = 0, as pgsc_calc (`Z_MostSimilarPop`, `percentile_MostSimilarPop`).
- `z_pc_mean` (pgsc_calc `Z_norm1`, Khera et al. 2019, Circulation 139:1593): the PCs are standardised
  with the reference mean and sd (ddof 0) and the score centred on the reference mean; an ordinary
  least-squares fit score ~ 1 + PC1…PCk (k = 4) on the reference gives z = (v − ŷ(PCs)) / sd(residuals),
  the residual sd with ddof 0.
- `z_pc_meanvar` (pgsc_calc `Z_norm2`, Khan et al. 2022, Nat Med 28:1412): mean and variance both depend
  on the PCs, v ~ N(Xβ, exp(Xγ)) with X = [1, PCs]; z = (v − Xβ) / exp(Xγ / 2). pgsc_calc's default
  ("full likelihood") starts from the OLS fit and a gamma regression with log link of the squared
  residuals on the PCs, then maximises the joint Gaussian likelihood with BFGS. Here the same likelihood
  is maximised by block coordinate ascent: β by weighted least squares (weights exp(−Xγ)) and γ by
  Fisher scoring — which is the IRLS of a gamma GLM with log link on the squared residuals — alternated
  until the log-likelihood stops changing; both steps never decrease it. No scipy, no sklearn.

Scores with no variance in the reference are reported as N/A (null), as pgsc_calc skips them.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.engine.common import one_blas_thread
from prsgazer.errors import InputError


class PopulationDistribution(BaseModel):
    """A score's reference values in one population (for percentiles and z)."""

    superpopulation: str
    mean: float
    sd: float
    values: list[float] = Field(description="Sorted reference values.")


class ScoreAdjustment(BaseModel):
    """The fitted adjustment of one score."""

    pgs_id: str
    n_reference: int
    offset: float = Field(description="Reference mean of the score (subtracted before the PC models).")
    populations: list[PopulationDistribution]
    mean_coef: list[float] | None = Field(default=None, description="OLS [intercept, PC1…PCk] (z_pc_mean).")
    resid_sd: float | None = None
    meanvar_mean_coef: list[float] | None = Field(default=None, description="β of the mean (z_pc_meanvar).")
    meanvar_var_coef: list[float] | None = Field(default=None, description="γ of log variance (z_pc_meanvar).")
    meanvar_converged: bool = False
    meanvar_iterations: int = 0
    reason: str | None = Field(default=None, description="Why the PC models are N/A.")


class AdjustmentModel(BaseModel):
    """Adjustments of several scores against one reference (its PCs standardised once)."""

    n_pcs: int
    pc_mean: list[float]
    pc_sd: list[float]
    scores: dict[str, ScoreAdjustment]


def _pc_matrix(frame: pl.DataFrame, n_pcs: int) -> np.ndarray:
    cols = [f"PC{k + 1}" for k in range(n_pcs)]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"PC columns {missing} are missing", field=missing[0], hint=f"need PC1…PC{n_pcs}")
    return frame.select(cols).to_numpy().astype(np.float64)


@one_blas_thread
def fit_adjustment(
    reference: pl.DataFrame, scores: pl.DataFrame, *, n_pcs: int = 4, value: str = "sum"
) -> AdjustmentModel:
    """Fit the adjustments on the reference.

    Args:
        reference: `sample_id superpopulation PC1 … PCk` of the (unrelated) reference samples.
        scores: long table `sample_id pgs_id <value>` of the same samples' scores.
        n_pcs: PCs in the PC models (pgsc_calc: 4).
        value: the score column (pgsc_calc adjusts SUM).
    """
    x = _pc_matrix(reference, n_pcs)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    out: dict[str, ScoreAdjustment] = {}
    ref_ids = reference.select("sample_id", "superpopulation")
    for pgs_id in scores.get_column("pgs_id").unique(maintain_order=True).to_list():
        one = scores.filter(pl.col("pgs_id") == pgs_id).select("sample_id", pl.col(value).cast(pl.Float64))
        joined = ref_ids.join(one, on="sample_id", how="left", maintain_order="left")
        v = joined.get_column(value).to_numpy()
        ok = np.isfinite(v)
        if ok.sum() < 3:
            raise InputError(
                f"score {pgs_id}: only {int(ok.sum())} reference samples have a value",
                field=value,
                hint="score the reference panel's PCA samples with the same scoring file",
            )
        out[pgs_id] = _fit_one(pgs_id, v[ok], (x[ok] - mu) / sd, joined.get_column("superpopulation").to_numpy()[ok])
    return AdjustmentModel(n_pcs=n_pcs, pc_mean=mu.tolist(), pc_sd=sd.tolist(), scores=out)


def _fit_one(pgs_id: str, v: np.ndarray, pcs: np.ndarray, pops: np.ndarray) -> ScoreAdjustment:
    dists = []
    for p in sorted({str(q) for q in pops if q is not None}):
        vals = np.sort(v[pops == p])
        dists.append(
            PopulationDistribution(
                superpopulation=p, mean=float(vals.mean()), sd=float(vals.std()), values=vals.tolist()
            )
        )
    offset = float(v.mean())
    adj = ScoreAdjustment(pgs_id=pgs_id, n_reference=len(v), offset=offset, populations=dists)
    if np.var(v) == 0:
        adj.reason = "the score has no variance in the reference"
        return adj
    y = v - offset
    design = np.column_stack([np.ones(len(y)), pcs])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    adj.mean_coef = beta.tolist()
    adj.resid_sd = float(resid.std())
    b, g, converged, iters = fit_mean_variance(y, design, beta)
    adj.meanvar_mean_coef, adj.meanvar_var_coef = b.tolist(), g.tolist()
    adj.meanvar_converged, adj.meanvar_iterations = converged, iters
    return adj


def neg_log_likelihood(y: np.ndarray, design: np.ndarray, beta: np.ndarray, gamma: np.ndarray) -> float:
    """−log L of y ~ N(Xβ, exp(Xγ)) without the constant: Σ ½ Xγ + ½ (y − Xβ)² exp(−Xγ)."""
    eta = design @ gamma
    r = y - design @ beta
    return float(0.5 * np.sum(eta + r * r * np.exp(-eta)))


def fit_mean_variance(
    y: np.ndarray, design: np.ndarray, beta0: np.ndarray, *, tol: float = 1e-12, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """Maximum-likelihood β, γ of y ~ N(Xβ, exp(Xγ)) by block coordinate ascent.

    Starts from `beta0` (OLS) and the gamma-GLM (log link) fit of the squared centred residuals.
    Returns (β, γ, converged, iterations).
    """
    xtx_inv = np.linalg.pinv(design.T @ design)
    r0 = y - design @ beta0
    sq = (r0 - r0.mean()) ** 2
    gamma = _gamma_glm(sq, design, xtx_inv)
    beta = beta0.copy()
    nll = neg_log_likelihood(y, design, beta, gamma)
    for it in range(1, max_iter + 1):
        w = np.exp(-(design @ gamma))
        xw = design * w[:, None]
        beta = np.linalg.solve(design.T @ xw, xw.T @ y)
        r2 = (y - design @ beta) ** 2
        gamma = _gamma_step(r2, design, gamma, xtx_inv)
        new = neg_log_likelihood(y, design, beta, gamma)
        if abs(nll - new) <= tol * (abs(new) + 1.0):
            return beta, gamma, True, it
        nll = new
    return beta, gamma, False, max_iter


def _gamma_glm(y: np.ndarray, design: np.ndarray, xtx_inv: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Gamma GLM with log link (unpenalised), by IRLS, from the log of the mean."""
    gamma = np.zeros(design.shape[1])
    gamma[0] = np.log(max(float(y.mean()), 1e-300))
    for _ in range(max_iter):
        new = _gamma_step(y, design, gamma, xtx_inv)
        if np.max(np.abs(new - gamma)) < 1e-12:
            return new
        gamma = new
    return gamma


def _gamma_step(y: np.ndarray, design: np.ndarray, gamma: np.ndarray, xtx_inv: np.ndarray) -> np.ndarray:
    """One Fisher-scoring step for log-variance γ given squared residuals y, halved until
    ½ Σ (Xγ + y e^{−Xγ}) does not increase (the γ-part of the Gaussian likelihood = the gamma deviance)."""

    def obj(g: np.ndarray) -> float:
        eta = design @ g
        return float(0.5 * np.sum(eta + y * np.exp(-eta)))

    eta = design @ gamma
    step = xtx_inv @ (design.T @ (y * np.exp(-eta) - 1.0))
    base = obj(gamma)
    t = 1.0
    for _ in range(60):
        cand = gamma + t * step
        if obj(cand) <= base:
            return cand
        t /= 2
    return gamma


@one_blas_thread
def adjust_scores(
    model: AdjustmentModel, ancestry: pl.DataFrame, scores: pl.DataFrame, *, value: str = "sum"
) -> pl.DataFrame:
    """Adjusted scores of samples.

    Args:
        model: from `fit_adjustment`.
        ancestry: `sample_id superpopulation PC1 … PCk` — the most similar population (or, for
            reference samples, their own) and the projected PCs.
        scores: long table `sample_id pgs_id <value>`.

    Returns `sample_id pgs_id <value> ancestry percentile z z_pc_mean z_pc_meanvar`, in the order of `scores`.
    """
    anc = ancestry.select(
        "sample_id", pl.col("superpopulation").alias("ancestry"), *[f"PC{k + 1}" for k in range(model.n_pcs)]
    )
    frame = scores.select("sample_id", "pgs_id", pl.col(value).cast(pl.Float64)).join(
        anc, on="sample_id", how="left", maintain_order="left"
    )
    pcs = (
        frame.select([f"PC{k + 1}" for k in range(model.n_pcs)]).to_numpy().astype(np.float64) - model.pc_mean
    ) / model.pc_sd
    design = np.column_stack([np.ones(frame.height), pcs])
    v = frame.get_column(value).to_numpy().astype(np.float64)
    pgs = frame.get_column("pgs_id").to_numpy()
    pops = frame.get_column("ancestry").to_numpy()
    out = {k: np.full(frame.height, np.nan) for k in ("percentile", "z", "z_pc_mean", "z_pc_meanvar")}
    for pgs_id, adj in model.scores.items():
        sel = pgs == pgs_id
        for dist in adj.populations:
            rows = sel & (pops == dist.superpopulation)
            ref = np.asarray(dist.values)
            below = np.searchsorted(ref, v[rows], side="left")
            upto = np.searchsorted(ref, v[rows], side="right")
            out["percentile"][rows] = 100.0 * (below + 0.5 * (upto - below)) / len(ref)
            if dist.sd > 0:
                out["z"][rows] = (v[rows] - dist.mean) / dist.sd
        if (
            adj.mean_coef is None
            or adj.resid_sd is None
            or adj.meanvar_mean_coef is None
            or adj.meanvar_var_coef is None
        ):
            continue
        y = v[sel] - adj.offset
        x = design[sel]
        out["z_pc_mean"][sel] = (y - x @ np.asarray(adj.mean_coef)) / adj.resid_sd
        eta = x @ np.asarray(adj.meanvar_var_coef)
        out["z_pc_meanvar"][sel] = (y - x @ np.asarray(adj.meanvar_mean_coef)) / np.exp(eta / 2)
    return frame.select("sample_id", "pgs_id", value, "ancestry").with_columns(
        pl.Series(k, a, dtype=pl.Float64, nan_to_null=True) for k, a in out.items()
    )
