"""Genotype access: the one small interface over plink2 pfiles, plink1 bfiles and normalised VCFs.

See docs/engine.md ("Genotypes"). A `GenotypeSource` has a variant table (`.variants`, one row per
(site, ALT allele): multi-allelic sites are split, `vidx` is the row index), a sample table
(`.samples`) and `.read(vidx) -> int8 array (len(vidx), n_samples)` of ALT-allele counts with
`MISSING` (-9) for missing calls. Sources with imputed dosages (VCF `DS`/`HDS`/`GP`, pgen dosages)
also give `.read_dosages(vidx) -> float32` ALT dosages (multiples of 1/16384, as plink2 stores them;
`MISSING` for missing) and say where they came from (`dosage_source`). Callers read any subset of
variants on demand, so a 1M-variant panel can be scored chunk by chunk. VCFs are first normalised to
parquet by `genotypes.vcf`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.engine.common import runs
from prsgazer.engine.genotypes.build import BuildEvidence
from prsgazer.errors import InputError


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
#: What `dosage_source` says when a source has hard calls only (or its dosages are not used).
HARD_CALLS = "hard calls"
#: The VCF FORMAT fields read as dosages, in the default order of preference.
DOSAGE_FIELDS: tuple[str, ...] = ("DS", "HDS", "GP")
#: Dosages are kept as integers in units of 1/DOSAGE_SCALE of an allele, as plink2 stores them.
DOSAGE_SCALE = 16384


def check_dosage_fields(fields: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The dosage fields as a tuple, each one of DOSAGE_FIELDS and named once (an InputError otherwise)."""
    out = tuple(str(f).upper() for f in fields)
    bad = [f for f in out if f not in DOSAGE_FIELDS]
    if bad or len(set(out)) != len(out):
        raise InputError(
            f"dosage fields {list(fields)!r} are not distinct names among {', '.join(DOSAGE_FIELDS)}",
            field="dosage_fields",
            hint="e.g. DS,HDS,GP (the default order), or none for hard calls only",
        )
    return out


class GenotypeSource(ABC):
    """Variants × samples genotypes, read by variant subsets."""

    path: Path
    kind: str
    variants: pl.DataFrame
    samples: pl.DataFrame  # sample_id (str), founder (bool); fid, iid (str) when the input has them
    build: BuildEvidence
    #: Where `read_dosages` gets its values: HARD_CALLS, "DS", "HDS", "GP" (a mix is listed with
    #: counts, e.g. "DS (980 records), GP (20 records)"), or "pgen dosages".
    dosage_source: str = HARD_CALLS
    #: CID of the derived cache entry the genotypes are read from (a normalised VCF), else None.
    cache_cid: str | None = None

    @property
    def n_samples(self) -> int:
        return self.samples.height

    @property
    def has_dosages(self) -> bool:
        """True when `read_dosages` gives more than the hard calls."""
        return self.dosage_source != HARD_CALLS

    @abstractmethod
    def read(self, vidx: np.ndarray) -> np.ndarray:
        """ALT-allele counts (int8; MISSING for missing), shape (len(vidx), n_samples)."""

    def sample_ids(self) -> pl.DataFrame:
        """`sample_id fid iid`: the family and individual ids as the input gave them (fid null when it
        has none; iid the sample id for a VCF)."""
        s = self.samples
        fid = pl.col("fid") if "fid" in s.columns else pl.lit(None, dtype=pl.String)
        iid = pl.col("iid") if "iid" in s.columns else pl.col("sample_id")
        return s.select("sample_id", fid.cast(pl.String).alias("fid"), iid.cast(pl.String).alias("iid"))

    def read_dosages(self, vidx: np.ndarray) -> np.ndarray:
        """ALT-allele dosages (float32, 0..2 in steps of 1/16384; MISSING for missing), shape
        (len(vidx), n_samples). Without dosages: the hard calls as floats."""
        return self.read(vidx).astype(np.float32)

    def multiallelic_rows(self) -> np.ndarray:
        """Rows of multi-allelic sites (bool per row): records with several ALTs, and biallelic lines
        of a split site (`split_site_rows`). Computed once per source."""
        cached = self.__dict__.get("_multiallelic_rows")
        if cached is None or len(cached) != self.variants.height:
            cached = self.variants.get_column("is_multiallelic").to_numpy() | split_site_rows(self.variants)
            self.__dict__["_multiallelic_rows"] = cached
        return cached

    def preload(self, *, dosages: bool) -> None:  # noqa: B027 - optional hook
        """Load now what reading will need (called on the thread that opens the genotypes, while the
        scoring files are read); `dosages`: the run scores dosages where there are some."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file handles."""

    def __enter__(self) -> GenotypeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_multiallelic(frame: pl.DataFrame) -> pl.DataFrame:
    """Site table (chrom, pos, id, ref, alt with comma-separated ALTs, record) → one row per ALT.

    A table without any multi-allelic record is returned with its flag and allele columns added, not
    split and exploded: a 1M-site panel's table took 150 MB more at its peak through the lists."""
    if frame.get_column("alt").str.contains(",", literal=True).any():
        return _exploded(frame)
    return frame.with_columns(
        pl.lit(False).alias("is_multiallelic"), pl.lit(1, dtype=pl.Int8).alias("allele_idx")
    ).with_row_index("vidx").with_columns(pl.col("vidx").cast(pl.UInt32))


def _exploded(frame: pl.DataFrame) -> pl.DataFrame:
    """`split_multiallelic` by splitting every record's ALTs into a list and exploding it."""
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


def split_site_rows(variants: pl.DataFrame) -> np.ndarray:
    """Rows of sites written as several biallelic lines (same chromosome, position and REF, different
    ALTs, as `bcftools norm -m-` writes them): like the rows of a record with several ALTs, a REF
    effect allele there must count REF, not 2 minus one line's ALT copies. Identical duplicate lines
    are not such a site. Matching does not treat these lines as multi-allelic (`is_multiallelic`
    stays the record's own flag, as the PGS Catalog calculator reads a .pvar)."""
    flag = np.zeros(variants.height, dtype=bool)
    if variants.height < 2:
        return flag
    pos = variants.get_column("pos").to_numpy()
    chrom = variants.get_column("chrom")
    # a chromosome starts at the row: the starts of its runs (5M rows of a WGS: 13 ms, against 60 ms
    # comparing the column with itself shifted by one)
    lengths = runs(chrom)[1]
    new_run = np.zeros(len(pos), dtype=bool)
    new_run[np.cumsum(lengths) - lengths] = True
    # A sorted file (the rule: positions ascend within each chromosome, chromosomes in one run each)
    # has a site's lines next to each other: only runs of one position are looked at. Otherwise
    # every row is (slower, and rare).
    ordered = not ((pos[1:] < pos[:-1]) & ~new_run[1:]).any() and chrom.filter(pl.Series(new_run)).is_unique().all()
    rows = variants.select("chrom", "pos", "ref", "alt").with_row_index("_row")
    if ordered:
        same = (pos[1:] == pos[:-1]) & ~new_run[1:]
        if "allele_idx" in variants.columns:
            # a line continuing a record (allele_idx > 1) follows that record's previous line: such a
            # pair is one record's ALTs, flagged by `is_multiallelic` already; without any other pair
            # of lines at one position there is no split site (skips grouping a WGS's 100k ALT lines)
            cont = variants.get_column("allele_idx").to_numpy()[1:] > 1
            if not (same & ~cont).any():
                return flag
        if not same.any():
            return flag
        near = np.zeros(len(pos), dtype=bool)
        near[1:] |= same
        near[:-1] |= same
        rows = rows.filter(pl.Series(near))
    groups = (
        rows.group_by("chrom", "pos", "ref")
        .agg(pl.col("_row"), pl.col("alt").n_unique().alias("_n_alt"))
        .filter(pl.col("_n_alt") > 1)
    )
    if groups.height:
        flag[groups.get_column("_row").explode().to_numpy()] = True
    return flag
