"""Test helpers for the ancestry tests."""

from __future__ import annotations

import numpy as np
import polars as pl

from prsgazer.engine.genotypes import GenotypeSource, PgenSource


class Joined(GenotypeSource):
    """Two pfiles with the same variants as one source: the samples of `a`, then those of `b`."""

    def __init__(self, a: PgenSource, b: PgenSource) -> None:
        if not a.variants.equals(b.variants):
            raise ValueError("different variants")
        self.a, self.b = a, b
        self.path, self.kind, self.build = a.path, "joined", a.build
        self.variants = a.variants
        self.samples = pl.concat([a.samples, b.samples])

    def read(self, vidx: np.ndarray) -> np.ndarray:
        return np.hstack([self.a.read(vidx), self.b.read(vidx)])
