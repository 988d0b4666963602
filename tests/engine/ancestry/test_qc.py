"""Variant QC for the reference PCA: site rules, genotype counts and filters, HWE exact test (plink2 oracle)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.ancestry.qc import (
    QcCounts,
    VariantQc,
    block_stats,
    eligible_sites,
    genotype_filter,
    hwe_exact,
    standardize,
)
from prsgazer.engine.ancestry.regions import LONG_RANGE_LD, long_range_ld_mask
from prsgazer.engine.common import MISSING


def _variants(rows: list[tuple[str, int, str, str, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "vidx": list(range(len(rows))),
            "chrom": [r[0] for r in rows],
            "pos": [r[1] for r in rows],
            "id": [f"v{i}" for i in range(len(rows))],
            "ref": [r[2] for r in rows],
            "alt": [r[3] for r in rows],
            "allele_idx": [1] * len(rows),
            "is_multiallelic": [r[4] for r in rows],
        },
        schema_overrides={"vidx": pl.UInt32, "pos": pl.Int64, "allele_idx": pl.Int8},
    )


def test_site_rules_count_each_exclusion_once() -> None:
    v = _variants(
        [
            ("1", 1_000, "A", "G", False),  # kept
            ("X", 5_000, "A", "G", False),  # not autosomal
            ("2", 2_000, "A", "GT", False),  # indel
            ("2", 3_000, "A", "C", True),  # split multi-allelic
            ("3", 4_000, "A", "T", False),  # ambiguous
            ("3", 4_500, "G", "C", False),  # ambiguous
            ("4", 6_000, "C", "T", False),  # same position twice: both out
            ("4", 6_000, "C", "A", False),
            ("6", 30_000_000, "C", "T", False),  # MHC (GRCh38 6:25.4-33.4 Mb)
            ("10", 100, "T", "C", False),  # kept, sorts after chromosome 1 numerically
            ("2", 500, "G", "A", False),  # kept
        ]
    )
    counts = QcCounts()
    out = eligible_sites(v, "GRCh38", counts)
    assert out.get_column("id").to_list() == ["v0", "v10", "v9"]
    assert counts.model_dump(include={"n_input", "not_autosomal", "not_biallelic_snp", "ambiguous"}) == {
        "n_input": 11,
        "not_autosomal": 1,
        "not_biallelic_snp": 2,
        "ambiguous": 2,
    }
    assert counts.duplicate_position == 2
    assert counts.long_range_ld == 1


def test_long_range_regions_are_inclusive_and_build_specific() -> None:
    chrom = np.array(["6", "6", "6", "8"])
    pos = np.array([25_392_020, 25_392_019, 33_392_022, 8_000_000])
    assert long_range_ld_mask(chrom, pos, "GRCh37").tolist() == [True, False, True, True]
    # GRCh38 starts the MHC region at 25,391,792
    assert long_range_ld_mask(chrom, pos, "GRCh38").tolist() == [True, True, True, False]
    assert len(LONG_RANGE_LD["GRCh37"]) == 20 and len(LONG_RANGE_LD["GRCh38"]) == 43
    with pytest.raises(ValueError, match="NCBI36"):
        long_range_ld_mask(chrom, pos, "NCBI36")


def test_genotype_filter_missingness_maf_and_hwe_within_groups() -> None:
    n = 200
    rng = np.random.default_rng(3)
    g = np.zeros((5, n), dtype=np.int8)
    g[0] = rng.binomial(2, 0.3, n)  # passes
    g[1] = rng.binomial(2, 0.3, n)
    g[1, :30] = MISSING  # 15 % missing
    g[2] = 0
    g[2, :3] = 1  # MAF 0.0075
    # two groups fixed for different alleles: every call homozygous. Pooled this fails HWE badly
    # (Wahlund), within each group it is monomorphic and passes.
    g[3, :100], g[3, 100:] = 0, 2
    g[4] = np.where(np.arange(n) % 2 == 0, 0, 2)  # homozygotes only within each group: fails HWE
    groups = [np.arange(100), np.arange(100, n)]
    stats = block_stats(g, groups)
    assert stats.n_called.tolist() == [200, 170, 200, 200, 200]
    assert stats.alt_count[2] == 3
    counts = QcCounts()
    ok = genotype_filter(stats, n, VariantQc(min_maf=0.01, max_missing=0.1, hwe_p=1e-6), counts)
    assert ok.tolist() == [True, False, False, True, False]
    assert (counts.missingness, counts.maf, counts.hwe) == (1, 1, 1)
    pooled = block_stats(g, [np.arange(n)])
    ok_pooled = genotype_filter(pooled, n, VariantQc(min_maf=0.01, max_missing=0.1, hwe_p=1e-6), QcCounts())
    assert ok_pooled.tolist() == [True, False, False, False, False]


def test_standardize_sets_missing_calls_to_the_mean() -> None:
    g = np.array([[0, 1, 2, MISSING]], dtype=np.int8)
    z = standardize(g, np.array([1.0]), np.array([0.5]))
    assert z.tolist() == [[-2.0, 0.0, 2.0, 0.0]]


def test_hwe_exact_matches_plink2_hardy(anc_panel, plink2: str, tmp_path: Path) -> None:
    """p-values of the exact test equal plink2 --hardy's (printed to 6 significant digits)."""
    subprocess.run(
        [plink2, "--pfile", str(anc_panel.prefix), "--hardy", "--out", str(tmp_path / "hw")],
        check=True,
        capture_output=True,
    )
    h = pl.read_csv(tmp_path / "hw.hardy", separator="\t")
    p = hwe_exact(h["HET_A1_CT"].to_numpy(), h["HOM_A1_CT"].to_numpy(), h["TWO_AX_CT"].to_numpy())
    ref = h["P"].to_numpy()
    assert (ref < 1e-6).sum() > 100  # pooled panel: many Wahlund failures, small p-values covered
    np.testing.assert_allclose(p, ref, rtol=1e-5, atol=0)


def test_hwe_exact_small_cases_by_enumeration() -> None:
    # n = 3 individuals, 2 copies of the rare allele: h ∈ {0 (one rare homozygote), 2}
    # P(h=2) = 2^2·3!·2!·4! / (0!·2!·1!·6!) = 0.8, P(h=0) = 0.2 → observed h=0: p = 0.2; h=2: p = 1
    p = hwe_exact(np.array([0, 2, 0]), np.array([2, 1, 0]), np.array([1, 0, 0]))
    np.testing.assert_allclose(p, [0.2, 1.0, 1.0])
