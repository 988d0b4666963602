"""Genotype reading: VCF normalisation (multi-allelic, phased, haploid, missing, gVCF, filters),
pfile/bfile via pgenlib, build detection, and bad inputs named by file, line and field."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from prsgazer.engine.genotypes import MISSING, ParquetSource, open_genotypes
from prsgazer.engine.genotypes.build import BuildEvidence, check_build, detect_build
from prsgazer.engine.genotypes.vcf import QualityFilters, normalize_vcf
from prsgazer.errors import InputError
from prsgazer.synthetic.files import random_cohort, write_pfile, write_vcf

HEAD = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=249250621>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)


def vcf(tmp_path: Path, body: str, samples: tuple[str, ...] = ("A", "B", "C"), name: str = "x.vcf") -> Path:
    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    text = HEAD + cols + body
    p = tmp_path / name
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


def rows(src: ParquetSource) -> list[tuple]:
    """(chrom, pos, ref, alt, allele_idx, is_multiallelic, calls) by position (split multi-allelic
    records may come after the others in the file)."""
    g = src.read(np.arange(src.variants.height))
    out = [
        (*r, tuple(int(x) for x in g[i]))
        for i, r in enumerate(src.variants.select("chrom", "pos", "ref", "alt", "allele_idx", "is_multiallelic").rows())
    ]
    return sorted(out, key=lambda r: (r[1], r[4]))


def test_vcf_calls_multiallelic_phased_haploid_missing(tmp_path: Path) -> None:
    body = (
        "chr1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0|1\t1|1\n"
        "chr1\t200\t.\tC\tT,G\t.\tPASS\t.\tGT:DP\t1/2:10\t2/2:3\t0/1:8\n"
        "chr1\t300\t.\tg\ta\t.\t.\t.\tGT\t1\t0\t.\n"
        "chr1\t400\t.\tT\tC\t.\tPASS\t.\tGT\t./1\t./.\t1/0\n"
        "chr1\t500\t.\tT\tC,<NON_REF>\t.\tPASS\t.\tGT\t0/1\t0/2\t2/2\n"
    )
    src = open_genotypes(vcf(tmp_path, body, name="x.vcf.gz"), cache_dir=tmp_path / "c")
    assert src.samples.get_column("sample_id").to_list() == ["A", "B", "C"]
    assert rows(src) == [
        ("1", 100, "A", "G", 1, False, (0, 1, 2)),
        ("1", 200, "C", "T", 1, True, (1, 0, 1)),
        ("1", 200, "C", "G", 2, True, (1, 2, 0)),
        ("1", 300, "G", "A", 1, False, (2, 0, MISSING)),  # haploid = homozygous (plink2)
        ("1", 400, "T", "C", 1, False, (MISSING, MISSING, 1)),  # half-call = missing
        ("1", 500, "T", "C", 1, False, (1, 0, 0)),  # <NON_REF> dropped, not multi-allelic
    ]
    info = src.info["summary"]
    assert info["n_half_calls"] == 1 and info["n_haploid_calls"] == 2 and info["is_gvcf"] is True


def test_vcf_filters_make_calls_missing_not_absent(tmp_path: Path) -> None:
    body = (
        "1\t100\t.\tA\tG\t50\tPASS\t.\tGT:DP:GQ\t0/1:20:99\t1/1:5:99\t0/0:30:10\n"
        "1\t200\t.\tA\tG\t5\tLowQual\t.\tGT:DP:GQ\t0/1:20:99\t1/1:20:99\t0/0:30:99\n"
        "1\t300\t.\tA\tG\t5\tPASS\t.\tGT\t0/1\t1/1\t0/0\n"
    )
    p = vcf(tmp_path, body)
    out = tmp_path / "n.parquet"
    summary = normalize_vcf(p, out, filters=QualityFilters(min_dp=10, min_gq=20, min_qual=10))
    src = ParquetSource(out)
    got = [r[-1] for r in rows(src)]
    assert got == [(1, MISSING, MISSING), (MISSING,) * 3, (MISSING,) * 3]
    assert summary.n_records_failing_filters == 2
    # defaults: FILTER PASS/. only
    out2 = tmp_path / "d.parquet"
    normalize_vcf(p, out2)
    assert [r[-1] for r in rows(ParquetSource(out2))] == [(1, 2, 0), (MISSING,) * 3, (1, 2, 0)]
    out3 = tmp_path / "a.parquet"
    normalize_vcf(p, out3, filters=QualityFilters(filter_pass=None))
    assert [r[-1] for r in rows(ParquetSource(out3))][1] == (1, 2, 0)


def test_gvcf_reference_blocks(tmp_path: Path) -> None:
    body = (
        "1\t100\t.\tA\t<NON_REF>\t.\t.\tEND=199\tGT:DP:GQ\t0/0:30:60\n"
        "1\t200\t.\tC\tT,<NON_REF>\t.\t.\t.\tGT:DP:GQ\t0/1:30:60\n"
        "1\t201\t.\tG\t<*>\t.\t.\tEND=300\tGT:DP:GQ\t0/0:3:5\n"
    )
    out = tmp_path / "g.parquet"
    summary = normalize_vcf(vcf(tmp_path, body, samples=("P",)), out, filters=QualityFilters(min_gq=20))
    assert summary.is_gvcf and summary.n_ref_blocks == 2
    src = ParquetSource(out)
    assert rows(src) == [("1", 200, "C", "T", 1, False, (1,))]
    assert src.blocks is not None
    blocks = [(c, s, e, list(g)) for c, s, e, g in src.blocks.rows()]
    assert blocks == [("1", 100, 199, [0]), ("1", 201, 300, [MISSING])]


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        ("1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\n", 5, None, "fields"),
        ("1\tabc\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\t0/0\n", 5, "POS", "positive integer"),
        (
            "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\t0/0\n1\t101\t.\tZ\tG\t.\t.\t.\tGT\t0/1\t0/0\t0/0\n",
            6,
            "REF",
            "REF",
        ),
        ("1\t100\t.\tA\tQ\t.\t.\t.\tGT\t0/1\t0/0\t0/0\n", 5, "ALT", "ALT"),
        ("1\t100\t.\tA\tG\t.\t.\t.\tDP\t3\t4\t5\n", 5, "FORMAT", "no GT"),
        ("1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\tA/G\t0/0\n", 5, "B", "not a GT"),
        ("1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/3\t0/0\n", 5, "A", "exceeds"),
    ],
)
def test_bad_vcf_rows(tmp_path: Path, body: str, line: int, field: str | None, words: str) -> None:
    p = vcf(tmp_path, body)
    out = tmp_path / "o" / "n.parquet"
    with pytest.raises(InputError) as info:
        normalize_vcf(p, out)
    assert info.value.file == str(p)
    assert info.value.line == line
    assert info.value.field == field
    assert words in str(info.value)
    assert list((tmp_path / "o").iterdir()) == []  # nothing left behind


def test_vcf_without_samples_or_gt_header(tmp_path: Path) -> None:
    p = tmp_path / "sites.vcf"
    p.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t1\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError, match="no sample columns") as info:
        normalize_vcf(p, tmp_path / "o.parquet")
    assert info.value.line == 2 and info.value.field == "FORMAT"
    q = tmp_path / "notvcf.vcf"
    q.write_text("hello\n")
    with pytest.raises(InputError, match=r"not a VCF|#CHROM"):
        normalize_vcf(q, tmp_path / "o.parquet")


def test_truncated_gzip_vcf(tmp_path: Path) -> None:
    cohort = random_cohort(5, 3000, seed=3)
    p = write_vcf(cohort, tmp_path / "c.vcf.gz")
    data = p.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out_dir = tmp_path / "o"
    with pytest.raises(InputError, match="truncated or corrupt") as info:
        normalize_vcf(cut, out_dir / "n.parquet")
    assert info.value.file == str(cut)
    assert list(out_dir.iterdir()) == []


def test_vcf_pfile_and_bfile_agree(tmp_path: Path) -> None:
    cohort = random_cohort(40, 500, seed=11, missing_rate=0.02)
    prefix = write_pfile(cohort, tmp_path / "c")
    v = write_vcf(cohort, tmp_path / "c.vcf.gz", chr_prefix=True, phased=True)
    a = open_genotypes(prefix)
    b = open_genotypes(v, cache_dir=tmp_path / "cache")
    assert a.variants.drop("id").equals(b.variants.drop("id"))
    idx = np.array([5, 0, 499, 17, 17, 250])
    assert np.array_equal(a.read(idx), cohort.genotypes[idx])
    assert np.array_equal(b.read(idx), cohort.genotypes[idx])
    # the normalised VCF is cached by CID: a second open reuses it
    cached = list((tmp_path / "cache" / "genotypes").glob("*.parquet"))
    assert len(cached) == 1
    assert open_genotypes(v, cache_dir=tmp_path / "cache").path == cached[0]


def test_cineca_three_formats_identical(shared_data: Path, tmp_path: Path) -> None:
    base = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    srcs = [
        open_genotypes(base),
        open_genotypes(base.with_suffix(".bed")),
        open_genotypes(base.with_suffix(".vcf.gz"), cache_dir=tmp_path),
    ]
    ref = srcs[0].read(np.arange(srcs[0].variants.height))
    assert ref.shape == (829, 2504)
    assert int((ref == MISSING).sum()) == 96
    for s in srcs[1:]:
        assert s.variants.select("chrom", "pos", "ref", "alt").equals(
            srcs[0].variants.select("chrom", "pos", "ref", "alt")
        )
        assert np.array_equal(s.read(np.arange(s.variants.height)), ref)
    assert srcs[0].samples.get_column("sample_id")[0] == "HG00096"
    assert srcs[2].samples.get_column("sample_id")[0] == "HG00096_HG00096"


def test_multiallelic_pvar_reads_each_allele(tmp_path: Path) -> None:
    import pgenlib

    n = 4
    w = pgenlib.PgenWriter(bytes(str(tmp_path / "m.pgen"), "utf-8"), n, 2, False, allele_ct_limit=3)
    w.append_alleles(np.array([0, 1, 1, 2, 2, 2, -9, -9], dtype=np.int32), allele_ct=3)
    w.append_alleles(np.array([0, 0, 0, 1, 1, 1, 0, 0], dtype=np.int32), allele_ct=2)
    w.close()
    (tmp_path / "m.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n1\t10\tm\tA\tC,G\n1\t20\tb\tT\tC\n")
    (tmp_path / "m.psam").write_text("#IID\n" + "".join(f"s{i}\n" for i in range(n)))
    src = open_genotypes(tmp_path / "m")
    assert src.variants.select("alt", "allele_idx", "is_multiallelic").rows() == [
        ("C", 1, True),
        ("G", 2, True),
        ("C", 1, False),
    ]
    # calls 0/1, 1/2, 2/2, ./. at the C,G site
    assert src.read(np.array([0, 1, 2])).tolist() == [[1, 1, 0, MISSING], [0, 1, 2, MISSING], [0, 1, 2, 0]]


def test_psam_founders_and_fam(tmp_path: Path) -> None:
    cohort = random_cohort(4, 3, seed=1)
    prefix = write_pfile(
        cohort,
        tmp_path / "f",
        psam_extra={"PAT": ["0", "S00000", "0", "0"], "MAT": ["0", "S00002", "0", "x"]},
    )
    src = open_genotypes(prefix)
    assert src.samples.get_column("founder").to_list() == [True, False, True, False]


def test_missing_genotype_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="genotypes not found"):
        open_genotypes(tmp_path / "nothing")
    (tmp_path / "p.pgen").write_bytes(b"")
    with pytest.raises(InputError, match="incomplete"):
        open_genotypes(tmp_path / "p")


@pytest.mark.parametrize(
    ("lines", "build", "source"),
    [
        (
            ["##contig=<ID=chr1,length=249250621>", "##contig=<ID=chr2,length=243199373>"],
            "GRCh37",
            "contig_lengths",
        ),
        (["##contig=<ID=1,length=248956422,assembly=B38>"], "GRCh38", "contig_lengths"),
        (["##reference=file:///ref/hs37d5.fa"], "GRCh37", "reference"),
        (["##reference=GRCh38_full_analysis_set_plus_decoy_hla.fa"], "GRCh38", "reference"),
        (["##contig=<ID=22,length=51174940>"], None, "none"),
        ([], None, "none"),
        (["##contig=<ID=1,length=249250621>", "##contig=<ID=2,length=242193529>"], None, "contig_lengths"),
    ],
)
def test_detect_build(lines: list[str], build: str | None, source: str) -> None:
    ev = detect_build(lines)
    assert (ev.build, ev.source) == (build, source)


def test_build_mismatch_is_an_error(tmp_path: Path) -> None:
    ev = BuildEvidence(build="GRCh38", source="contig_lengths", detail="chr1 length 248956422")
    with pytest.raises(InputError) as info:
        check_build(ev, tmp_path / "g.vcf", "GRCh37", tmp_path / "s.txt", "PGS1")
    text = str(info.value)
    assert "GRCh38" in text and "GRCh37" in text and "PGS1_hmPOS_GRCh38" in text
    assert check_build(ev, tmp_path / "g.vcf", "GRCh38", tmp_path / "s.txt", "PGS1") is None
    assert "unknown" in (check_build(BuildEvidence(), tmp_path / "g", "GRCh37", tmp_path / "s", "PGS1") or "")


@pytest.mark.parametrize(
    "text", [b"", b"a\n", b"abc", b"l1\nline two\n" * 9 + b"x" * 50 + b"\nend", b"x" * 100 + b"\n"]
)
@pytest.mark.parametrize(("size", "piece"), [(20, 7), (5, 3), (1000, 64)])
def test_chunks_are_whole_lines(text: bytes, size: int, piece: int, tmp_path: Path) -> None:
    import io

    from prsgazer.engine.genotypes.vcf import _chunks

    out = list(_chunks(io.BytesIO(text), tmp_path, size, piece))
    assert all(c.endswith(b"\n") for c in out)
    expected = text if not text or text.endswith(b"\n") else text + b"\n"
    assert b"".join(out) == expected
