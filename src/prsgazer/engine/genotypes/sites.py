"""Multi-allelic sites: reading the copies of REF. See docs/engine.md ("Multi-allelic sites").

Sources have one row per (site, ALT): a row's calls count that ALT's copies. A score whose effect
allele is REF at a multi-allelic site needs the copies of REF, which is 2 minus the copies of *every*
ALT of the site, not of the one ALT its row names. `with_site_sums(source, rows)` gives a source
with one more row per such site whose calls are the copies of all its ALTs together (hard calls or
dosages; missing when any ALT row is missing; at most 2), and the row to read for each given row:
scored with a REF effect allele (2 − value) it counts REF, and its frequency (Σ of the ALT
frequencies) makes mean imputation use the frequency of REF itself.

A site is the rows of `GenotypeSource.multiallelic_rows` that share chromosome, position and REF:
a record written on one line (`ALT=A,C`, split by the source) or already split into biallelic lines
(`source.split_site_rows`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes.source import GenotypeSource


class SiteSums(GenotypeSource):
    """A source plus one row per multi-allelic site: the copies of all the site's ALTs."""

    def __init__(self, base: GenotypeSource, members: list[np.ndarray], sites: pl.DataFrame) -> None:
        self.base = base
        self.path = base.path
        self.kind = base.kind
        self.samples = base.samples
        self.build = base.build
        self.dosage_source = base.dosage_source
        self._n_base = base.variants.height
        self._ptr = np.zeros(len(members) + 1, dtype=np.int64)
        self._ptr[1:] = np.cumsum([len(m) for m in members])
        self._members = np.concatenate(members).astype(np.int64) if members else np.zeros(0, np.int64)
        extra = sites.select(
            (pl.int_range(pl.len(), dtype=pl.UInt32) + self._n_base).alias("vidx"),
            "chrom",
            "pos",
            pl.lit(".").alias("id"),
            "ref",
            pl.lit("<ALT_SUM>").alias("alt"),
            pl.lit(0, dtype=pl.Int8).alias("allele_idx"),
            pl.lit(False).alias("is_multiallelic"),
        )
        extra = extra.with_columns([pl.lit(None).alias(c) for c in base.variants.columns if c not in extra.columns])
        self.variants = pl.concat([base.variants, extra.select(base.variants.columns)], how="vertical_relaxed")

    def _read(self, vidx: np.ndarray, dosages: bool) -> np.ndarray:
        vidx = np.asarray(vidx, dtype=np.int64)
        read = self.base.read_dosages if dosages else self.base.read
        out = np.empty((len(vidx), self.n_samples), dtype=np.float32 if dosages else np.int8)
        real = vidx < self._n_base
        if real.any():
            out[real] = read(vidx[real])
        virt = np.flatnonzero(~real)
        if len(virt):
            site = vidx[virt] - self._n_base
            lo, hi = self._ptr[site], self._ptr[site + 1]
            rows = np.concatenate([self._members[a:b] for a, b in zip(lo, hi, strict=True)])
            uniq, inverse = np.unique(rows, return_inverse=True)
            calls = read(uniq)[inverse]
            owner = np.repeat(np.arange(len(virt)), hi - lo)
            total = np.zeros((len(virt), self.n_samples), dtype=np.float64)
            np.add.at(total, owner, calls.astype(np.float64))
            missing = np.zeros((len(virt), self.n_samples), dtype=bool)
            np.logical_or.at(missing, owner, calls < 0)
            # copies of non-REF alleles cannot exceed 2 (split lines that disagree are capped)
            total = np.minimum(total, 2.0)
            total[missing] = MISSING
            out[virt] = total.astype(out.dtype)
        return out

    def read(self, vidx: np.ndarray) -> np.ndarray:
        return self._read(vidx, dosages=False)

    def multiallelic_rows(self) -> np.ndarray:
        # a row that already counts every ALT is not itself multi-allelic: it is never remapped again
        return np.concatenate([self.base.multiallelic_rows(), np.zeros(self.variants.height - self._n_base, bool)])

    def read_dosages(self, vidx: np.ndarray) -> np.ndarray:
        return self._read(vidx, dosages=True)

    def site_frequencies(self, alt_freq: np.ndarray) -> np.ndarray:
        """Per-row ALT frequencies of the base (NaN = unknown) extended to the site rows: Σ over the
        site's ALT rows (NaN when one is unknown)."""
        sums = np.add.reduceat(alt_freq[self._members], self._ptr[:-1]) if len(self._members) else np.zeros(0)
        return np.concatenate([alt_freq, sums])

    def close(self) -> None:
        self.base.close()


def with_site_sums(source: GenotypeSource, rows: np.ndarray) -> tuple[SiteSums, np.ndarray]:
    """(source with a sum row per site of `rows`, the sum row of each of `rows`). `rows` must be
    rows of multi-allelic sites."""
    rows = np.asarray(rows, dtype=np.int64)
    v = source.variants
    flag = source.multiallelic_rows()
    multi = v.select("chrom", "pos", "ref").with_row_index("_row").filter(pl.Series(flag))
    wanted = (
        pl.DataFrame({"_row": rows.astype(np.uint32)})
        .join(multi, on="_row", how="left", maintain_order="left")
        .select("chrom", "pos", "ref")
    )
    sites = wanted.unique(maintain_order=True).with_row_index("_site")
    groups = (
        multi.join(sites, on=["chrom", "pos", "ref"], how="inner")
        .group_by("_site")
        .agg(pl.col("_row").sort())
        .sort("_site")
    )
    members = [np.asarray(m, dtype=np.int64) for m in groups.get_column("_row").to_list()]
    site_of = wanted.join(sites, on=["chrom", "pos", "ref"], how="left", maintain_order="left").get_column("_site")
    wrapped = SiteSums(source, members, sites.select("chrom", "pos", "ref"))
    return wrapped, site_of.to_numpy().astype(np.int64) + source.variants.height
