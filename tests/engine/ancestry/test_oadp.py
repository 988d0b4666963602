"""OADP in span(V) coordinates against FRAPOSA's own dense implementation."""

from __future__ import annotations

import numpy as np

from prsgazer.engine.ancestry import AncestryPca, decomposition, match_pca_variants, oadp
from prsgazer.engine.genotypes import PgenSource

# ---- FRAPOSA's OADP, verbatim from fraposa_pgsc (src/fraposa_pgsc/fraposa.py, MIT License, © Daiwei
# Zhang and the PGS Catalog team), the oracle: dense n × K matrices, explicit centring and translation.


def svd_online(U1, d1, V1, b, l=None):  # noqa: E741
    n, k = V1.shape
    if l is None:
        l = k  # noqa: E741
    p = U1.shape[0]
    b = b.reshape((p, 1))
    b_tilde = b - U1 @ (U1.T @ b)
    b_tilde = b_tilde / np.sqrt(sum(np.square(b_tilde)))
    R = np.concatenate((np.diag(d1), U1.transpose() @ b), axis=1)
    R_tail = np.concatenate((np.zeros((1, k)), b_tilde.transpose() @ b), axis=1)
    R = np.concatenate((R, R_tail), axis=0)
    d2, R_Vt = np.linalg.svd(R, full_matrices=False)[1:]
    V_new = np.zeros((k + 1, n + 1))
    V_new[:k, :n] = V1.transpose()
    V_new[k, n] = 1
    V2 = (R_Vt @ V_new).transpose()[:, :l]
    return d2, V2


def procrustes(Y_mat, X_mat):
    X = np.array(X_mat, dtype=np.double, copy=True)
    Y = np.array(Y_mat, dtype=np.double, copy=True)
    X_mean = np.mean(X, 0)
    Y_mean = np.mean(Y, 0)
    X -= X_mean
    Y -= Y_mean
    C = Y.T @ X
    U, s, VT = np.linalg.svd(C, full_matrices=False)
    trXX = np.sum(X**2)
    trS = np.sum(s)
    R = VT.T @ U.T
    rho = trS / trXX
    c = Y_mean - rho * X_mean @ R
    return R, rho, c


def procrustes_diffdim(Y_mat, X_mat, n_iter_max=10000, epsilon_min=1e-6):
    X = np.array(X_mat, dtype=np.double, copy=True)
    Y = np.array(Y_mat, dtype=np.double, copy=True)
    n_X, p_X = X.shape
    _, p_Y = Y.shape
    Z = np.zeros((n_X, p_X - p_Y))
    for _ in range(n_iter_max):
        W = np.hstack((Y, Z))
        R, rho, c = procrustes(W, X)
        X_new = X @ R * rho + c
        Z_new = X_new[:, p_Y:]
        Z_new_centered = Z_new - np.mean(Z_new, 0)
        epsilon = np.sum((Z_new - Z) ** 2) / np.sum(Z_new_centered**2)
        if epsilon < epsilon_min:
            break
        Z = Z_new
    return R, rho, c


def fraposa_oadp(U, s, V, b, dim_ref=4, dim_stu=None, dim_online=None):
    pcs_ref = V[:, :dim_ref] * s[:dim_ref]
    s_aug, V_aug = svd_online(U[:, :dim_online], s[:dim_online], V[:, :dim_online], b)
    s_aug, V_aug = s_aug[:dim_stu], V_aug[:, :dim_stu]
    pcs_aug = V_aug * s_aug
    R, rho, c = procrustes_diffdim(pcs_ref, pcs_aug[:-1, :])
    return (pcs_aug[-1:, :] @ R * rho + c).flatten()[:dim_ref]


# ----


def test_oadp_equals_fraposa(anc_panel, anc_pca: AncestryPca) -> None:
    hold = PgenSource(anc_panel.holdout_prefix, "pfile")
    shared = match_pca_variants(anc_pca.variants, hold.variants)
    assert shared.height == anc_pca.variants.height
    g = hold.read(shared["vidx"].to_numpy())[:, :12].astype(np.float64)
    mean = 2 * anc_pca.variants["alt_freq"].to_numpy()
    sd = anc_pca.variants["sd"].to_numpy()
    u, s = anc_pca.loadings, anc_pca.singular_values
    v = anc_pca.scores / s
    dec = decomposition(s, anc_pca.scores, anc_pca.pcs)
    for i in range(g.shape[1]):
        b = (g[:, i] - mean) / sd
        want = fraposa_oadp(u, s, v, b, dim_ref=10, dim_stu=20, dim_online=40)
        c = u.T @ b
        got = oadp(dec, c, float(np.sqrt(b @ b - c @ c)))
        # the iteration stops at a relative change of 1e-6 on both sides; the rest is rounding
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * float(np.abs(want).max()))
