"""The compiled scoring-file reader (engine._scorefile_fast) against the polars path it stands in front of.

Every shared file and a few hundred seeded mutations of them must parse to the same frame (values,
types, nulls, float bits) or fail with the same InputError with the reader on and off; the reader
must actually take most files of its layout, so the comparison is not vacuous.
"""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.scorefile import fast as F
from prsgazer.engine.scorefile import kernel as K
from prsgazer.engine.scorefile import read as S
from prsgazer.errors import InputError


def _run(p: Path, fast: bool) -> tuple:
    try:
        sf = S.parse_file(p, "cid", use_compiled=fast)
        return ("ok", sf.variants, sf.harmonised, sf.header)
    except InputError as exc:
        return ("error", str(exc), exc.line, exc.field)
    except Exception as exc:  # noqa: BLE001 - a crash of the polars path must be the same crash with the reader on
        return ("crash", type(exc).__name__, str(exc))


def _note(p: Path) -> str:
    """What the compiled reader alone does with `p`: "accepted", "layout: …" or "bail: …"."""
    try:
        return F.parse_file(p, "cid")[1]
    except InputError:
        return "error"


def _float_bits(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    return {
        c: frame.get_column(c).fill_null(0.0).to_numpy().view(np.uint64)
        for c, t in frame.schema.items()
        if t == pl.Float64
    }


def _assert_same(p: Path) -> str:
    """Parse `p` with and without the compiled reader; the results must be identical. Returns what the reader did."""
    fast = _run(p, True)
    note = _note(p)
    slow = _run(p, False)
    assert fast[0] == slow[0], (p.name, note, fast[:2], slow[:2])
    if fast[0] != "ok":
        assert fast[1:] == slow[1:], (p.name, note)
        return note
    assert fast[1].schema == slow[1].schema == pl.Schema(S.SCHEMA), p.name
    assert fast[1].equals(slow[1]), (p.name, note, _first_difference(fast[1], slow[1]))
    bits_fast, bits_slow = _float_bits(fast[1]), _float_bits(slow[1])
    assert all(np.array_equal(bits_fast[c], bits_slow[c]) for c in bits_fast), p.name  # -0.0 too
    assert fast[2:] == slow[2:], p.name
    return note


def _first_difference(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} {b.shape}"
    for c in a.columns:
        if not a[c].equals(b[c]):
            i = int((a[c].ne_missing(b[c])).arg_true()[0])
            return f"{c}[{i}]: {a[c][i]!r} != {b[c][i]!r}"
    return "?"


def _texts(shared_data: Path) -> list[tuple[str, str]]:
    out = []
    for f in sorted((shared_data / "scorefiles").iterdir()):
        raw = f.read_bytes()
        out.append((f.name.removesuffix(".gz"), (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()))
    return out


def test_shared_files_agree_and_most_are_read_by_the_compiled_reader(shared_data: Path) -> None:
    notes = {f.name: _assert_same(f) for f in sorted((shared_data / "scorefiles").iterdir())}
    supported = {name: note for name, note in notes.items() if not note.startswith("layout")}
    accepted = [name for name, note in supported.items() if note == "accepted"]
    # the two that bail are the error files (bad_harmonised, invalid_scorefile)
    assert len(accepted) >= 0.8 * len(supported) and len(accepted) >= 10, notes
    assert {name.removesuffix(".gz") for name in accepted} == READ_BY_THE_COMPILED_READER


READ_BY_THE_COMPILED_READER = {  # (unmutated; the uncompressed names)
    "OPGS017309_hmPOS_GRCh38.txt", "OPGS019828.txt", "PGS000001.txt", "PGS000001_hmPOS_GRCh37.txt",
    "PGS000001_hmPOS_GRCh38.txt", "PGS000002.txt", "PGS000002_hmPOS_GRCh37.txt", "PGS000002_hmPOS_GRCh38.txt",
    "custom.txt", "custom_no_oa.txt", "customgrch37.txt", "customgrch38.txt",
}  # fmt: skip

TOKENS = [
    "", "NA", "na", ".", "None", "NULL", "nan", "x", "a", "g", "AT", "acgt", "N", "P", "A/G", "a/g", "x/y",
    "HLA-A*01", "1e-3", "1E-5", "-0", "-0.0", "+1.5", ".5", "5.", "1.234567890123456789", "0.16220387987485377",
    "1e400", "1e-400", "inf", "-inf", "0x10", "1,5", "0", "-1", "+7", "007", "99999999999999999999", "chr1",
    "CHR23", "23", "24", "25", "26", "27", "0", "M", "MT", "chrM", "chrX", "xy", "6_cox_hap2", " A", "A ",
    "rs1", "rs 1", "\t", "\r", "1\t2", "é", "True", "additive",
]  # fmt: skip


BENIGN = {  # edits the compiled reader should take (values it must read exactly as polars does)
    "effect_weight": ["-0", "-0.0", "1e-3", "1E-5", "+1.5", ".5", "5.", "0.16220387987485377", "007", "1e-400"],
    "allelefrequency_effect": ["", "NA", ".", "0.5", "1e-3", "-0"],
    "effect_allele": ["a", "g", "AT", "acgt", "ACGTACGTACGTACGT"],
    "other_allele": ["", "NA", ".", "a", "AT", "A/G", "x/y", "acgtacgtacgtacgt"],
    "hm_inferOtherAllele": ["", "C", "A/G", "t"],
    "chr_name": ["chr1", "CHR23", "24", "25", "26", "M", "chrM", "MT", "chrX", "xy", "", "NA"],
    "hm_chr": ["chr1", "CHR23", "M", "chrX", "xy", "", "NA", "."],
    "chr_position": ["+7", "007", "1", "NA", ".", ""],
    "hm_pos": ["+7", "007", "1", "NA", ".", ""],
    "rsID": ["rs1", ".", "NA", "", "rs99999999999999", "1:2:A:C"],
    "hm_rsID": ["rs2", ".", "", "none"],
}


def _mutate(rng: random.Random, text: str) -> tuple[str, bool]:
    """A few random edits of a scoring file's text; True: write it gzip-compressed."""
    lines = text.split("\n")
    hdr = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    if rng.random() < 0.5:  # values only, mostly ones the compiled reader takes
        names = lines[hdr].split("\t")
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(hdr + 1, len(lines)) if len(lines) > hdr + 1 else hdr
            f = lines[i].split("\t")
            if i == hdr or len(f) < len(names):
                continue
            j = rng.randrange(len(names))
            f[j] = rng.choice(BENIGN.get(names[j], ["", "x y", "NA", "é"]))
            lines[i] = "\t".join(f)
        return "\n".join(lines), rng.random() < 0.3
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        i = rng.randrange(hdr + 1, len(lines)) if len(lines) > hdr + 1 else hdr
        if op < 0.55 and i > hdr:
            f = lines[i].split("\t")
            j = rng.randrange(len(f))
            f[j] = rng.choice(TOKENS)
            lines[i] = "\t".join(f)
        elif op < 0.62:
            lines.insert(i + 1, rng.choice(["", "   ", "\t\t", "\r"]))
        elif op < 0.7 and i > hdr:
            lines[i] += rng.choice(["\t", "\t\t", "\tx", "\r", " "])
        elif op < 0.78 and i > hdr:
            f = lines[i].split("\t")
            lines[i] = "\t".join(f[: rng.randrange(len(f))])
        elif op < 0.84:
            lines = [line + "\r" for line in lines]
        elif op < 0.9:
            f = lines[hdr].split("\t")
            j = rng.randrange(len(f))
            f[j] = rng.choice(["is_dominant", "effect_type", "row_nr", "accession", "variant_type", "is_haplotype",
                               "allelefrequency_effect", "hm_inferOtherAllele", "rsid", "dosage_0_weight", "_x",
                               "hm_match_chr", "locus_name", f[j]])  # fmt: skip
            if len(set(f)) == len(f):
                lines[hdr] = "\t".join(f)
        elif op < 0.95:
            lines = [line for k, line in enumerate(lines) if k <= hdr or k != i]  # drop a row
        else:
            lines = lines[:-1] if lines[-1] == "" else [*lines, ""]  # with / without the last newline
    return "\n".join(lines), rng.random() < 0.3


@pytest.mark.parametrize("seed", range(4))
def test_mutated_files_agree(shared_data: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    texts = _texts(shared_data)
    layout = [t for t in texts if t[0] in READ_BY_THE_COMPILED_READER]
    notes = []
    for k in range(75):
        name, text = rng.choice(layout if rng.random() < 0.7 else texts)
        mutated, gz = _mutate(rng, text)
        p = tmp_path / f"{k}_{name}{'.gz' if gz else ''}"
        p.write_bytes(gzip.compress(mutated.encode()) if gz else mutated.encode())
        notes.append(_assert_same(p))
    assert sum(n == "accepted" for n in notes) >= 20, notes  # the reader took a fair share: not vacuous


def test_piece_boundaries_threads_and_growth(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiny decompression pieces (lines cut everywhere), the prefetch thread, a row guess far too small."""
    monkeypatch.setattr(F, "_PIECE", 7)
    monkeypatch.setattr(F, "_THREADED", 0)
    monkeypatch.setattr(F, "_ROWS_GUESS", 0.001)
    for name, text in _texts(shared_data):
        for k, body in enumerate((text, text.replace("\n", "\r\n"), text.rstrip("\n"))):
            p = tmp_path / f"{k}_{name}.gz"
            p.write_bytes(gzip.compress(body.encode()))
            _assert_same(p)
    # several gzip members, as bgzip writes them
    name, text = next(t for t in _texts(shared_data) if t[0] == "OPGS017309_hmPOS_GRCh38.txt")
    cut = len(text) // 3
    p = tmp_path / "members.txt.gz"
    p.write_bytes(gzip.compress(text[:cut].encode()) + gzip.compress(text[cut:].encode()))
    assert _assert_same(p) == "accepted"


def test_gzip_damage_is_the_polars_paths_error(shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / "scorefiles" / "OPGS017309_hmPOS_GRCh38.txt.gz").read_bytes()
    for k, damaged in enumerate((raw[: len(raw) // 2], raw[:-3], raw + b"junk", raw[:100] + b"\0" * 50 + raw[150:])):
        p = tmp_path / f"{k}.txt.gz"
        p.write_bytes(damaged)
        _assert_same(p)


@pytest.mark.parametrize("guess", [F._ROWS_GUESS, 0.0001])
def test_large_file_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guess: float) -> None:
    """A file bigger than the prefetch threshold, with long rsIDs, long alleles and 17-digit weights;
    with a row guess far too small, the output arrays grow several times while hard floats are pending."""
    monkeypatch.setattr(F, "_ROWS_GUESS", guess)
    rng = np.random.default_rng(1)
    n = 60_000
    chrom = rng.choice(["1", "chr2", "X", "23", "MT", "NA"], n)
    ids = [
        f"{c}:{p}:{'ACGT' * (k % 5)}" if k % 7 else "."
        for k, (c, p) in enumerate(zip(chrom, rng.integers(1, 10**9, n), strict=True))
    ]
    weights = [repr(float(w)) if k % 3 else f"{w:.6g}" for k, w in enumerate(rng.normal(0, 0.1, n))]
    alleles = rng.choice(["A", "c", "GT", "ACGTACGTACGTACGT", "T"], n)
    rows = "".join(
        f"{i}\t{c}\t{k + 1}\t{a}\t{'A/G' if k % 11 == 0 else 'T'}\t{w}\tENSEMBL\t{i}\t{c}\t{k + 1}\t\n"
        for k, (i, c, a, w) in enumerate(zip(ids, chrom, alleles, weights, strict=True))
    )
    head = "#pgs_id=PGS999999\n#HmPOS_build=GRCh38\n#genome_build=GRCh37\n"
    cols = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_source\thm_rsID\thm_chr\thm_pos\thm_inferOtherAllele\n"  # noqa: E501
    p = tmp_path / "large.txt.gz"
    p.write_bytes(gzip.compress((head + cols + rows).encode(), compresslevel=1))
    assert p.stat().st_size >= F._THREADED
    assert _assert_same(p) == "accepted"


def _kernel_floats(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Weights read by the kernel from rows "rs1<TAB>A<TAB><text>": values, and which went to polars ("hard")."""
    body = "".join(f"rs1\tA\t{t}\n" for t in texts).encode()
    roles = np.array([K.RSID, K.EFFECT_ALLELE, K.WEIGHT], np.int8)
    n = len(texts)
    reader = F._Reader(roles, False, n, len(body))
    status = reader.feed(body + F._PAD, len(body))
    assert status == K.OK, K.REASONS.get(status)
    hard = np.zeros(n, bool)
    for where, _, _ in reader.hard:
        hard[where[:, 0]] = True
    return reader.num[K.NUM_WEIGHT, :n], hard


def _random_decimal(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 19)))
    if rng.random() < 0.7:
        cut = rng.randint(0, len(digits))
        digits = digits[:cut] + "." + digits[cut:]
        if digits == ".":
            digits = "0."
    sign = rng.choice(["", "", "-", "+"])
    exp = ""
    if rng.random() < 0.4:
        exp = rng.choice("eE") + rng.choice(["", "-", "+"]) + str(rng.randint(0, 30)).zfill(rng.randint(1, 2))
    return sign + digits + exp


def test_floats_are_bit_identical_to_polars() -> None:
    rng = random.Random(7)
    texts = [_random_decimal(rng) for _ in range(20_000)]
    texts += ["-0", "-0.0", "0", "+0", "0e5", "1E-5", "1.045457e-02", ".5", "5.", "-0.0123", "9007199254740993",
              "9007199254740992", "123456789012345678", "1e22", "1e23", "1e-22", "1e-23", "2.5e-308"]  # fmt: skip
    values, hard = _kernel_floats(texts)
    expected = pl.Series(texts).cast(pl.Float64, strict=False).to_numpy()
    exact = ~hard
    assert np.array_equal(values[exact].view(np.uint64), expected[exact].view(np.uint64))
    assert exact.mean() > 0.6  # most went through the exact path, not polars
    assert np.signbit(values[texts.index("-0")]) and values[texts.index("-0")] == 0


def test_kernel_bails_on_what_it_does_not_read() -> None:
    for text in ["inf", "nan", "1e", "e5", "-", "0x10", "1,5", "1_0", "--1", "1e5.5", ".e1"]:
        body = f"rs1\tA\t{text}\n".encode()
        reader = F._Reader(np.array([K.RSID, K.EFFECT_ALLELE, K.WEIGHT], np.int8), False, 4, len(body))
        assert reader.feed(body + F._PAD, len(body)) != K.OK, text


def test_values_the_compiled_reader_normalises(tmp_path: Path) -> None:
    """Chromosome aliases, case, missing spellings, inferred and ambiguous other alleles, exotic numbers."""
    cols = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tallelefrequency_effect\t_note"
    rows = [
        "rs1\tchr23\t+7\tacgt\tx/y\t-0\tNA\tfree text, with spaces",
        ".\tCHRM\t007\tA\t.\t1e-400\t1e-3\t",
        "rs3;x\txy\t5\tg\tNA\t0.16220387987485377\t\t",
        "rs4\t26\t6\tT\ta\t.5\t5.\tx",
        "rs5\t.\t.\tC\tG\t1E-5\t0",
        "RS6\tchrX\t9\tC\t/\t+1.5\t-0.0\tlast, no newline",
    ]
    p = tmp_path / "custom.txt"
    p.write_text("#pgs_id=PGS000123\n#genome_build=GRCh37\n" + cols + "\n" + "\r\n".join(rows))
    assert _assert_same(p) == "accepted"
    v = S.parse_file(p, "cid", use_compiled=True).variants
    assert v["chr_name"].to_list() == ["X", "MT", "XY", "MT", None, "X"]
    assert v["chr_position"].to_list() == [7, 7, 5, 6, None, 9]
    assert v["effect_allele"].to_list() == ["ACGT", "A", "G", "T", "C", "C"]
    assert v["other_allele"].to_list() == [None, None, None, "A", "G", None]
    assert v["rsID"].to_list() == ["rs1", None, "rs3;x", "rs4", "rs5", "RS6"]
    assert v["unscorable"].to_list() == [None, None, None, None, "no_position", None]
    assert v["line"].to_list() == [4, 5, 6, 7, 8, 9]
    # harmonised: hm_chr/hm_pos, hm_rsID when rsID is missing, hm_inferOtherAllele when other_allele is
    cols = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_rsID\thm_chr\thm_pos\thm_inferOtherAllele"  # noqa: E501
    rows = [
        ".\t1\t100\tA\t.\t0.5\trs10\t2\t200\tG",
        "rs11\tjunk\tjunk\tA\tC\t0.5\trs99\tchr3\t300\tA/T",
        "rs12\t1\t100\tA\t\t0.5\t\t\t\tA/T",
    ]
    p = tmp_path / "hm.txt"
    p.write_text("#pgs_id=PGS000124\n#HmPOS_build=GRCh38\n" + cols + "\n" + "\n".join(rows) + "\n")
    assert _assert_same(p) == "accepted"
    v = S.parse_file(p, "cid", use_compiled=True).variants
    assert v["rsID"].to_list() == ["rs10", "rs11", "rs12"]
    assert v["chr_name"].to_list() == ["2", "3", None]
    assert v["other_allele"].to_list() == ["G", "C", None]
    assert v["unscorable"].to_list() == [None, None, "no_harmonised_position"]


def test_auto_loads_the_compiled_reader_only_when_it_pays(shared_data: Path) -> None:
    gz = shared_data / "scorefiles" / "OPGS017309_hmPOS_GRCh38.txt.gz"  # 19 kB; its last gzip member 54 kB of text
    assert S.ReaderOptions(compiled_min_bytes=54_000).wants_compiled([gz])  # the text size from the gzip trailer
    assert not S.ReaderOptions(compiled_min_bytes=60_000).wants_compiled([gz])
    assert S.ReaderOptions(compiled_min_bytes=60_000).wants_compiled([gz, gz])  # a run's files together
    assert S.ReaderOptions(mode="compiled", compiled_min_bytes=10**12).wants_compiled([gz])
    assert not S.ReaderOptions(mode="polars", compiled_min_bytes=0).wants_compiled([gz])
    # a fresh process leaves a small file to the polars parser and never imports numba
    code = (
        "import sys; from pathlib import Path; from prsgazer.engine.scorefile import read_scorefile;"
        f"sf = read_scorefile(Path({str(gz)!r})); print(sf.reader, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "polars (not chosen) False"


def test_the_reader_is_chosen_by_its_options_only(shared_data: Path) -> None:
    """No process state decides the reader: the same options give the same reader whatever ran before."""
    path = shared_data / "scorefiles" / "PGS000001_hmPOS_GRCh38.txt.gz"
    assert S.read_scorefile(path, reader=S.ReaderOptions(mode="compiled")).reader == "compiled"
    assert S.read_scorefile(path, reader=S.ReaderOptions(mode="polars")).reader == "polars (not chosen)"
    assert S.read_scorefile(path).reader == "polars (not chosen)"  # auto: 5 kB of text is not worth numba
    with pytest.raises(ValueError, match="mode"):
        S.ReaderOptions(mode="fastest")  # type: ignore[arg-type]
