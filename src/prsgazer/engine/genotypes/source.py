"""Genotype access: the one small interface over plink2 pfiles, plink1 bfiles and normalised VCFs.

See docs/engine.md ("Genotypes"). A `GenotypeSource` has a variant table (`.variants`, one row per
(site, ALT allele): multi-allelic sites are split, `vidx` is the row index), a sample table
(`.samples`) and `.read(vidx) -> int8 array (len(vidx), n_samples)` of ALT-allele counts with
`MISSING` (-9) for missing calls. Callers read any subset of variants on demand, so a 1M-variant
panel can be scored chunk by chunk. VCFs are first normalised to parquet by `engine.vcf`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.engine.genotypes.build import BuildEvidence


class QualityFilters(BaseModel):
    """Which VCF calls to trust. A failing record or call becomes a missing call (not an absent site)."""

    filter_pass: list[str] | None = Field(
        default_factory=lambda: ["PASS", "."],
        description="Accepted FILTER values; None accepts any.",
    )
    min_qual: float | None = None
    min_dp: int | None = None
    min_gq: int | None = None

    def key(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


#: Columns of every `.variants` frame.
VARIANT_SCHEMA: dict[str, pl.DataType] = {
    "vidx": pl.UInt32(),
    "chrom": pl.String(),
    "pos": pl.Int64(),
    "id": pl.String(),
    "ref": pl.String(),
    "alt": pl.String(),
    "allele_idx": pl.Int8(),  # which ALT of the site this row is (1-based)
    "is_multiallelic": pl.Boolean(),
}
class GenotypeSource(ABC):
    """Variants × samples genotypes, read by variant subsets."""

    path: Path
    kind: str
    variants: pl.DataFrame
    samples: pl.DataFrame  # sample_id (str), founder (bool)
    build: BuildEvidence
    #: CID of the derived cache entry the genotypes are read from (a normalised VCF), else None.
    cache_cid: str | None = None

    @property
    def n_samples(self) -> int:
        return self.samples.height

    @abstractmethod
    def read(self, vidx: np.ndarray) -> np.ndarray:
        """ALT-allele counts (int8; MISSING for missing), shape (len(vidx), n_samples)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file handles."""

    def __enter__(self) -> GenotypeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_multiallelic(frame: pl.DataFrame) -> pl.DataFrame:
    """Site table (chrom, pos, id, ref, alt with comma-separated ALTs, record) → one row per ALT."""
    return (
        frame.with_columns(pl.col("alt").str.split(","))
        .with_columns(
            (pl.col("alt").list.len() > 1).alias("is_multiallelic"),
            pl.int_ranges(1, pl.col("alt").list.len() + 1, dtype=pl.Int8).alias("allele_idx"),
        )
        .explode("alt", "allele_idx")
        .with_row_index("vidx")
        .with_columns(pl.col("vidx").cast(pl.UInt32))
    )
