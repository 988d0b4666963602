"""Unrelated reference samples for the PCA: a relatedness exclusion list, or KING-robust kinship computed
on a subsample of variants with plink2's greedy removal. See docs/ancestry.md ("Unrelated samples").

KING-robust (Manichaikul et al. 2010, Bioinformatics 26:2867, eq. 11; plink2 `--make-king`): for samples
i, j over the variants both have called,

    φ_ij = ½ − (4·N_AA,aa + N_het≠) / (4·min(N_Aa(i), N_Aa(j)))

where N_AA,aa counts opposite homozygotes, N_het≠ sites where exactly one of the two is heterozygous, and
N_Aa(i) the heterozygous sites of i. Pairs above `cutoff` (default 0.0884 = 2^-3.5, second-degree
relatives, pgsc_calc's `deg2` lists) are related; samples are removed greedily, the one with the most
remaining relatives first (ties: the later sample), until no related pair is left, in the manner of
`plink2 --king-cutoff` (whose tie rules may pick a different but equally small set).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from prsgazer.engine.common import MISSING
from prsgazer.errors import InputError

#: Second-degree relatives and closer (plink2's recommended cutoff, pgsc_calc's `deg2` lists).
KING_CUTOFF_DEG2 = 0.0884


def read_exclusion_list(path: str | Path) -> list[str]:
    """Sample ids of a plink `.king.cutoff.out.id` / `.king.cutoff.id` file (`#IID` or `#FID IID` header, or none)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the relatedness list ({exc})", file=path) from exc
    lines = [ln for ln in lines if ln.strip()]
    col = 0
    if lines and lines[0].startswith("#"):
        head = lines[0][1:].split()
        if "IID" not in head:
            raise InputError(
                "header has no IID column", file=path, line=1, field="IID", hint="expected '#IID' or '#FID IID'"
            )
        col = head.index("IID")
        lines = lines[1:]
    out = []
    for i, ln in enumerate(lines):
        parts = ln.split()
        if len(parts) <= col:
            raise InputError(
                f"row has {len(parts)} field(s), IID is column {col + 1}", file=path, line=i + 2, field="IID"
            )
        out.append(parts[col])
    return out


def king_robust(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """KING-robust kinship of every pair of samples from (variants × samples) int8 blocks (MISSING allowed).

    Returns an (n × n) float64 matrix (diagonal 0.5; NaN for a pair with no heterozygous site). Counts
    are accumulated block by block in float64; each block's float32 products of 0/1 indicators are exact
    integers (blocks are far below 2^24 variants).
    """
    both_het = ibs0 = het_i = None
    for g in blocks:
        called = g != MISSING
        het = (g == 1).astype(np.float32)
        bh = (het.T @ het).astype(np.float64)  # syrk
        if called.all():
            # x = g − 1: x_i·x_j is +1 for equal, −1 for opposite homozygotes, 0 when either is het;
            # (1 − het_i)(1 − het_j) counts both homozygous, so opposite = (both hom − x_i·x_j) / 2:
            # two symmetric products (syrk) instead of a general one
            x = g.astype(np.float32) - 1.0
            xx = (x.T @ x).astype(np.float64)
            h = het.sum(axis=0, dtype=np.float64)
            both_hom = g.shape[0] - h[:, None] - h[None, :] + bh
            i0 = (both_hom - xx) / 4.0  # half of the opposite count per ordered pair, doubled below
            hi = np.broadcast_to(h[:, None], bh.shape)
        else:
            hom0 = (g == 0).astype(np.float32)
            hom2 = (g == 2).astype(np.float32)
            opp = (hom0.T @ hom2).astype(np.float64)
            i0 = (opp + opp.T) / 2.0
            hi = (het.T @ called.astype(np.float32)).astype(np.float64)  # [i, j]: het of i where j is called
        if both_het is None:
            both_het, ibs0, het_i = bh, i0, np.array(hi)
        else:
            both_het += bh
            ibs0 += i0
            het_i += hi
    if both_het is None or ibs0 is None or het_i is None:
        raise ValueError("no variants to estimate kinship from")
    ibs0 = ibs0 + ibs0.T
    het_j = het_i.T
    mismatch = het_i + het_j - 2.0 * both_het
    denom = 4.0 * np.minimum(het_i, het_j)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = 0.5 - (4.0 * ibs0 + mismatch) / denom
    phi[denom == 0] = np.nan
    np.fill_diagonal(phi, 0.5)
    return phi


def greedy_unrelated(phi: np.ndarray, cutoff: float = KING_CUTOFF_DEG2) -> np.ndarray:
    """Indices of samples to remove so that no remaining pair has kinship above `cutoff`.

    Repeatedly removes the sample with the most remaining relatives (ties: the highest index).
    """
    related = np.nan_to_num(phi, nan=0.0) > cutoff
    np.fill_diagonal(related, False)
    related = related | related.T
    degree = related.sum(axis=1)
    alive = np.ones(len(phi), dtype=bool)
    removed: list[int] = []
    while degree.max(initial=0) > 0:
        top = np.flatnonzero(degree == degree.max())[-1]
        removed.append(int(top))
        alive[top] = False
        degree = degree - related[top]
        degree[top] = 0
        degree[~alive] = 0
    return np.sort(np.asarray(removed, dtype=np.int64))
