"""The compiled .pgen dosage decoder (`engine.pgen`) against pgenlib, value for value: files written
by pgenlib (dosage lists, bitarrays and dense arrays; 1- and 2-byte sample IDs; missing dosages) and by
plink2 from phased VCFs (LD-compressed and inverted records, phased hard calls, phased dosages, 3-byte
sample IDs); its missing-value counts; what it leaves to pgenlib; malformed records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pgenlib
import pytest

from prsgazer.engine.genotypes import open_genotypes
from prsgazer.engine.pgen import PgenDosages, PgenIndex, open_dosages, read_index
from prsgazer.errors import InputError


def pgenlib_dosages(path: Path, records: np.ndarray) -> np.ndarray:
    r = pgenlib.PgenReader(bytes(str(path), "utf-8"))
    out = np.empty((len(records), r.get_raw_sample_ct()), dtype=np.float32)
    r.read_dosages_list(records.astype(np.uint32), out)
    r.close()
    return out


def check_against_pgenlib(path: Path) -> set[int]:
    """Every record, a list with gaps and single records: identical values and missing counts, decoded
    in one piece and in several. Returns the record types the file holds."""
    d = open_dosages(path)
    assert d is not None
    m = len(d.index.vrtypes)
    rng = np.random.default_rng(0)
    picks = [np.arange(m), np.sort(rng.choice(m, m // 2, replace=False)), np.array([m - 1]), np.array([0])]
    for records in picks:
        want = pgenlib_dosages(path, records)
        for parallel in (False, True):
            got = np.full_like(want, 7.0)
            missing = d.read(records, got, parallel=parallel)
            assert np.array_equal(got, want), (path.name, parallel)
            assert missing == int((want == -9).sum())
    assert d.read(np.zeros(0, dtype=np.int64), np.empty((0, d.index.n_samples), dtype=np.float32)) == 0
    d.close()
    return set(d.index.vrtypes.tolist())


def write_pgenlib_file(path: Path, n: int, seed: int) -> Path:
    """Dosages as imputation gives them, in every layout pgenlib writes: none (hard calls only), a few
    samples (a dosage list), most samples (a bitarray), every sample (a dense array), missing ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(48):
        g = rng.integers(0, 3, n).astype(np.float32)
        if v % 8 == 1:
            g[:] = 0
            g[rng.choice(n, max(1, n // 20), replace=False)] = 1  # rare: a difflist main track
        share = (0.0, 0.05, 0.7, 1.0)[v % 4]
        noisy = rng.random(n) < share
        # off the hard call by 0.01..0.45, towards the inside of [0, 2]: never an integer, never clipped
        toward = np.where(g == 0, 1.0, np.where(g == 2, -1.0, rng.choice([-1.0, 1.0], n)))
        d = np.where(noisy, g + toward * rng.uniform(0.01, 0.45, n), g).astype(np.float32)
        d[rng.random(n) < (0.03 if v % 3 else 0.0)] = -9
        rows.append(np.round(d, 3))
    w = pgenlib.PgenWriter(bytes(str(path), "utf-8"), n, len(rows), False, dosage_present=True)
    w.append_dosages_batch(np.stack(rows))
    w.close()
    return path


@pytest.mark.parametrize("n", [7, 255, 256, 300])
def test_pgenlib_files(tmp_path: Path, n: int) -> None:
    """1-byte sample IDs up to 255 samples, 2 bytes from 256 (pgenlib's rule), every dosage layout."""
    types = check_against_pgenlib(write_pgenlib_file(tmp_path / "d.pgen", n, seed=n))
    kinds = {t & 0x60 for t in types}
    # a list is shorter than a bitarray only for fewer than n/9 samples: none with 7 samples
    assert kinds == ({0x00, 0x40, 0x60} if n < 9 else {0x00, 0x20, 0x40, 0x60}), sorted(hex(t) for t in types)
    assert {t & 7 for t in types} & {1, 4, 5, 6, 7}  # difflist-based main tracks too


def phased_dosage_vcf(path: Path, n: int, m: int, seed: int) -> Path:
    """Phased GT with DS, built so that plink2 uses every main-track encoding: near copies of the last
    fresh variant (LD-compressed), of its REF/ALT swap (LD-compressed, inverted), rare variants
    (difflists), two common categories (1-bit); dosages on none, a few, most or every sample."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 3, n)
    lines = []
    for v in range(m):
        kind = v % 6
        if kind == 0:
            g = base = rng.integers(0, 3, n)
        elif kind in (1, 2):
            g = base.copy() if kind == 1 else 2 - base
            k = rng.choice(n, max(1, n // 50), replace=False)
            g[k] = rng.integers(0, 3, len(k))
        elif kind == 3:
            g = np.zeros(n, dtype=np.int64)
            g[rng.choice(n, max(1, n // 40), replace=False)] = 1
        elif kind == 4:
            g = rng.integers(0, 2, n)
            g[rng.choice(n, max(1, n // 40), replace=False)] = 2
        else:
            g = np.full(n, 2)
            g[rng.choice(n, max(1, n // 40), replace=False)] = 1
        share = (0.0, 0.03, 0.7, 1.0)[(v // 6) % 4]
        noisy = rng.random(n) < share
        ds = np.where(noisy, np.clip(g + rng.uniform(-0.45, 0.45, n), 0, 2), g)
        gt = np.array(["0|0", "0|1", "1|1"])[g]
        gt[(g == 1) & (rng.random(n) < 0.5)] = "1|0"
        missing = rng.random(n) < 0.02
        gt[missing] = "."
        dst = np.char.mod("%.3f", ds).astype(object)
        dst[missing] = "."
        calls = np.char.add(np.char.add(gt.astype(str), ":"), dst.astype(str))
        lines.append(f"1\t{1000 + v}\tv{v}\tA\tG\t.\tPASS\t.\tGT:DS\t" + "\t".join(calls.tolist()))
    head = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=1000000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dose">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(n)),
    ]
    path.write_text("\n".join(head + lines) + "\n")
    return path


@pytest.mark.plink2
@pytest.mark.parametrize(("n", "m"), [(300, 48), (66_000, 18)])
def test_plink2_files(plink2: str, tmp_path: Path, n: int, m: int) -> None:
    """What plink2 --make-pgen writes from a phased VCF with DS: LD-compressed records (plain and
    inverted), phased hard calls, phased dosages; 3-byte sample IDs above 65,535 samples."""
    vcf = phased_dosage_vcf(tmp_path / "p.vcf", n, m, seed=n)
    out = tmp_path / "p"
    proc = subprocess.run([plink2, "--threads", "1", "--vcf", str(vcf), "dosage=DS", "--make-pgen", "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    types = check_against_pgenlib(tmp_path / "p.pgen")
    mains = {t & 7 for t in types}
    assert {2, 3} <= mains and mains & {0, 1}, sorted(hex(t) for t in types)  # LD-compressed, plain and inverted
    assert any(t & 0x10 for t in types) and any(t & 0x80 for t in types)  # phased hard calls, phased dosages
    assert {t & 0x60 for t in types} >= {0x20, 0x60}
    with open_genotypes(out) as src:  # and through the genotype source, which uses it
        rows = np.arange(src.variants.height)
        assert np.array_equal(src.read_dosages(rows), pgenlib_dosages(tmp_path / "p.pgen", rows))


def test_layouts_left_to_pgenlib(tmp_path: Path) -> None:
    """No index for a .bed or a hard-call .pgen (4-bit record types); records with multi-allelic hard
    calls are not supported."""
    n = 5
    bed = tmp_path / "b.bed"
    bed.write_bytes(b"\x6c\x1b\x01" + bytes(2 * ((n + 3) // 4)))
    assert read_index(bed) is None and open_dosages(bed) is None
    hard = tmp_path / "h.pgen"
    w = pgenlib.PgenWriter(bytes(str(hard), "utf-8"), n, 3, False)
    w.append_biallelic_batch(np.zeros((3, n), dtype=np.int8))
    w.close()
    assert read_index(hard) is None
    index = PgenIndex(n, np.array([0x60, 0x68, 0x20], dtype=np.uint8), np.array([0, 1, 2, 3]))
    d = PgenDosages(hard, index)
    assert d.supports(np.array([0, 2])) and not d.supports(np.array([0, 1]))


def test_malformed_record_is_an_input_error(tmp_path: Path) -> None:
    """A dosage bitarray claiming more dosages than its record holds: an InputError naming the file and
    the variant, not a read past the record."""
    path = write_pgenlib_file(tmp_path / "d.pgen", 300, seed=1)
    index = read_index(path)
    assert index is not None
    bad = int(np.flatnonzero((index.vrtypes & 0x60) == 0x60)[0])
    raw = bytearray(path.read_bytes())
    start, end = int(index.offsets[bad]), int(index.offsets[bad + 1])
    main = (300 + 3) // 4 if index.vrtypes[bad] & 7 == 0 else None
    assert main is not None  # a plain 2-bit main track: the bitarray follows it
    raw[start + main : start + main + (300 + 7) // 8] = b"\xff" * ((300 + 7) // 8)
    assert end - start - main - (300 + 7) // 8 < 2 * 300  # fewer stored dosages than set bits now
    path.write_bytes(bytes(raw))
    d = open_dosages(path)
    assert d is not None
    with pytest.raises(InputError, match=f"variant {bad + 1} of the file") as e:
        d.read(np.arange(len(index.vrtypes)), np.empty((len(index.vrtypes), 300), dtype=np.float32))
    assert e.value.file == str(path)
