"""Many files, one cohort: a cohort split by chromosome into a mix of VCF, pfile and bfile (and given
as a pgsc_calc samplesheet) scores exactly as the concatenated file; samples that differ and a variant
in two files are input errors naming the first difference."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.genotypes import MultiSource, open_genotypes, read_samplesheet
from prsgazer.engine.scoring import RunOptions, run_scoring
from prsgazer.errors import InputError
from prsgazer.synthetic.files import Cohort, random_cohort, random_score, write_pfile, write_scorefile, write_vcf


def _part(c: Cohort, chrom: str) -> Cohort:
    keep = (c.sites["chrom"] == chrom).to_numpy()
    return Cohort(sites=c.sites.filter(pl.Series(keep)), samples=c.samples, genotypes=c.genotypes[keep])


def _join(*parts: Cohort) -> Cohort:
    return Cohort(sites=pl.concat([p.sites for p in parts]), samples=parts[0].samples,
                  genotypes=np.concatenate([p.genotypes for p in parts]))  # fmt: skip


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory, plink2: str):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("split")
    chroms = [random_cohort(80, 300, seed=k, missing_rate=0.02, chrom=c) for k, c in enumerate(["1", "2", "3"], 1)]
    samples = chroms[0].samples
    chroms = [Cohort(sites=c.sites, samples=samples, genotypes=c.genotypes) for c in chroms]
    whole = _join(*chroms)
    full = write_vcf(whole, d / "all.vcf.gz")
    one = write_vcf(chroms[0], d / "chr1.vcf.gz")
    two = write_pfile(chroms[1], d / "chr2")
    three_p = write_pfile(chroms[2], d / "chr3tmp")
    subprocess.run([plink2, "--pfile", str(three_p), "--make-bed", "--out", str(d / "chr3")], check=True,
                   capture_output=True)  # fmt: skip
    score = random_score(whole, 500, seed=9, flip_rate=0.2)
    sf = write_scorefile(score.rows, d / "S.txt", pgs_id="S")
    return d, whole, full, [one, two, d / "chr3"], sf


def test_a_split_cohort_scores_as_the_whole(split) -> None:  # type: ignore[no-untyped-def]
    d, _, full, parts, sf = split
    want = run_scoring(full, [sf], RunOptions())
    got = run_scoring(parts, [sf], RunOptions())
    assert got.n_samples == 80 and got.n_target_variants == want.n_target_variants == 900
    assert got.table.select("sample_id", "sum", "avg", "denom", "n_matched", "n_missing", "n_imputed").equals(
        want.table.select("sample_id", "sum", "avg", "denom", "n_matched", "n_missing", "n_imputed")
    )
    # the same as a pgsc_calc samplesheet (paths relative to the sheet)
    sheet = d / "samplesheet.csv"
    sheet.write_text("sampleset,path_prefix,chrom,format\n"
                     "cohort,chr1,1,vcf\ncohort,chr2,2,pfile\ncohort,chr3,3,bfile\n")  # fmt: skip
    assert read_samplesheet(sheet) == ("cohort", [d / "chr1.vcf.gz", d / "chr2", d / "chr3"])
    by_sheet = run_scoring(sheet, [sf], RunOptions())
    assert by_sheet.table["sum"].to_list() == want.table["sum"].to_list()


def test_reads_across_files_keep_the_order_asked(split) -> None:  # type: ignore[no-untyped-def]
    _, whole, _, parts, _ = split
    src = open_genotypes(parts)
    assert isinstance(src, MultiSource) and src.variants["vidx"].to_list() == list(range(900))
    rows = np.array([899, 0, 450, 301, 2, 600])
    want = np.where(whole.genotypes[rows] < 0, -9, whole.genotypes[rows])
    assert (src.read(rows) == want).all()
    assert (src.read_dosages(rows) == want.astype(np.float32)).all()
    src.close()


def test_samples_must_agree_and_variants_be_in_one_file(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, whole, _, parts, sf = split
    c1 = _part(whole, "1")
    renamed = Cohort(sites=c1.sites, samples=[*c1.samples[:4], "X", *c1.samples[5:]], genotypes=c1.genotypes)
    other = write_vcf(renamed, tmp_path / "other.vcf.gz")
    with pytest.raises(InputError, match=r"sample 5 is 'X', but in chr2.pgen it is") as exc:
        run_scoring([parts[1], other], [sf], RunOptions())
    assert exc.value.file == str(other)
    fewer = write_vcf(Cohort(sites=c1.sites, samples=c1.samples[:10], genotypes=c1.genotypes[:, :10]),
                      tmp_path / "fewer.vcf.gz")  # fmt: skip
    with pytest.raises(InputError, match="10 samples, but"):
        open_genotypes([parts[0], fewer])
    again = write_vcf(c1, tmp_path / "again.vcf.gz")
    with pytest.raises(InputError, match=r"variant 1:\d+:\w:\w is in again.vcf.gz and chr1.vcf.gz"):
        open_genotypes([parts[0], again])
    bad = tmp_path / "bad.csv"
    bad.write_text("sampleset,path_prefix,chrom,format\ncohort,chr9,9,vcf\n")
    with pytest.raises(InputError) as exc2:
        read_samplesheet(bad)
    assert (exc2.value.line, exc2.value.field) == (2, "path_prefix")
