"""Which reference variants may enter the PCA: site rules from the variant table, and per-variant
genotype QC (missingness, minor allele frequency, Hardy-Weinberg exact test) computed block by block.
See docs/ancestry.md ("Reference PCA").

Site rules (no genotypes needed): autosomes 1-22, biallelic, single-base A/C/G/T alleles, not
strand-ambiguous (A/T, C/G), no second row at the same position (plink2 `--rm-dup exclude-all` on
positions), outside the long-range LD regions of the build (`regions`).

Genotype rules, counted over the PCA samples (unrelated, `kinship`): missing-call rate ≤
`max_missing`, MAF ≥ `min_maf`, and the Hardy-Weinberg exact test (Wigginton, Cutler & Abecasis 2005,
AJHG 76:887) p ≥ `hwe_p` *within every superpopulation* when labels are given. Testing the pooled
panel, as `plink2 --hwe` on the whole 1000 Genomes panel does, would reject the most
ancestry-informative SNPs: a mixture of populations with different frequencies has too few
heterozygotes (the Wahlund effect), not a genotyping error.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.engine.ancestry.regions import long_range_ld_mask
from prsgazer.engine.common import MISSING

#: The exact HWE test runs only where the χ² p-value is below HWE_SCREEN × the threshold, so most
#: variants skip it. The exact p is not far below the χ² one in practice (never below 0.2 × it over
#: 20,000 simulated panel SNPs, 1,428 of them failing pooled HWE), so the screen changes no decision
#: short of a 1000-fold disagreement between the two tests.
HWE_SCREEN = 1000.0
AUTOSOMES = tuple(str(c) for c in range(1, 23))
_AMBIGUOUS = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


class VariantQc(BaseModel):
    """Genotype filters for reference-PCA variants (pgsc_calc's defaults where the issue names none)."""

    min_maf: float = Field(default=0.01, ge=0.0, le=0.5, description="Minimum minor allele frequency.")
    max_missing: float = Field(default=0.1, ge=0.0, le=1.0, description="Maximum missing-call rate (plink2 --geno).")
    hwe_p: float = Field(default=1e-6, ge=0.0, lt=1.0, description="Minimum HWE exact-test p in every population.")


class QcCounts(BaseModel):
    """How many variants each rule removed (first failing rule wins, in this order)."""

    n_input: int = 0
    not_autosomal: int = 0
    not_biallelic_snp: int = 0
    ambiguous: int = 0
    duplicate_position: int = 0
    long_range_ld: int = 0
    missingness: int = 0
    maf: int = 0
    hwe: int = 0
    ld_pruned: int = 0
    kept: int = 0


def eligible_sites(variants: pl.DataFrame, build: str, counts: QcCounts) -> pl.DataFrame:
    """Rows of a `GenotypeSource.variants` table that pass the site rules, sorted by (chromosome, position).

    Fills the site-rule fields of `counts`.
    """
    v = variants.select("vidx", "chrom", "pos", "id", "ref", "alt", "is_multiallelic")
    counts.n_input = v.height
    auto = v.get_column("chrom").is_in(AUTOSOMES)
    counts.not_autosomal = int((~auto).sum())
    v = v.filter(auto)
    snp = ~pl.col("is_multiallelic") & pl.col("ref").str.contains(r"^[ACGT]$") & pl.col("alt").str.contains(r"^[ACGT]$")
    n = v.height
    v = v.filter(snp)
    counts.not_biallelic_snp = n - v.height
    amb = pl.concat_str("ref", "alt").is_in(["AT", "TA", "CG", "GC"])
    n = v.height
    v = v.filter(~amb)
    counts.ambiguous = n - v.height
    # positions listed twice (after the rules above too, e.g. two SNP rows at one site): all dropped
    dup = pl.struct("chrom", "pos").is_duplicated()
    n = v.height
    v = v.filter(~dup)
    counts.duplicate_position = n - v.height
    in_ld = long_range_ld_mask(v.get_column("chrom").to_numpy(), v.get_column("pos").to_numpy(), build)
    counts.long_range_ld = int(in_ld.sum())
    v = v.filter(pl.Series(~in_ld))
    order = pl.col("chrom").cast(pl.Int32)
    return v.sort(order, "pos").drop("is_multiallelic")


class BlockStats(BaseModel, arbitrary_types_allowed=True):
    """Genotype counts of a block of variants over the PCA samples (pooled, and per group)."""

    n_called: np.ndarray  # (B,) non-missing calls
    alt_count: np.ndarray  # (B,) ALT alleles among them
    groups: list[np.ndarray]  # per group: (B, 3) counts of 0, 1, 2 ALT alleles


def block_stats(g: np.ndarray, group_cols: list[np.ndarray]) -> BlockStats:
    """Counts of one block `g` (B × n PCA samples, int8 ALT counts, MISSING) pooled and per group.

    `group_cols` lists, for each group, the column indices of its samples (together: every column).
    """
    per_group = []
    for cols in group_cols:
        sub = g[:, cols]
        per_group.append(np.stack([(sub == k).sum(axis=1, dtype=np.int64) for k in (0, 1, 2)], axis=1))
    total = np.sum(per_group, axis=0) if per_group else np.zeros((g.shape[0], 3), dtype=np.int64)
    return BlockStats(n_called=total.sum(axis=1), alt_count=total[:, 1] + 2 * total[:, 2], groups=per_group)


def genotype_filter(stats: BlockStats, n_samples: int, qc: VariantQc, counts: QcCounts) -> np.ndarray:
    """True for variants of the block that pass missingness, MAF and HWE; adds the failures to `counts`."""
    called = stats.n_called
    with np.errstate(divide="ignore", invalid="ignore"):
        miss_rate = 1.0 - called / n_samples
        freq = np.where(called > 0, stats.alt_count / (2.0 * called), 0.0)
    maf = np.minimum(freq, 1.0 - freq)
    ok_miss = (called > 0) & (miss_rate <= qc.max_missing + 1e-12)
    ok_maf = maf >= qc.min_maf - 1e-12
    ok_hwe = np.ones(len(called), dtype=bool)
    if qc.hwe_p > 0:
        screen = _chi2_1df_isf(min(1.0, HWE_SCREEN * qc.hwe_p))
        for c in stats.groups:
            test = np.flatnonzero(ok_miss & ok_maf & (_hwe_chi2(c) > screen))
            p = hwe_exact(c[test, 1], c[test, 0], c[test, 2])
            ok_hwe[test[p < qc.hwe_p]] = False
    counts.missingness += int((~ok_miss).sum())
    counts.maf += int((ok_miss & ~ok_maf).sum())
    counts.hwe += int((ok_miss & ok_maf & ~ok_hwe).sum())
    return ok_miss & ok_maf & ok_hwe


def _hwe_chi2(c: np.ndarray) -> np.ndarray:
    """Pearson χ² (1 df) of HWE from genotype counts (B × 3: 0, 1, 2 ALT alleles); 0 when monomorphic."""
    c = c.astype(np.float64)
    n = c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (2 * c[:, 0] + c[:, 1]) / (2 * n)
        q = 1 - p
        e = np.stack([n * p * p, 2 * n * p * q, n * q * q], axis=1)
        chi = np.where(e > 0, (c - e) ** 2 / e, 0.0).sum(axis=1)
    return np.nan_to_num(chi, nan=0.0)


def _chi2_1df_isf(p: float) -> float:
    """x with P(χ²₁ > x) = p, by bisection on erfc (p = 1 gives 0)."""
    if p >= 1.0:
        return 0.0
    lo, hi = 0.0, 1.0
    while math.erfc(math.sqrt(hi / 2)) > p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erfc(math.sqrt(mid / 2)) > p else (lo, mid)
    return lo


def hwe_exact(het: np.ndarray, hom1: np.ndarray, hom2: np.ndarray, *, max_cells: int = 4_000_000) -> np.ndarray:
    """Hardy-Weinberg exact-test p-values (Wigginton et al. 2005), vectorised over variants.

    p = Σ P(h) over heterozygote counts h whose probability, given the allele counts, is at most that of
    the observed count (ties within a relative 1e-7, as plink does). Variants with no calls get p = 1.
    """
    het = np.asarray(het, dtype=np.int64)
    hom1 = np.asarray(hom1, dtype=np.int64)
    hom2 = np.asarray(hom2, dtype=np.int64)
    n = het + hom1 + hom2
    rare = np.minimum(2 * hom1 + het, 2 * hom2 + het)
    out = np.ones(len(n), dtype=np.float64)
    if len(n) == 0:
        return out
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, 2 * int(n.max()) + 2, dtype=np.float64)))])
    order = np.argsort(rare, kind="stable")
    start = 0
    while start < len(order):
        # chunks of variants with similar rare-allele counts keep the grid small
        width = int(rare[order[start]]) // 2 + 1
        stop = start + 1
        while stop < len(order) and (stop - start + 1) * (int(rare[order[stop]]) // 2 + 1) <= max_cells:
            stop += 1
        idx = order[start:stop]
        width = int(rare[idx].max()) // 2 + 1
        na, nn, h_obs = rare[idx, None], n[idx, None], het[idx, None]
        h = (na % 2) + 2 * np.arange(width)[None, :]
        valid = (h <= na) & (h <= nn)
        hr = np.where(valid, (na - h) // 2, 0)
        hc = np.where(valid, nn - h - hr, 0)
        valid &= hc >= 0
        hc = np.maximum(hc, 0)
        hh = np.where(valid, h, 0)
        logp = (
            logfact[nn] - logfact[hr] - logfact[hh] - logfact[hc] + hh * np.log(2.0)
            + logfact[na] + logfact[2 * nn - na] - logfact[2 * nn]
        )  # fmt: skip
        obs_k = (h_obs - (na % 2)) // 2
        logp_obs = np.take_along_axis(logp, np.clip(obs_k, 0, width - 1), axis=1)
        take = valid & (logp <= logp_obs + 1e-7)
        p = np.exp(np.where(take, logp, -np.inf)).sum(axis=1)
        out[idx] = np.minimum(p, 1.0)
        start = stop
    out[n == 0] = 1.0
    return out


def standardize(g: np.ndarray, mean: np.ndarray, sd: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """(g − mean) / sd per variant row, missing calls (MISSING) → 0 (the reference mean)."""
    z: np.ndarray = g.astype(dtype)
    z -= mean.astype(dtype)[:, None]
    z /= sd.astype(dtype)[:, None]
    z[g == MISSING] = 0.0
    return z
