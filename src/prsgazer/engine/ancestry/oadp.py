"""Shrinkage-corrected projection: FRAPOSA's online augmentation, decomposition and Procrustes (OADP).
See docs/ancestry.md ("Projection").

Projecting a new sample b onto reference loadings (Uᵀb) shrinks its PCs towards 0: the reference
samples' own scores contain the noise the loadings were fitted to, a new sample's do not (Lee et al.
2010, "Convergence and prediction of principal component scores in high-dimensional settings",
Ann Stat 38:3605). OADP (Zhang, Dey & Lee 2020, "Fast and robust ancestry prediction using principal
component analysis", Bioinformatics 36:3439, doi:10.1093/bioinformatics/btaa152; pgsc_calc runs it
through fraposa_pgsc with `--method oadp --dim_ref 10`) puts the new sample on the reference samples'
footing:

1. augment the reference with b and update the rank-K SVD online (K = dim_online = 4·d):
   [U S Vᵀ, b] = [U, j] R [V 0; 0 1]ᵀ with R = [[S, Uᵀb], [0, ‖b − UUᵀb‖]], j the unit residual;
   R = P Σ Qᵀ gives the augmented scores [V 0; 0 1] Q Σ of the n + 1 samples;
2. keep the first dim_stu = 2·d augmented dimensions;
3. find the Procrustes map (rotation R, scale ρ; FRAPOSA's `procrustes_diffdim`, which pads the d target
   dimensions with iterated extra columns) that best carries the augmented reference scores onto the
   reference PCs, and apply it to the new sample's augmented scores; its first d are the PCs.

Everything after Uᵀb lives in the K-dimensional span of V: reference scores, augmented scores and the
Procrustes iterates are n-vectors V·a with V's columns orthonormal and centred, so the algorithm runs
on K × K coordinates instead of n × K matrices — the same arithmetic as FRAPOSA's code (its centring
and translation terms are zero here), at a cost independent of the panel size. Each sample is
projected on its own: a person alone and inside a cohort get the same PCs.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict


class Decomposition(BaseModel):
    """What OADP needs of a reference PCA, in the coordinates of span(V)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    singular_values: np.ndarray  # (K,) s of the decomposition the sample is augmented into
    target: np.ndarray  # (K, d): coordinates Vᵀ·Y of the reference PCs Y the result is mapped onto
    n_pcs: int  # d


def decomposition(singular_values: np.ndarray, scores: np.ndarray, target_pcs: np.ndarray) -> Decomposition:
    """A decomposition with reference scores V·s (n × K) and Procrustes target PCs Y (n × d).

    For a model's own PCs, Y = the first d columns of V·s and the target coordinates are [diag(s_d); 0].
    For a PCA restricted to shared variants, Y are the full model's PCs: the Procrustes step then maps
    the target into the full model's space directly.
    """
    s = np.asarray(singular_values, dtype=np.float64)
    v = scores / s
    return Decomposition(singular_values=s, target=v.T @ target_pcs, n_pcs=target_pcs.shape[1])


def oadp(dec: Decomposition, c: np.ndarray, resid: float, *, eps: float = 1e-6, max_iter: int = 10_000) -> np.ndarray:
    """PCs of one sample from its projection c = Uᵀb (K,) and residual norm ‖b − UUᵀb‖.

    Returns the (d,) shrinkage-corrected PCs, in the space of `dec.target`.
    """
    s = dec.singular_values
    k = len(s)
    d = dec.n_pcs
    d_stu = 2 * d
    r = np.zeros((k + 1, k + 1))
    r[:k, :k] = np.diag(s)
    r[:k, k] = c
    r[k, k] = resid
    _, sig, qt = np.linalg.svd(r)
    q = qt.T[:, :d_stu] * sig[:d_stu]
    head = q[:k]  # augmented reference scores, in V coordinates (K × d_stu)
    tail = q[k]  # the sample's augmented scores (d_stu,)
    rot, rho = _procrustes_padded(dec.target, head, eps=eps, max_iter=max_iter)
    return (tail @ rot * rho)[:d]


def _procrustes(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Rotation and scale carrying x onto y (centred coordinates): FRAPOSA's `procrustes`."""
    u, sv, vt = np.linalg.svd(y.T @ x, full_matrices=False)
    return vt.T @ u.T, float(sv.sum() / np.sum(x * x))


def _procrustes_padded(y: np.ndarray, x: np.ndarray, *, eps: float, max_iter: int) -> tuple[np.ndarray, float]:
    """FRAPOSA's `procrustes_diffdim`: map x (K × p) onto y (K × d), d < p, padding y with p − d columns
    that are iterated to the transformed x's own extra columns until they change by less than `eps`."""
    d = y.shape[1]
    z = np.zeros((x.shape[0], x.shape[1] - d))
    rot, rho = _procrustes(np.hstack([y, z]), x)
    for _ in range(max_iter):
        z_new = (x @ rot * rho)[:, d:]
        change = np.sum((z_new - z) ** 2) / np.sum(z_new * z_new)
        if change < eps:
            break
        z = z_new
        rot, rho = _procrustes(np.hstack([y, z]), x)
    return rot, rho
