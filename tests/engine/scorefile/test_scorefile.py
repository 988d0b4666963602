"""Scoring-file parsing: every shared file parses with its counts or fails clearly; synthetic edge cases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from prsgazer.engine.scorefile import read_scorefile
from prsgazer.errors import InputError

# file → (per-accession (rows, scorable, unscorable-by-reason), build, harmonised) or ("error", line, field)
EXPECTED: dict[str, tuple] = {
    "OPGS017309_hmPOS_GRCh38.txt.gz": ({"OPGS017309": (697, 697, {})}, "GRCh38", True),
    "OPGS019828.txt": ({"OPGS019828": (1, 1, {})}, "GRCh37", False),
    "PGS000001.txt.gz": ({"PGS000001": (77, 0, {"no_position": 77})}, None, False),
    "PGS000001_hmPOS_GRCh37.txt.gz": ({"PGS000001": (77, 77, {})}, "GRCh37", True),
    "PGS000001_hmPOS_GRCh38.txt.gz": ({"PGS000001": (77, 77, {})}, "GRCh38", True),
    "PGS000002.txt.gz": ({"PGS000002": (77, 0, {"no_position": 77})}, None, False),
    "PGS000002_hmPOS_GRCh37.txt.gz": ({"PGS000002": (77, 77, {})}, "GRCh37", True),
    "PGS000002_hmPOS_GRCh38.txt.gz": ({"PGS000002": (77, 77, {})}, "GRCh38", True),
    "PGS000802_hmPOS_GRCh37.txt": ({"PGS000802": (19, 19, {})}, "GRCh37", True),
    "PGS001229_22.txt": ({"PGS001229": (835, 835, {})}, "GRCh37", False),
    "PGS001229_22_duplicate.txt": ({"duplicatetest": (8, 8, {})}, "GRCh37", False),
    "PGS004255_hmPOS_GRCh38.txt.gz": ({"PGS004255": (30, 30, {})}, "GRCh38", True),
    "bad_harmonised.txt": ("error", 21, "hm_pos"),
    "complex_variants_PGS000021.txt": (
        {"complex_variants_PGS000021": (33, 0, {"no_position": 25, "diplotype": 5, "haplotype": 3})},
        None,
        False,
    ),
    "complex_variants_PGS004239.txt": (
        {"complex_variants_PGS004239": (14, 5, {"named_allele": 6, "haplotype": 3})},
        None,
        False,
    ),
    "custom.txt": ({"test": (1, 1, {})}, "GRCh37", False),
    "custom_no_oa.txt": ({"test2": (1, 1, {})}, "GRCh37", False),
    "customgrch37.txt": ({"custom": (2, 2, {})}, "GRCh37", False),
    "customgrch38.txt": ({"custom": (2, 2, {})}, "GRCh38", False),
    "duplicated_scorefile.txt": ({"test": (1, 1, {}), "test2": (2, 2, {}), "test3": (2, 2, {})}, None, False),
    "good_match_scorefile.txt": ({"PGS000002": (78, 78, {}), "PGS000001": (77, 77, {})}, None, False),
    "invalid_scorefile.txt": ("error", 16, "rsID"),
    "perfect_rs5746679.txt": ({"testpgs": (1, 1, {})}, "GRCh37", False),
    "scorefile_dominant_and_recessive.txt": (
        {"PGS001229_22_DominantRecessiveExample": (835, 835, {})},
        "GRCh37",
        False,
    ),
}


def test_every_shared_scorefile_is_listed(shared_data: Path) -> None:
    names = {p.name for p in (shared_data / "scorefiles").iterdir()}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_scorefile(shared_data: Path, name: str) -> None:
    path = shared_data / "scorefiles" / name
    expected = EXPECTED[name]
    if expected[0] == "error":
        _, line, field = expected
        with pytest.raises(InputError) as info:
            read_scorefile(path)
        assert info.value.file == str(path)
        assert info.value.line == line
        assert info.value.field == field
        return
    counts, build, harmonised = expected
    sf = read_scorefile(path)
    assert sf.build == build
    assert sf.harmonised is harmonised
    got = {c.accession: (c.n_rows, c.n_scorable, c.unscorable) for c in sf.counts()}
    assert got == counts


def test_harmonised_positions_preferred(shared_data: Path) -> None:
    sf = read_scorefile(shared_data / "scorefiles" / "PGS000802_hmPOS_GRCh37.txt")
    first = sf.variants.row(0, named=True)
    # author-reported 3:170974795 (GRCh36), harmonised 3:169492101 (GRCh37)
    assert (first["chr_name"], first["chr_position"]) == ("3", 169492101)
    assert (first["effect_allele"], first["other_allele"], first["effect_weight"]) == ("T", "C", 0.123)
    types = sf.variants.get_column("effect_type").value_counts().sort("effect_type").rows()
    assert types == [("additive", 5), ("dominant", 7), ("recessive", 7)]


def test_dosage_weights(shared_data: Path) -> None:
    sf = read_scorefile(shared_data / "scorefiles" / "PGS004255_hmPOS_GRCh38.txt.gz")
    row = sf.variants.row(0, named=True)
    assert row["effect_type"] == "genotypic"
    assert (row["chr_name"], row["chr_position"]) == ("6", 32609603)
    assert row["dosage_2_weight"] == pytest.approx(0.4437184)
    assert row["effect_weight"] is None


def test_custom_without_other_allele(shared_data: Path) -> None:
    sf = read_scorefile(shared_data / "scorefiles" / "custom_no_oa.txt")
    assert sf.variants.row(0, named=True)["other_allele"] is None
    assert sf.variants.row(0, named=True)["effect_weight"] == pytest.approx(-0.0276)


def _write(tmp_path: Path, text: str, name: str = "s.txt", gz: bool = False) -> Path:
    p = tmp_path / (name + (".gz" if gz else ""))
    if gz:
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


HEADER = "#pgs_id=PGS000123\n#genome_build=GRCh37\n"


def test_gzip_and_plain_agree(tmp_path: Path) -> None:
    body = (
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\nchr1\t100\ta\tg\t0.5\n23\t5\tC\tT\t1e-3\n"
    )
    a = read_scorefile(_write(tmp_path, HEADER + body))
    b = read_scorefile(_write(tmp_path, HEADER + body, name="s2.txt", gz=True))
    assert a.variants.equals(b.variants)
    assert a.variants.get_column("chr_name").to_list() == ["1", "X"]
    assert a.variants.get_column("effect_allele").to_list() == ["A", "C"]
    assert a.variants.get_column("line").to_list() == [4, 5]


def test_infer_other_allele_fills_and_multiple_is_unknown(tmp_path: Path) -> None:
    text = (
        "#pgs_id=PGS000124\n#genome_build=NR\n#HmPOS_build=GRCh38\n"
        "rsID\teffect_allele\teffect_weight\thm_chr\thm_pos\thm_inferOtherAllele\n"
        "rs1\tA\t0.1\t1\t100\tG\n"
        "rs2\tC\t0.2\t1\t200\tA/T\n"
        "rs3\tT\t0.3\t\t\t\n"
    )
    sf = read_scorefile(_write(tmp_path, text))
    assert sf.variants.get_column("other_allele").to_list() == ["G", None, None]
    assert sf.variants.get_column("unscorable").to_list() == [None, None, "no_harmonised_position"]
    assert sf.build == "GRCh38"


def test_cache_roundtrip(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + "chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t0.25\n")
    cache = tmp_path / "cache"
    first = read_scorefile(p, cache_dir=cache)
    cached = cache / "scorefiles" / f"{first.cid}.parquet"
    assert cached.exists()
    second = read_scorefile(p, cache_dir=cache)
    assert second.variants.equals(first.variants)
    assert second.header == first.header
    import pyarrow.parquet as pq

    assert pq.ParquetFile(cached).metadata.row_group(0).column(0).compression == "ZSTD"
    meta = pl.read_parquet_metadata(cached)
    assert meta["prsgazer.header"] == first.header.model_dump_json()
    # one-value and counting columns are kept in the metadata, not as columns
    assert json.loads(meta["prsgazer.derived"]) == {"accession": "PGS000123", "effect_type": "additive",
                                                    "row_nr": 0, "line": 4}  # fmt: skip
    assert "accession" not in pq.ParquetFile(cached).schema_arrow.names


def test_cache_keeps_varying_columns(tmp_path: Path) -> None:
    """Columns that are not one value (two scores, effect types, row numbers with gaps) are stored as such."""
    p = _write(
        tmp_path,
        HEADER + "chr_name\tchr_position\teffect_allele\teffect_weight\tis_dominant\n"
        "1\t5\tA\t0.25\tFalse\n1\t9\tC\t0.5\tTrue\n",
    )
    cache = tmp_path / "cache"
    first = read_scorefile(p, cache_dir=cache)
    meta = pl.read_parquet_metadata(cache / "scorefiles" / f"{first.cid}.parquet")
    assert "effect_type" not in json.loads(meta["prsgazer.derived"])
    second = read_scorefile(p, cache_dir=cache)
    assert second.variants.equals(first.variants)
    assert second.variants.get_column("effect_type").to_list() == ["additive", "dominant"]


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        (
            "chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tZ\t0.1\n",
            4,
            "effect_allele",
            "not a DNA",
        ),
        (
            "chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\tabc\n",
            4,
            "effect_weight",
            "not a number",
        ),
        (
            "chr_name\tchr_position\teffect_allele\teffect_weight\n1\tx5\tA\t0.1\n",
            4,
            "chr_position",
            "positive",
        ),
        ("chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t\n", 4, "effect_weight", "missing"),
        (
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t5\tA\tG\t0.1\n1\t6\tA\tQ\t0.1\n",
            5,
            "other_allele",
            "not a DNA",
        ),
        ("chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t0.1\textra\n", 4, None, "fields"),
        (
            "chr_name\tchr_position\teffect_allele\teffect_weight\tis_dominant\tis_recessive\n1\t5\tA\t0.1\tTrue\tTrue\n",
            4,
            "is_recessive",
            "both",
        ),
        ("chr_name\tchr_position\teffect_weight\n1\t5\t0.1\n", 3, "effect_allele", "missing"),
        ("chr_name\tchr_position\teffect_allele\n1\t5\tA\n", 3, "effect_weight", "no weight column"),
    ],
)
def test_bad_rows_name_line_and_field(tmp_path: Path, body: str, line: int, field: str | None, words: str) -> None:
    p = _write(tmp_path, HEADER + body)
    with pytest.raises(InputError) as info:
        read_scorefile(p)
    assert info.value.file == str(p)
    assert info.value.line == line
    assert info.value.field == field
    assert words in str(info.value)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty scoring file"):
        read_scorefile(_write(tmp_path, ""))
    with pytest.raises(InputError, match="empty scoring file"):
        read_scorefile(_write(tmp_path, HEADER, name="h.txt"))
    with pytest.raises(InputError, match="no variant rows") as info:
        read_scorefile(
            _write(tmp_path, HEADER + "chr_name\tchr_position\teffect_allele\teffect_weight\n", name="c.txt")
        )
    assert info.value.line == 3


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress((HEADER + "chr_name\tchr_position\teffect_allele\teffect_weight\n" * 50).encode())
    p = tmp_path / "t.txt.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt") as info:
        read_scorefile(p)
    assert info.value.file == str(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_scorefile(tmp_path / "nope.txt")


def test_normalised_multi_score_file_keeps_row_numbers(tmp_path: Path) -> None:
    text = (
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\teffect_type\taccession\trow_nr\n"
        "1\t5\tA\tG\t0.1\tadditive\tA1\t7\n1\t6\tC\tT\t0.2\trecessive\tA2\t0\n"
    )
    sf = read_scorefile(_write(tmp_path, text))
    assert sf.accessions == ["A1", "A2"]
    assert sf.variants.select("accession", "row_nr", "effect_type").rows() == [
        ("A1", 7, "additive"),
        ("A2", 0, "recessive"),
    ]
    assert isinstance(sf.variants, pl.DataFrame)


def test_batch_reader_uses_the_cache_and_keeps_order(shared_data: Path, tmp_path: Path) -> None:
    from prsgazer.engine.scorefile import read_scorefiles

    names = [
        "PGS001229_22.txt",
        "good_match_scorefile.txt",
        "custom_no_oa.txt",
        "PGS000001_hmPOS_GRCh38.txt.gz",
    ]
    paths = [shared_data / "scorefiles" / n for n in names]
    cache = tmp_path / "cache"
    files1, frame1 = read_scorefiles(paths, cache_dir=cache)
    assert len(list((cache / "scorefiles").glob("*.parquet"))) == 4
    files2, frame2 = read_scorefiles(paths, cache_dir=cache)
    assert frame1.equals(frame2)
    assert (
        [f.accessions for f in files1]
        == [f.accessions for f in files2]
        == [["PGS001229"], ["PGS000002", "PGS000001"], ["test2"], ["PGS000001"]]
    )
    for a, b in zip(files1, files2, strict=True):
        assert a.variants.equals(b.variants) and a.header == b.header and a.cid == b.cid
    assert frame1.height == 835 + 155 + 1 + 77


def test_fast_and_line_by_line_readers_agree(shared_data: Path) -> None:
    """The table reader (fast path) and the line splitter (ragged rows) give the same fields, line numbers too."""
    from prsgazer.engine.scorefile.parse import _read_bytes, _read_fields, _split_fields
    from prsgazer.engine.scorefile.parse import column_names as _columns

    checked = 0
    for path in sorted((shared_data / "scorefiles").iterdir()):
        data = _read_bytes(path)
        lines = data.split(b"\n")
        n_header = next(i for i, line in enumerate(lines) if not line.startswith(b"#"))
        columns = _columns(lines[n_header].decode(), path, n_header + 1)
        rows = b"\n".join(lines[n_header + 1 :])
        fast = _read_fields(rows, columns, first_line=n_header + 2)
        assert fast is not None, path.name
        slow = _split_fields(rows, columns, path, first_line=n_header + 2)
        assert fast.equals(slow), path.name
        assert fast.get_column("_line").to_list() == list(range(n_header + 2, n_header + 2 + fast.height)), path.name
        checked += 1
    assert checked == len(EXPECTED)


@pytest.mark.parametrize("ragged", [False, True])
def test_blank_lines_spaces_and_crlf_keep_line_numbers(tmp_path: Path, ragged: bool) -> None:
    trailing = "\t" if ragged else ""  # a trailing tab sends the file down the line-by-line path
    text = HEADER + (
        "chr_name\tchr_position\teffect_allele\teffect_weight\t_i\r\n"
        f"1\t 5 \ta\t0.25\tx{trailing}\r\n"
        "\r\n"
        "   \n"
        "\t\t\t\n"
        "chr2\t7\tC \t-1e-2\t\n"
    )
    sf = read_scorefile(_write(tmp_path, text))
    assert sf.variants.select("line", "chr_name", "chr_position", "effect_allele", "effect_weight").rows() == [
        (4, "1", 5, "A", 0.25),
        (8, "2", 7, "C", -0.01),
    ]
    assert "_i" not in sf.variants.columns


def test_rsid_spelled_twice_is_a_clear_error(tmp_path: Path) -> None:
    text = HEADER + "rsid\tchr_name\tchr_position\trsID\teffect_allele\teffect_weight\nrs1\t1\t5\trs1\tA\t0.1\n"
    with pytest.raises(InputError, match="appears twice") as info:
        read_scorefile(_write(tmp_path, text))
    assert (info.value.line, info.value.field) == (3, "rsID")


def test_errors_quote_the_field_as_written(tmp_path: Path) -> None:
    body = "chr_name\tchr_position\teffect_allele\teffect_weight\teffect_type\n1\t5\tA\t0.1\tP\n"
    with pytest.raises(InputError, match="unknown effect type 'P'") as info:
        read_scorefile(_write(tmp_path, HEADER + body))
    assert (info.value.line, info.value.field) == (4, "effect_type")
    body = "chr_name\tchr_position\teffect_allele\teffect_weight\tdosage_0_weight\tdosage_1_weight\tdosage_2_weight\n"
    body += "1\t5\tA\t\t0\t0.5\t1\n1\t6\tA\t\t0\t\t1\n"
    with pytest.raises(InputError, match="all of dosage 0, 1 and 2") as info:
        read_scorefile(_write(tmp_path, HEADER + body, name="d.txt"))
    assert (info.value.line, info.value.field) == (5, "dosage_1_weight")


@pytest.mark.parametrize("value", ["1.5", "-1", "1e30"])
def test_row_nr_must_be_a_whole_number(tmp_path: Path, value: str) -> None:
    body = "chr_name\tchr_position\teffect_allele\teffect_weight\taccession\trow_nr\n1\t5\tA\t0.1\tS1\t0\n"
    body += f"1\t6\tC\t0.2\tS1\t{value}\n"
    with pytest.raises(InputError, match="is not a whole number") as info:
        read_scorefile(_write(tmp_path, HEADER + body))
    assert (info.value.line, info.value.field) == (5, "row_nr")
    assert value in str(info.value)


def test_background_cache_writes_are_complete_after_flush(shared_data: Path, tmp_path: Path) -> None:
    from prsgazer.engine.scorefile import CacheWriter, read_scorefiles

    names = ["PGS001229_22.txt", "good_match_scorefile.txt", "custom_no_oa.txt", "PGS000001_hmPOS_GRCh38.txt.gz"]
    paths = [shared_data / "scorefiles" / n for n in names]
    cache = tmp_path / "cache"
    with CacheWriter() as writer:
        files, frame = read_scorefiles(paths, cache_dir=cache, writer=writer)
    # leaving the block waited for the writes
    assert len(list((cache / "scorefiles").glob("*.parquet"))) == 4
    assert not list((cache / "scorefiles").glob(".tmp-*"))
    again, frame2 = read_scorefiles(paths, cache_dir=cache)
    assert frame2.equals(frame)
    assert [f.accessions for f in again] == [f.accessions for f in files]


def test_parallel_reading_keeps_order_and_reports_the_first_bad_file(shared_data: Path, tmp_path: Path) -> None:
    """Files parsed two at a time give the same files and frame as one at a time; a bad file among them
    raises its own error."""
    from prsgazer.engine.scorefile import read_scorefiles

    names = ["PGS001229_22.txt", "good_match_scorefile.txt", "custom_no_oa.txt", "PGS000001_hmPOS_GRCh38.txt.gz"]
    paths = [shared_data / "scorefiles" / n for n in names]
    files1, frame1 = read_scorefiles(paths)
    files2, frame2 = read_scorefiles(paths, workers=2, cache_dir=tmp_path / "c")
    assert frame1.equals(frame2)
    assert [f.accessions for f in files1] == [f.accessions for f in files2]
    bad = shared_data / "scorefiles" / "invalid_scorefile.txt"
    with pytest.raises(InputError) as exc:
        read_scorefiles([paths[0], bad, paths[2]], workers=2, cache_dir=tmp_path / "d")
    assert exc.value.file is not None and Path(exc.value.file).name == "invalid_scorefile.txt"
