"""LD pruning of reference-PCA variants: windowed r², vectorised on blocks. See docs/ancestry.md ("LD pruning").

Variants arrive in (chromosome, position) order as standardised rows (mean 0, sd 1 over the PCA samples,
missing calls at 0). A variant is kept unless its squared correlation with an already *kept* variant
of its window exceeds `r2`; the window is the previous `window_variants` QC-passing variants of the
chromosome that lie within `window_bp`. r = z_i·z_j / n (the Pearson correlation, with missing calls
mean-imputed).

This is a forward greedy pruning in position order (as `plink --clump` walks variants), not plink2's
`--indep-pairwise`, which within each sliding window removes the variant of a correlated pair with the
lower MAF: both leave no pair above the threshold inside a window; they can keep different members of
a correlated pair. pgsc_calc uses `--indep-pairwise 1000 50 0.05` (window of 1000 variants, r² 0.05),
which are the defaults here, with a 1 Mb cap on the window's span so that a sparse panel (a few
variants per Mb) does not correlate variants tens of Mb apart.

Correlations are computed for pairs in the window only: each block of `block` candidates against the
kept variants still in reach (one matrix product) and against itself (one small product), then the
greedy decision walks the block with boolean vector updates.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field


class LdPrune(BaseModel):
    """LD-pruning settings (pgsc_calc: `--indep-pairwise 1000 50 0.05`)."""

    r2: float = Field(default=0.05, gt=0.0, le=1.0, description="Maximum r² between kept variants of a window.")
    window_variants: int = Field(default=1000, ge=2, description="Window length in QC-passing variants.")
    window_bp: int = Field(default=1_000_000, ge=1, description="Window span cap in base pairs.")
    block: int = Field(default=64, ge=8, description="Candidates decided per matrix product.")


class LdPruner:
    """Streaming greedy pruner: feed standardised blocks in (chromosome, position) order with `add`."""

    def __init__(self, options: LdPrune, n_samples: int) -> None:
        self.options = options
        self.n = n_samples
        self._chrom: str | None = None
        self._ordinal = 0  # QC-passing variants seen on this chromosome
        # kept variants still possibly in a later variant's window
        self._z = np.empty((0, n_samples), dtype=np.float32)
        self._pos = np.empty(0, dtype=np.int64)
        self._ord = np.empty(0, dtype=np.int64)

    def add(self, z: np.ndarray, chrom: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Decide a block (rows sorted by chromosome, position). Returns the keep mask of its rows."""
        keep = np.zeros(len(pos), dtype=bool)
        chrom = np.asarray(chrom).astype(str)
        start = 0
        while start < len(pos):  # runs of one chromosome
            c = chrom[start]
            stop = start + int(np.argmax(chrom[start:] != c)) if (chrom[start:] != c).any() else len(pos)
            if c != self._chrom:
                self._chrom, self._ordinal = c, 0
                self._z = self._z[:0]
                self._pos, self._ord = self._pos[:0], self._ord[:0]
            for lo in range(start, stop, self.options.block):
                hi = min(lo + self.options.block, stop)
                keep[lo:hi] = self._decide(np.ascontiguousarray(z[lo:hi], dtype=np.float32), pos[lo:hi])
            start = stop
        return keep

    def _decide(self, z: np.ndarray, pos: np.ndarray) -> np.ndarray:
        o = self.options
        b = len(pos)
        ordinal = self._ordinal + np.arange(b, dtype=np.int64)
        self._ordinal += b
        # drop kept variants out of reach of this block's first variant (later ones reach no further back)
        reach = (self._pos >= pos[0] - o.window_bp) & (self._ord > ordinal[0] - o.window_variants)
        self._z, self._pos, self._ord = self._z[reach], self._pos[reach], self._ord[reach]
        thr = o.r2 * self.n * self.n  # compare (z_i·z_j)² with r2·n² (no division)
        blocked: np.ndarray = np.zeros(b, dtype=bool)
        if len(self._pos):
            dots = z @ self._z.T  # (b × kept)
            near = (pos[:, None] - self._pos[None, :] <= o.window_bp) & (
                ordinal[:, None] - self._ord[None, :] < o.window_variants
            )
            blocked = np.asarray(((dots.astype(np.float64) ** 2 > thr) & near).any(axis=1))
        inner = z @ z.T
        near_in = (np.abs(pos[:, None] - pos[None, :]) <= o.window_bp) & (
            np.abs(ordinal[:, None] - ordinal[None, :]) < o.window_variants
        )
        conflict = (inner.astype(np.float64) ** 2 > thr) & near_in
        np.fill_diagonal(conflict, False)
        keep = np.zeros(b, dtype=bool)
        for j in range(b):
            if not blocked[j]:
                keep[j] = True
                blocked |= conflict[j]  # later candidates too close to j are out
        if keep.any():
            self._z = np.concatenate([self._z, z[keep]])
            self._pos = np.concatenate([self._pos, pos[keep]])
            self._ord = np.concatenate([self._ord, ordinal[keep]])
        return keep
