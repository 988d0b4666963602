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


@dataclass
class CohortFiles:
    """A synthetic cohort (80 samples) split by chromosome: chr1 VCF, chr2 plink2 fileset, chr3 VCF; the
    whole as one VCF; scoring files S1 (on the cohort's variants) and S2 (half its rows elsewhere)."""

    files: list[Path]
    whole: Path
    scorefiles: list[Path]
    dir: Path


def cohort_parts():  # type: ignore[no-untyped-def]
    import numpy as np
    import polars as pl

    from prsgazer.synthetic.files import Cohort, random_cohort

    chroms = [random_cohort(80, 300, seed=k, missing_rate=0.03, chrom=c) for k, c in enumerate(["1", "2", "3"], 1)]
    samples = chroms[0].samples
    chroms = [Cohort(sites=c.sites, samples=samples, genotypes=c.genotypes) for c in chroms]
    whole = Cohort(sites=pl.concat([c.sites for c in chroms]), samples=samples,
                   genotypes=np.concatenate([c.genotypes for c in chroms]))  # fmt: skip
    return chroms, whole


@pytest.fixture(scope="session")
def cohort_files(tmp_path_factory: pytest.TempPathFactory) -> CohortFiles:
    import polars as pl

    from prsgazer.synthetic.files import random_score, write_pfile, write_scorefile, write_vcf

    d = tmp_path_factory.mktemp("split")
    chroms, whole = cohort_parts()
    files = [write_vcf(chroms[0], d / "chr1.vcf.gz"), write_pfile(chroms[1], d / "chr2"),
             write_vcf(chroms[2], d / "chr3.vcf.gz")]  # fmt: skip
    full = write_vcf(whole, d / "all.vcf.gz")
    score = random_score(whole, 600, seed=9, flip_rate=0.2, no_oa_rate=0.1, dominant_rate=0.1, recessive_rate=0.1)
    passing = write_scorefile(score.rows, d / "S1.txt", pgs_id="S1")
    # a score whose rows are half elsewhere: every part passes min_overlap 0, the whole fails 0.75
    more = random_score(whole, 300, seed=4).rows
    failing = write_scorefile(pl.concat([more, more.with_columns(pl.lit("7").alias("chr_name"))]), d / "S2.txt",
                              pgs_id="S2")  # fmt: skip
    return CohortFiles(files=files, whole=full, scorefiles=[passing, failing], dir=d)


def store_cohort(store, c: CohortFiles) -> list[str]:  # type: ignore[no-untyped-def]
    """Store the cohort's parts (two VCFs, one plink2 genotypes asset) and its scoring files; the parts' CIDs."""
    from prsgazer.storage.plink import put_pfile

    parts = [store.put(c.files[0], "vcf").cid, put_pfile(store, c.files[1], "genotypes").cid,
             store.put(c.files[2], "vcf").cid]  # fmt: skip
    for sf in c.scorefiles:
        store.put(sf, "scoring_file", pgs_id=sf.stem)
    return parts


def store_person(store, synth_panel, person_vcf):  # type: ignore[no-untyped-def]
    """Store the synthetic panel ("synth"), person P1's VCF and four scoring files (PGS900001-4)."""
    from prsgazer.assets import Vcf
    from prsgazer.storage.plink import put_pfile

    info, files = synth_panel
    panel = put_pfile(store, info.prefix, "reference_panel", panel="synth", genome_build="GRCh38",
                      n_samples=info.n_samples, superpopulations=sorted(info.superpopulations))  # fmt: skip
    vcf = store.upload(Vcf(path=person_vcf[0], sample_id="P1", genome_build="GRCh38", coverage="wgs",
                           superpopulation=person_vcf[1]))  # fmt: skip
    traits = ["Height (synthetic)", "Type 2 diabetes (synthetic)", "LDL (synthetic)", "Height second (synthetic)"]
    sfs = [
        store.put(f, "scoring_file", pgs_id=f"PGS90000{i + 1}", genome_build="GRCh38", trait=traits[i])
        for i, f in enumerate(files)
    ]
    return panel, vcf, sfs
