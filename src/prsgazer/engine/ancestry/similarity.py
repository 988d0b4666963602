"""The most similar reference superpopulation of each sample, with a probability. See docs/ancestry.md
("Similarity").

A Gaussian model on the first `n_pcs` PCs (pgsc_calc compares populations on 5): each reference
population has its own mean and covariance (unrelated reference samples, ddof = 1), and a sample's
probability of belonging to population c is the posterior with equal priors,

    P(c | x) = N(x; μ_c, Σ_c) / Σ_k N(x; μ_k, Σ_k)

(quadratic discriminant analysis; equal priors because how many samples a panel holds of each
population says nothing about a person). pgsc_calc's default is a random forest on the PCs, and its
alternative a Mahalanobis-distance p-value per population; this model gives a calibrated probability
and also that distance: `fit_p` is the χ²(n_pcs) tail probability of the sample's squared Mahalanobis
distance to the assigned population.

A result is low-confidence when the probability is below `min_probability` (pgsc_calc's random-forest
threshold, 0.5) or the sample lies outside the assigned population (`fit_p < min_fit_p`): posteriors
compare populations with each other, so a person unlike every reference population can still get a
probability near 1 for the nearest one, and only the distance shows it.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.common import one_blas_thread
from prsgazer.errors import InputError


class SimilarityOptions(BaseModel):
    n_pcs: int = Field(default=5, ge=1, description="PCs compared (pgsc_calc: 5).")
    min_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    min_fit_p: float = Field(default=1e-6, ge=0.0, lt=1.0)
    min_samples: int = Field(default=10, ge=2, description="Populations with fewer reference samples are left out.")


class SimilarityModel(BaseModel):
    """Per-population Gaussians on the first PCs."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    options: SimilarityOptions
    populations: list[str]
    counts: list[int]
    means: np.ndarray  # (P, k)
    covariances: np.ndarray  # (P, k, k)


@one_blas_thread
def fit_similarity(
    pcs: np.ndarray, labels: list[str | None] | np.ndarray, options: SimilarityOptions | None = None
) -> SimilarityModel:
    """Fit the model on reference PCs (samples × ≥ n_pcs) and their superpopulation labels (None: unused)."""
    options = options or SimilarityOptions()
    k = options.n_pcs
    pcs = np.asarray(pcs, dtype=np.float64)
    if pcs.ndim != 2 or pcs.shape[1] < k:
        raise InputError(f"need reference PCs with at least {k} columns", field="PCs")
    lab = np.asarray([x if x is not None else "" for x in labels], dtype=object)
    pops, counts, means, covs = [], [], [], []
    for p in sorted({x for x in lab.tolist() if x}):
        x = pcs[lab == p, :k]
        if len(x) < max(options.min_samples, k + 1):
            continue
        pops.append(p)
        counts.append(len(x))
        means.append(x.mean(axis=0))
        covs.append(np.cov(x, rowvar=False, ddof=1).reshape(k, k))
    if len(pops) < 2:
        raise InputError(
            "ancestry needs at least two reference populations with enough labelled samples",
            field="superpopulation",
            hint=f"each needs ≥ {max(options.min_samples, k + 1)} samples with PCs",
        )
    return SimilarityModel(
        options=options, populations=pops, counts=counts, means=np.asarray(means), covariances=np.asarray(covs)
    )


def _log_densities(model: SimilarityModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(samples × P) Gaussian log densities and squared Mahalanobis distances."""
    k = model.options.n_pcs
    x = np.asarray(x, dtype=np.float64)[:, :k]
    logd = np.empty((len(x), len(model.populations)))
    d2 = np.empty_like(logd)
    for j in range(len(model.populations)):
        chol = np.linalg.cholesky(model.covariances[j])
        w = np.linalg.solve(chol, (x - model.means[j]).T)
        d2[:, j] = np.sum(w * w, axis=0)
        logdet = 2.0 * np.sum(np.log(np.diag(chol)))
        logd[:, j] = -0.5 * (d2[:, j] + logdet + k * math.log(2 * math.pi))
    return logd, d2


@one_blas_thread
def assign(model: SimilarityModel, pcs: np.ndarray, sample_ids: list[str] | None = None) -> pl.DataFrame:
    """Most similar population per sample.

    Returns `sample_id superpopulation probability fit_p low_confidence` and `P_<pop>` per population.
    """
    pcs = np.asarray(pcs, dtype=np.float64)
    if pcs.ndim != 2 or pcs.shape[1] < model.options.n_pcs:
        raise InputError(f"need PCs with at least {model.options.n_pcs} columns", field="PCs")
    logd, d2 = _log_densities(model, pcs)
    post = np.exp(logd - logd.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    best = np.argmax(post, axis=1)
    prob = post[np.arange(len(best)), best]
    fit_p = np.asarray([chi2_sf(float(d), model.options.n_pcs) for d in d2[np.arange(len(best)), best]])
    low = (prob < model.options.min_probability) | (fit_p < model.options.min_fit_p)
    ids = sample_ids if sample_ids is not None else [str(i) for i in range(len(pcs))]
    return pl.DataFrame(
        {
            "sample_id": ids,
            "superpopulation": [model.populations[b] for b in best],
            "probability": prob,
            "fit_p": fit_p,
            "low_confidence": low,
            **{f"P_{p}": post[:, j] for j, p in enumerate(model.populations)},
        },
        schema_overrides={"sample_id": pl.String, "superpopulation": pl.String},
    )


@one_blas_thread
def leave_one_out(
    pcs: np.ndarray, labels: list[str | None] | np.ndarray, options: SimilarityOptions | None = None
) -> pl.DataFrame:
    """Each labelled reference sample assigned by a model fitted without it.

    Returns `index label superpopulation probability` per labelled sample (in the order given); the
    accuracy is the mean of `label == superpopulation`.
    """
    options = options or SimilarityOptions()
    full = fit_similarity(pcs, labels, options)
    k = options.n_pcs
    x_all = np.asarray(pcs, dtype=np.float64)[:, :k]
    lab = [x if x is not None else "" for x in labels]
    logd, _ = _log_densities(full, x_all)  # every sample under every full-data population
    rows = []
    for i, own in enumerate(lab):
        if own not in full.populations:
            continue
        j = full.populations.index(own)
        n = full.counts[j]
        x = x_all[i]
        # the own population without sample i: exact downdates of the mean and covariance (ddof = 1)
        dev = x - full.means[j]
        mu = (n * full.means[j] - x) / (n - 1)
        cov = (full.covariances[j] * (n - 1) - (n / (n - 1)) * np.outer(dev, dev)) / (n - 2)
        chol = np.linalg.cholesky(cov)
        w = np.linalg.solve(chol, x - mu)
        row = logd[i].copy()
        row[j] = -0.5 * (w @ w + 2.0 * np.sum(np.log(np.diag(chol))) + k * math.log(2 * math.pi))
        post = np.exp(row - row.max())
        post /= post.sum()
        best = int(np.argmax(post))
        rows.append((i, own, full.populations[best], float(post[best])))
    return pl.DataFrame(
        rows,
        schema={"index": pl.Int64, "label": pl.String, "superpopulation": pl.String, "probability": pl.Float64},
        orient="row",
    )


def chi2_sf(x: float, df: int) -> float:
    """Upper tail probability of a χ² distribution with integer `df` degrees of freedom (closed forms)."""
    if x <= 0:
        return 1.0
    if df % 2 == 0:
        # exp(-x/2) Σ_{i<df/2} (x/2)^i / i!
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= (x / 2) / i
            total += term
        return min(1.0, math.exp(-x / 2) * total)
    # odd: 2 Φ̄(√x) + 2 φ(√x) Σ_{j=1}^{(df−1)/2} x^{j−½} / (1·3·…·(2j−1))
    r = math.sqrt(x)
    tail = math.erfc(r / math.sqrt(2))
    term, total = r, 0.0
    for j in range(1, (df - 1) // 2 + 1):
        if j > 1:
            term *= x / (2 * j - 1)
        total += term
    return min(1.0, tail + 2 * math.exp(-x / 2) / math.sqrt(2 * math.pi) * total)
