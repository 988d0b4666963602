"""Genotypes normalised to parquet by `genotypes.vcf` (`ParquetSource`). See docs/engine.md ("Genotypes").

The hard calls (`gt`) and, when the VCF had dosages, the dosages (`ds`, 1/16384 units) are each
loaded on first use only: a run reads one of them.
"""

from __future__ import annotations

import json
import shutil
import threading
import weakref
from pathlib import Path

import numpy as np
import polars as pl

from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes.build import BuildEvidence
from prsgazer.engine.genotypes.source import (
    DOSAGE_SCALE,
    HARD_CALLS,
    VARIANT_SCHEMA,
    GenotypeSource,
)
from prsgazer.engine.genotypes.vcf import VcfSummary
from prsgazer.errors import InputError

# --------------------------------------------------------------------------------------------------
# normalised parquet (written by engine.vcf)

_DOSAGE_MISSING = 65535


class ParquetSource(GenotypeSource):
    """Genotypes normalised to parquet: variant columns, `gt` (fixed-size list of int8 per row) and,
    with dosages, `ds` (fixed-size list of uint16 per row)."""

    kind = "parquet"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source_path = self.path
        try:
            meta = pl.read_parquet_metadata(self.path)
            info = json.loads(meta.get("prsgazer.genotypes", "{}"))
            self._columns = list(pl.read_parquet_schema(self.path))
            frame = pl.read_parquet(self.path, columns=list(VARIANT_SCHEMA))
        except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
            raise InputError(f"not a prsgazer genotype parquet ({exc})", file=self.path) from exc
        self.info = info
        samples = info.get("samples", [])
        self.samples = pl.DataFrame(
            {"sample_id": samples, "founder": [True] * len(samples)},
            schema={"sample_id": pl.String, "founder": pl.Boolean},
        )
        self.build = BuildEvidence.model_validate(info.get("build", {}))
        self.variants = frame
        summary = VcfSummary.model_validate(info["summary"]) if "summary" in info else None
        self.dosage_source = summary.dosage_source() if summary is not None and "ds" in self._columns else HARD_CALLS
        #: dosage fields the VCF's header declares (read or not)
        self.dosage_declared: list[str] = list(summary.dosage_declared) if summary is not None else []
        self._remove_folder: weakref.finalize | None = None
        self._lock = threading.Lock()
        self._gt: np.ndarray | None = None
        self._ds: np.ndarray | None = None
        blocks_path = self.path.with_suffix(".blocks.parquet")
        self.blocks = pl.read_parquet(blocks_path) if blocks_path.exists() else None

    def _matrix(self, column: str, dtype: type) -> np.ndarray:
        n = self.n_samples
        height = self.variants.height
        if height == 0:
            return np.empty((0, n), dtype=dtype)
        col = pl.read_parquet(self.path, columns=[column]).get_column(column)
        return col.to_numpy().reshape(height, n)

    def read(self, vidx: np.ndarray) -> np.ndarray:
        return self._calls()[np.asarray(vidx, dtype=np.int64)]

    def all_calls(self) -> np.ndarray:
        """Every call (variants × samples, read-only): `read` of every row without indexing them."""
        view = self._calls().view()
        view.flags.writeable = False
        return view

    def _calls(self) -> np.ndarray:
        if self._gt is None:
            with self._lock:
                if self._gt is None:
                    self._gt = self._matrix("gt", np.int8)
        return self._gt

    def _dosage_codes(self) -> np.ndarray:
        if self._ds is None:
            with self._lock:
                if self._ds is None:
                    self._ds = self._matrix("ds", np.uint16)
        return self._ds

    def preload(self, *, dosages: bool) -> None:
        """The matrix the run reads: dosages (when scored), calls (otherwise, and for one sample, whose
        calls also tell whether the VCF is a whole genome's)."""
        use_ds = dosages and self.has_dosages
        if use_ds:
            self._dosage_codes()
        if not use_ds or self.n_samples == 1:
            self._calls()

    def read_dosages(self, vidx: np.ndarray) -> np.ndarray:
        if not self.has_dosages:
            return self.read(vidx).astype(np.float32)
        raw = self._dosage_codes()[np.asarray(vidx, dtype=np.int64)]
        out = raw.astype(np.float32) * np.float32(1.0 / DOSAGE_SCALE)
        out[raw == _DOSAGE_MISSING] = MISSING
        return out

    def own_folder(self, folder: Path) -> None:
        """Remove `folder` (a temporary one holding the parquet) when the source is closed or dropped."""
        self._remove_folder = weakref.finalize(self, shutil.rmtree, folder, True)

    def close(self) -> None:
        if self._remove_folder is not None:
            self._remove_folder()
