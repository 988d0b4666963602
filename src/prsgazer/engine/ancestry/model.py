"""The reference PCA as a value: variants with their frequencies and loadings, the reference samples'
PCs, singular values, settings and QC counts; written to and read from one self-describing parquet
file. See docs/ancestry.md ("The PCA file").

The file has one row per PCA variant: `chrom pos id ref alt alt_freq sd U1 … UK` (K stored components,
4 × the reported PCs, as OADP needs), float64. Its key-value metadata `prsgazer.ancestry_pca` holds
JSON: format version, settings, QC counts, genome build, singular values, and the reference samples
(`sample_id superpopulation population` and their scores on all K components). Nothing depends on
time or paths, so the same input gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prsgazer.engine.ancestry.ld import LdPrune
from prsgazer.engine.ancestry.qc import QcCounts, VariantQc
from prsgazer.engine.common import normalize_build
from prsgazer.errors import InputError
from prsgazer.fileio import output_path

FORMAT = "prsgazer.ancestry_pca"
FORMAT_VERSION = 1


class PcaSettings(BaseModel):
    """Everything that decides a reference PCA besides the panel itself."""

    n_pcs: int = Field(default=10, ge=1, description="PCs reported (FRAPOSA/pgsc_calc: 10).")
    genome_build: str = Field(description="GRCh37 or GRCh38: which long-range LD regions are excluded.")
    qc: VariantQc = Field(default_factory=VariantQc)
    ld: LdPrune = Field(default_factory=LdPrune)
    king_cutoff: float | None = Field(
        default=0.0884, description="Kinship above which samples are related (used when no exclusion list is given)."
    )
    king_variants: int = Field(default=10_000, ge=100, description="Variants (MAF ≥ 5 %) behind the kinship estimate.")
    block_variants: int = Field(default=4096, ge=64, description="Variants read per block.")

    @field_validator("genome_build")
    @classmethod
    def _build(cls, value: str) -> str:
        build = normalize_build(value)
        if build not in ("GRCh37", "GRCh38"):
            raise ValueError(f"genome build {value!r}: the long-range LD regions are known for GRCh37 and GRCh38")
        return build

    @property
    def n_components(self) -> int:
        """Components kept for OADP: dim_online = 2 × dim_stu = 4 × dim_ref (FRAPOSA's defaults)."""
        return 4 * self.n_pcs


class AncestryPca(BaseModel):
    """A reference PCA: what `project` needs to place new samples, and the reference samples' own PCs."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: PcaSettings
    variants: pl.DataFrame = Field(description="chrom pos id ref alt alt_freq sd (one row per PCA variant).")
    loadings: np.ndarray = Field(description="(variants × K) left singular vectors U of the standardised matrix.")
    singular_values: np.ndarray = Field(description="(K,) singular values s.")
    samples: pl.DataFrame = Field(description="sample_id superpopulation population of the PCA samples.")
    scores: np.ndarray = Field(description="(samples × K) reference scores V·s; the first n_pcs are the PCs.")
    counts: QcCounts = Field(default_factory=QcCounts)
    n_related_excluded: int = 0
    relatedness: str = Field(default="none", description="'list', 'king' or 'none': how relatives were removed.")
    warnings: list[str] = Field(default_factory=list)

    @property
    def n_pcs(self) -> int:
        return self.settings.n_pcs

    @property
    def pcs(self) -> np.ndarray:
        """(samples × n_pcs) reference PCs."""
        return self.scores[:, : self.n_pcs]

    def pc_frame(self) -> pl.DataFrame:
        """The reference samples with their PCs: `sample_id superpopulation population PC1 … PCk`."""
        cols = {f"PC{k + 1}": self.scores[:, k] for k in range(self.n_pcs)}
        return self.samples.with_columns(**{k: pl.Series(k, v) for k, v in cols.items()})

    def write(self, path: str | Path) -> Path:
        """Write the model as one parquet file, through the safe writer (`prsgazer.fileio`: atomic for a file)."""
        path = Path(path)
        k = self.loadings.shape[1]
        frame = self.variants.select("chrom", "pos", "id", "ref", "alt", "alt_freq", "sd").with_columns(
            pl.Series(f"U{j + 1}", self.loadings[:, j], dtype=pl.Float64) for j in range(k)
        )
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "settings": self.settings.model_dump(mode="json"),
            "counts": self.counts.model_dump(mode="json"),
            "n_related_excluded": self.n_related_excluded,
            "relatedness": self.relatedness,
            "warnings": self.warnings,
            "singular_values": [float(x) for x in self.singular_values],
            "samples": {
                "sample_id": self.samples.get_column("sample_id").to_list(),
                "superpopulation": self.samples.get_column("superpopulation").to_list(),
                "population": self.samples.get_column("population").to_list(),
                "scores": [[float(x) for x in row] for row in self.scores],
            },
        }
        with output_path(path) as tmp:
            frame.write_parquet(
                tmp, compression="zstd", statistics=False, metadata={FORMAT: json.dumps(meta, sort_keys=True)}
            )
        return path

    @classmethod
    def read(cls, path: str | Path) -> AncestryPca:
        """Read a model written by `write`; an InputError names the file when it is not one."""
        path = Path(path)
        try:
            raw = pl.read_parquet_metadata(path).get(FORMAT)
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"cannot read the ancestry PCA file ({exc})", file=path) from exc
        if raw is None:
            raise InputError("not an ancestry PCA file (no prsgazer.ancestry_pca metadata)", file=path)
        meta = json.loads(raw)
        if meta.get("version") != FORMAT_VERSION:
            raise InputError(
                f"ancestry PCA format version {meta.get('version')} is not {FORMAT_VERSION}",
                file=path,
                hint="recompute the reference PCA with this prsgazer",
            )
        ucols = [c for c in frame.columns if c.startswith("U") and c[1:].isdigit()]
        ucols.sort(key=lambda c: int(c[1:]))
        s = meta["samples"]
        samples = pl.DataFrame(
            {"sample_id": s["sample_id"], "superpopulation": s["superpopulation"], "population": s["population"]},
            schema={"sample_id": pl.String, "superpopulation": pl.String, "population": pl.String},
        )
        return cls(
            settings=PcaSettings.model_validate(meta["settings"]),
            variants=frame.select("chrom", "pos", "id", "ref", "alt", "alt_freq", "sd"),
            loadings=frame.select(ucols).to_numpy().astype(np.float64, order="C"),
            singular_values=np.asarray(meta["singular_values"], dtype=np.float64),
            samples=samples,
            scores=np.asarray(s["scores"], dtype=np.float64).reshape(samples.height, len(ucols)),
            counts=QcCounts.model_validate(meta["counts"]),
            n_related_excluded=int(meta["n_related_excluded"]),
            relatedness=str(meta["relatedness"]),
            warnings=list(meta.get("warnings", [])),
        )
