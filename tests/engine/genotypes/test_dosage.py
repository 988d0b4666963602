"""Dosages read from VCF `DS` / `HDS` / `GP` and from .pgen files: bit for bit what plink2 imports
(live plink2 oracle), the field order and fallbacks, multi-allelic records against an independent
numpy computation, split multi-allelic sites, and bad values named by line and sample."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pgenlib
import polars as pl
import pytest

from prsgazer.engine.genotypes import MISSING, ParquetSource, QualityFilters, open_genotypes
from prsgazer.engine.genotypes.plink import pgen_has_dosages
from prsgazer.engine.genotypes.source import split_site_rows
from prsgazer.engine.genotypes.vcf import normalize_vcf
from prsgazer.errors import InputError
from prsgazer.synthetic.files import random_cohort, random_genotype_probabilities, write_dosage_vcf

FORMATS = {
    "DS": '##FORMAT=<ID=DS,Number=A,Type=Float,Description="dosage">',
    "HDS": '##FORMAT=<ID=HDS,Number=2,Type=Float,Description="haplotype dosages">',
    "GP": '##FORMAT=<ID=GP,Number=G,Type=Float,Description="genotype probabilities">',
}


def vcf(path: Path, body: str, samples: tuple[str, ...], fields: tuple[str, ...]) -> Path:
    head = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=249250621>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        *(FORMATS[f] for f in fields),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    path.write_text("\n".join(head) + "\n" + body)
    return path


def plink2_import(plink2: str, vcf_path: Path, field: str, out: Path) -> Path:
    proc = subprocess.run(
        [plink2, "--threads", "1", "--vcf", str(vcf_path), f"dosage={field}", "--make-pgen", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


# Calls plink2 treats in special ways: haploid GT (a 0..1 dosage, doubled), GT `.` (one allele too),
# missing field (`.`: the GT call is used), missing GT with a dosage (the dosage is used).
EDGE = {
    "DS": "0/1:0.3\t1:0.7\t.:0.4\t./.:1.25\t1/1:.\t./.:.\t0|1:2\t0:0",
    "HDS": "0|1:0.3,0.9\t1:0.7\t0|0:0.11,0.012\t./.:1,1\t1/1:.\t./.:.\t0|1:0,1\t0:0.5",
    "GP": "0/1:0.2,0.5,0.3\t1:0.25,0.75\t0/0:0.9,0.05,0.05\t./.:0.1,0.1,0.9\t1/1:.\t./.:.\t0/1:0,0,1\t0:1,0",
}


@pytest.mark.plink2
@pytest.mark.parametrize("field", ["DS", "HDS", "GP"])
def test_vcf_dosages_equal_plink2_import(plink2: str, tmp_path: Path, field: str) -> None:
    """Random imputed-style calls (noisy, some without dosage, some without GT) and the edge cases
    above: our parquet's dosages equal the .pgen plink2 writes from the same VCF, bit for bit."""
    cohort = random_cohort(60, 300, seed=3, missing_rate=0.05)
    gp = random_genotype_probabilities(cohort, seed=4)
    no_dosage = np.random.default_rng(5).random(cohort.genotypes.shape) < 0.05
    rand = write_dosage_vcf(cohort, tmp_path / "r.vcf.gz", gp, fields=(field,), no_dosage=no_dosage, decimals=5)
    samples = tuple(f"E{i}" for i in range(8))
    edge = vcf(tmp_path / "e.vcf", f"1\t100\t.\tA\tG\t.\tPASS\t.\tGT:{field}\t{EDGE[field]}\n", samples, (field,))
    for path, name in ((rand, "r"), (edge, "e")):
        ours = open_genotypes(path, dosage_fields=(field,))
        theirs = open_genotypes(plink2_import(plink2, path, field, tmp_path / name))
        assert ours.dosage_source == field and theirs.dosage_source == "pgen dosages"
        rows = np.arange(ours.variants.height)
        a, b = ours.read_dosages(rows), theirs.read_dosages(rows)
        assert np.array_equal(a, b), (name, np.argwhere(a != b)[:5])
        assert ours.read(rows).tolist() != b.tolist()  # the dosages are not the hard calls
    # the random file: dosages really differ from the hard calls
    hard = ours_hard = open_genotypes(rand, dosage_fields=()).read(np.arange(300))
    assert not open_genotypes(rand, dosage_fields=()).has_dosages
    d = open_genotypes(rand, dosage_fields=(field,)).read_dosages(np.arange(300))
    ok = (hard != MISSING) & (d != MISSING)
    assert np.abs(d[ok] - ours_hard[ok]).mean() > 0.1


def test_field_order_fallbacks_and_report(tmp_path: Path) -> None:
    """DS, then HDS, then GP per call (a `.` falls through to the next field, then to GT); the order
    is configurable; the summary says which fields gave dosages."""
    body = (
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT:DS:GP\t0/1:0.5:0,0,1\t0/0:.:0,1,0\t1/1:.:.\n"
        "1\t200\t.\tC\tT\t.\tPASS\t.\tGT:GP\t0/1:1,0,0\t0/0:0,0,1\t./.:.\n"
        "1\t300\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t1/1\t./.\n"
    )
    p = vcf(tmp_path / "o.vcf", body, ("A", "B", "C"), ("DS", "GP"))
    rows = np.arange(3)
    src = open_genotypes(p)
    assert src.read_dosages(rows).tolist() == [[0.5, 1, 2], [0, 2, MISSING], [1, 2, MISSING]]
    assert src.dosage_source == "DS (1 records), GP (2 records)"
    gp_first = open_genotypes(p, dosage_fields=("GP", "DS"))
    assert gp_first.read_dosages(rows).tolist() == [[2, 1, 2], [0, 2, MISSING], [1, 2, MISSING]]
    assert gp_first.dosage_source == "GP"
    hard = open_genotypes(p, dosage_fields=())
    assert not hard.has_dosages and hard.dosage_source == "hard calls"
    assert hard.read_dosages(rows).tolist() == [[1, 0, 2], [1, 0, MISSING], [1, 2, MISSING]]
    assert src.read(rows).tolist() == hard.read(rows).tolist()  # GT kept as written
    with pytest.raises(InputError, match="dosage fields"):
        open_genotypes(p, dosage_fields=("DS", "XX"))


def test_multiallelic_ds_and_gp_against_numpy(tmp_path: Path) -> None:
    """DS (Number=A) gives each ALT row its value; GP (Number=G, VCF genotype order) gives each ALT
    its expected copies Σ P(g)·copies / Σ P, computed here independently."""
    rng = np.random.default_rng(8)
    n = 12
    gp = rng.dirichlet(np.ones(6), n)  # genotypes 0/0 0/1 1/1 0/2 1/2 2/2
    ds = rng.dirichlet(np.ones(3), n)[:, 1:] * 2
    gp_txt = [",".join(f"{x:.6f}" for x in r) for r in gp]
    ds_txt = [f"{a:.6f},{b:.6f}" for a, b in ds]
    samples = tuple(f"S{i}" for i in range(n))
    body = (
        "1\t100\t.\tA\tG,C\t.\tPASS\t.\tGT:GP\t" + "\t".join(f"0/1:{t}" for t in gp_txt) + "\n"
        "1\t200\t.\tT\tA,C\t.\tPASS\t.\tGT:DS\t" + "\t".join(f"1/2:{t}" for t in ds_txt) + "\n"
    )
    src = open_genotypes(vcf(tmp_path / "m.vcf", body, samples, ("DS", "GP")))
    assert src.variants.select("pos", "alt", "allele_idx").rows() == [(100, "G", 1), (100, "C", 2), (200, "A", 1),
                                                                     (200, "C", 2)]  # fmt: skip
    got = src.read_dosages(np.arange(4)).astype(np.float64)
    p = np.array([[float(x) for x in t.split(",")] for t in gp_txt])
    copies = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [0, 2]], dtype=float)  # (genotype, ALT)
    want_gp = (p @ copies) / p.sum(axis=1)[:, None]
    want_ds = np.array([[float(x) for x in t.split(",")] for t in ds_txt])
    for want, rows in ((want_gp, [0, 1]), (want_ds, [2, 3])):
        quantized = np.floor(want * 16384 + 0.5) / 16384
        assert np.array_equal(got[rows].T, quantized)


def test_records_without_gt_and_filters(tmp_path: Path) -> None:
    """A FORMAT with a dosage field and no GT is readable (no hard call); a call failing a quality
    filter is missing in the dosages too; no GT and no dosage field is an error naming the line."""
    body = (
        "1\t100\t.\tA\tG\t.\tPASS\t.\tDS:GQ\t0.5:30\t1.5:5\n"
        "1\t200\t.\tA\tC\t.\tPASS\t.\tGT:DS:GQ\t0/1:1.2:30\t1/1:2:5\n"
    )
    p = vcf(tmp_path / "n.vcf", body, ("A", "B"), ("DS",))
    src = open_genotypes(p, filters=QualityFilters(min_gq=10))
    assert src.read(np.arange(2)).tolist() == [[MISSING, MISSING], [1, MISSING]]
    # 1.2 as plink2 keeps it: 19661/16384
    assert src.read_dosages(np.arange(2)).tolist() == [[0.5, MISSING], [19661 / 16384, MISSING]]
    bad = vcf(tmp_path / "b.vcf", "1\t100\t.\tA\tG\t.\tPASS\t.\tGQ\t30\t5\n", ("A", "B"), ("DS",))
    with pytest.raises(InputError, match="has no GT nor DS/HDS/GP") as e:
        normalize_vcf(bad, tmp_path / "b.parquet")
    assert e.value.line == 6


@pytest.mark.parametrize(
    ("field", "calls", "message", "sample"),
    [
        ("DS", "0/1:0.5\t0/1:abc", "DS value 'abc' is not a number", "B"),
        ("DS", "0/1:2.5\t0/1:1", "out of range: expected a DS between 0 and 2", "A"),
        ("DS", "1:1.2\t0/1:1", "out of range", "A"),  # haploid: doubled to 2.4
        ("GP", "0/1:0.1,0.9\t0/1:0.2,0.3,0.5,0.1", "wrong number of values", "B"),
        ("GP", "0/1:0.1,1.9,0\t0/1:0,1,0", "probabilities between 0 and 1", "A"),
        ("HDS", "0|1:0.5,x\t0|1:0,1", "HDS value 'x' is not a number", "A"),
    ],
)
def test_bad_dosages_name_line_and_sample(tmp_path: Path, field: str, calls: str, message: str, sample: str) -> None:
    body = "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\n" + f"1\t200\t.\tA\tG\t.\tPASS\t.\tGT:{field}\t{calls}\n"
    p = vcf(tmp_path / "x.vcf", body, ("A", "B"), (field,))
    with pytest.raises(InputError, match=message) as e:
        normalize_vcf(p, tmp_path / "x.parquet")
    assert (e.value.line, e.value.field) == (7, sample)
    assert not (tmp_path / "x.parquet").exists()


def test_pgen_header_says_whether_dosages_exist(tmp_path: Path) -> None:
    """The variant record types are read from the header, across 64Ki-variant blocks: phased hard
    calls (8-bit record types, no dosage bits) are not dosages; one dosage in the second block is."""
    n, m = 4, 70_000
    geno = np.zeros((m, n), dtype=np.int8)
    phased = tmp_path / "phased.pgen"
    w = pgenlib.PgenWriter(bytes(str(phased), "utf-8"), n, m, False, hardcall_phase_present=True)
    alleles = np.array([0, 1] * n, dtype=np.int32)
    for _ in range(m):
        w.append_alleles(alleles, all_phased=True)
    w.close()
    assert phased.read_bytes()[11] & 0x0F >= 4  # 8-bit record types
    assert not pgen_has_dosages(phased)
    dosed = tmp_path / "dosed.pgen"
    w = pgenlib.PgenWriter(bytes(str(dosed), "utf-8"), n, m, False, dosage_present=True)
    w.append_biallelic_batch(geno[:-1])
    w.append_dosages(np.array([0.5, 1.0, 0.0, 2.0], dtype=np.float32))
    w.close()
    assert pgen_has_dosages(dosed)
    (tmp_path / "dosed.pvar").write_text(
        "#CHROM\tPOS\tID\tREF\tALT\n" + "".join(f"1\t{i + 1}\tv{i}\tA\tG\n" for i in range(m))
    )
    (tmp_path / "dosed.psam").write_text("#IID\n" + "".join(f"s{i}\n" for i in range(n)))
    src = open_genotypes(tmp_path / "dosed")
    assert src.dosage_source == "pgen dosages"
    assert src.read_dosages(np.array([m - 2, m - 1])).tolist() == [[0, 0, 0, 0], [0.5, 1, 0, 2]]
    assert src.read_dosages(np.array([m - 1, 0])).tolist() == [[0.5, 1, 0, 2], [0, 0, 0, 0]]


def test_pgen_dosages_read_into_a_reused_buffer(tmp_path: Path) -> None:
    """A chunk of dosages read into a caller's buffer reused from chunk to chunk (the compiled decoder of
    `engine.pgen`): every value is pgenlib's (a range of records, a list with gaps, one record, over a
    buffer holding the previous chunk's values), and the missing values are counted."""
    rng = np.random.default_rng(5)
    n, m = 37, 300
    dosages = np.round(rng.random((m, n)) * 2, 3).astype(np.float32)
    dosages[rng.random((m, n)) < 0.2] = np.float32(1.0)  # equal to the hard call: no dosage stored
    dosages[rng.random((m, n)) < 0.02] = -9  # missing
    path = tmp_path / "d.pgen"
    w = pgenlib.PgenWriter(bytes(str(path), "utf-8"), n, m, False, dosage_present=True)
    w.append_dosages_batch(dosages)
    w.close()
    (tmp_path / "d.pvar").write_text(
        "#CHROM\tPOS\tID\tREF\tALT\n" + "".join(f"1\t{i + 1}\tv{i}\tA\tG\n" for i in range(m))
    )
    (tmp_path / "d.psam").write_text("#IID\n" + "".join(f"s{i}\n" for i in range(n)))
    one = pgenlib.PgenReader(bytes(str(path), "utf-8"))
    truth = np.empty((m, n), dtype=np.float32)
    one.read_dosages_range(0, m, truth)
    one.close()
    assert (truth == -9).sum() > 0 and (np.abs(truth - dosages) < 1e-3)[dosages >= 0].all()
    with open_genotypes(tmp_path / "d") as src:
        buf = np.full((m, n), np.float32(7.0))
        for rows in (np.arange(m), np.sort(rng.choice(m, 150, replace=False)), np.arange(40, 41), np.arange(m)):
            missing = src.read_dosages_into(rows, buf[: len(rows)])
            assert np.array_equal(buf[: len(rows)], truth[rows])
            assert missing == int((truth[rows] == -9).sum())
        assert np.array_equal(src.read_dosages(np.arange(10, 200)), truth[10:200])


def test_split_multiallelic_lines_are_one_site() -> None:
    """Biallelic lines sharing chromosome, position and REF with different ALTs are one site (sorted
    or not); identical duplicates and different REFs are not."""

    def table(rows: list[tuple[str, int, str, str]]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "chrom": [r[0] for r in rows],
                "pos": [r[1] for r in rows],
                "ref": [r[2] for r in rows],
                "alt": [r[3] for r in rows],
                "is_multiallelic": [False] * len(rows),
            }
        )

    rows = [
        ("1", 10, "A", "G"), ("1", 20, "A", "G"), ("1", 20, "A", "C"), ("1", 20, "AT", "A"),
        ("1", 30, "C", "T"), ("1", 30, "C", "T"), ("2", 20, "A", "T"), ("2", 40, "G", "A"),
    ]  # fmt: skip
    want = [False, True, True, False, False, False, False, False]
    assert split_site_rows(table(rows)).tolist() == want
    shuffled = [5, 2, 7, 0, 3, 6, 1, 4]
    got = split_site_rows(table([rows[i] for i in shuffled])).tolist()
    assert got == [want[i] for i in shuffled]
    # the same position and REF on the next chromosome, right after: another site
    assert split_site_rows(table([*rows, ("3", 40, "G", "C")])).tolist() == [*want, False]

    # tables read from files carry `allele_idx`: a record's own ALT lines are no split site (they are
    # multi-allelic already), a biallelic line next to a record at the same position and REF is
    def exploded(rows: list[tuple[str, int, str, str, int, bool]]) -> np.ndarray:
        names = ("chrom", "pos", "ref", "alt", "allele_idx", "is_multiallelic")
        t = pl.DataFrame({k: [r[i] for r in rows] for i, k in enumerate(names)},
                         schema_overrides={"allele_idx": pl.Int8})
        return t.get_column("is_multiallelic").to_numpy() | split_site_rows(t)

    record = [("1", 10, "A", "G", 1, False), ("1", 20, "A", "G", 1, True), ("1", 20, "A", "C", 2, True),
              ("1", 30, "C", "T", 1, False)]  # fmt: skip
    assert exploded(record).tolist() == [False, True, True, False]
    beside = [*record[:3], ("1", 20, "A", "T", 1, False), ("1", 20, "AT", "A", 1, False), record[3]]
    assert exploded(beside).tolist() == [False, True, True, True, False, False]


def test_parquet_source_reads_only_what_it_is_asked(tmp_path: Path) -> None:
    cohort = random_cohort(5, 20, seed=2)
    gp = random_genotype_probabilities(cohort, seed=1)
    p = write_dosage_vcf(cohort, tmp_path / "d.vcf", gp, fields=("DS",))
    out = tmp_path / "d.parquet"
    normalize_vcf(p, out)
    src = ParquetSource(out)
    src.read_dosages(np.arange(3))
    assert src._gt is None and src._ds is not None
    assert np.array_equal(src.read(np.arange(20)), cohort.genotypes)
