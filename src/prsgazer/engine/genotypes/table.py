"""Genotypes normalised to parquet by `genotypes.vcf` (`ParquetSource`). See docs/engine.md ("Genotypes").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from prsgazer.engine.genotypes.build import BuildEvidence
from prsgazer.engine.genotypes.source import VARIANT_SCHEMA, GenotypeSource
from prsgazer.errors import InputError

# --------------------------------------------------------------------------------------------------
# normalised parquet (written by engine.vcf)


class ParquetSource(GenotypeSource):
    """Genotypes normalised to parquet: variant columns + `gt` (fixed-size list of int8 per row)."""

    kind = "parquet"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source_path = self.path
        try:
            meta = pl.read_parquet_metadata(self.path)
            info = json.loads(meta.get("prsgazer.genotypes", "{}"))
            frame = pl.read_parquet(self.path)
        except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
            raise InputError(f"not a prsgazer genotype parquet ({exc})", file=self.path) from exc
        self.info = info
        samples = info.get("samples", [])
        self.samples = pl.DataFrame(
            {"sample_id": samples, "founder": [True] * len(samples)},
            schema={"sample_id": pl.String, "founder": pl.Boolean},
        )
        self.build = BuildEvidence.model_validate(info.get("build", {}))
        self.variants = frame.select(list(VARIANT_SCHEMA))
        self._matrix = (
            frame.get_column("gt").to_numpy().reshape(frame.height, len(samples))
            if frame.height
            else np.empty((0, len(samples)), dtype=np.int8)
        )
        blocks_path = self.path.with_suffix(".blocks.parquet")
        self.blocks = pl.read_parquet(blocks_path) if blocks_path.exists() else None

    def read(self, vidx: np.ndarray) -> np.ndarray:
        return self._matrix[np.asarray(vidx, dtype=np.int64)]
