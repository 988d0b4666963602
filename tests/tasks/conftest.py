"""Stored CINECA data (VCF + PGS001229 and PGS000802 scoring files) for task and workflow tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from prsgazer.assets import ScoringFile, Vcf


@dataclass
class Cineca:
    vcf: Vcf
    height: ScoringFile
    other: ScoringFile
    expected: Path
    data: Path


@pytest.fixture
def cineca(shared_data: Path) -> Cineca:
    from prsgazer.storage import default_store

    store = default_store()
    vcf = store.put(shared_data / "genomes/cineca/cineca_synthetic_subset.vcf.gz", "vcf", genome_build="GRCh37")
    height = store.put(
        shared_data / "scorefiles/PGS001229_22.txt", "scoring_file", pgs_id="PGS001229", genome_build="GRCh37"
    )
    other = store.put(
        shared_data / "scorefiles/PGS000802_hmPOS_GRCh37.txt", "scoring_file", pgs_id="PGS000802", hm_build="GRCh37"
    )
    return Cineca(
        vcf=vcf,  # type: ignore[arg-type]
        height=height,  # type: ignore[arg-type]
        other=other,  # type: ignore[arg-type]
        expected=shared_data / "expected/cineca_PGS001229_22_expected_plink2_sscore.tsv",
        data=shared_data,
    )
