"""Matching by pgsc_calc's rules: match types, priorities, exclusions, duplicates, overlap."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prsgazer.engine.genotypes import open_genotypes, read_pvar, split_multiallelic
from prsgazer.engine.scorefile import SCHEMA, read_scorefile
from prsgazer.engine.scoring.match import EFFECT_IS_ALT, MatchOptions, TargetIndex, match_variants


def target(rows: list[tuple[str, int, str, str]]) -> pl.DataFrame:
    sites = pl.DataFrame(
        {
            "chrom": [r[0] for r in rows],
            "pos": [r[1] for r in rows],
            "id": [f"t{i}" for i in range(len(rows))],
            "ref": [r[2] for r in rows],
            "alt": [r[3] for r in rows],
        }
    )
    return split_multiallelic(sites)


def scores(rows: list[tuple[str, str, int, str, str | None]]) -> pl.DataFrame:
    """(accession, chrom, pos, effect, other) rows with weight 1."""
    n = len(rows)
    data = {
        "accession": [r[0] for r in rows],
        "row_nr": list(range(n)),
        "line": list(range(2, n + 2)),
        "rsID": [None] * n,
        "chr_name": [r[1] for r in rows],
        "chr_position": [r[2] for r in rows],
        "effect_allele": [r[3] for r in rows],
        "other_allele": [r[4] for r in rows],
        "effect_weight": [1.0] * n,
        "effect_type": ["additive"] * n,
        "dosage_0_weight": [None] * n,
        "dosage_1_weight": [None] * n,
        "dosage_2_weight": [None] * n,
        "allelefrequency_effect": [None] * n,
        "unscorable": [None] * n,
    }
    return pl.DataFrame(data, schema=SCHEMA)


def test_cineca_counts(shared_data: Path) -> None:
    src = open_genotypes(shared_data / "genomes" / "cineca" / "cineca_synthetic_subset")
    sf = read_scorefile(shared_data / "scorefiles" / "PGS001229_22.txt")
    res = match_variants(sf.variants, src.variants)
    s = res.summary("PGS001229")
    assert (s.n_variants, s.n_matched, s.n_excluded, s.n_unmatched) == (835, 782, 47, 6)
    assert s.by_match_type == {"altref": 566, "refalt": 216}
    assert s.excluded_by == {"is_ambiguous": 47}
    assert s.unmatched_by == {"no_candidate": 6}
    assert s.overlap == pytest.approx(782 / 835)
    assert s.passed
    # matched variants agree with the plink2 scorefile pgsc_calc produced (ID chr:pos:REF:ALT, effect allele)
    expected = pl.read_csv(
        shared_data / "expected" / "cineca_PGS001229_22_matched_plink2.scorefile.gz", separator="\t"
    ).filter(pl.col("PGS001229") != 0)
    got = res.matched.select(
        pl.concat_str(["chr_name", "chr_position", "REF", "ALT"], separator=":").alias("ID"),
        pl.col("matched_effect_allele").alias("effect_allele"),
        pl.col("effect_weight"),
    )
    joined = expected.join(got, on="ID", how="full", coalesce=True)
    assert joined.height == 782
    assert (joined["effect_allele"] == joined["effect_allele_right"]).all()
    assert (joined["PGS001229"] == joined["effect_weight"]).all()


def test_match_types_by_priority() -> None:
    t = target([("1", 10, "A", "G")])
    rows = [
        ("refalt", "1", 10, "A", "G"),
        ("altref", "1", 10, "G", "A"),
        ("refalt_flip", "1", 10, "T", "C"),
        ("altref_flip", "1", 10, "C", "T"),
        ("no_oa_ref", "1", 10, "A", None),
        ("no_oa_alt", "1", 10, "G", None),
        ("no_oa_ref_flip", "1", 10, "T", None),
        ("no_oa_alt_flip", "1", 10, "C", None),
        ("none", "1", 10, "C", "A"),
        ("elsewhere", "1", 11, "A", "G"),
    ]
    res = match_variants(scores(rows), t, MatchOptions(min_overlap=0))
    got = dict(res.matched.select("accession", "match_type").rows())
    assert got == {r[0]: r[0] for r in rows[:8]}
    alt = dict(res.matched.select("accession", "effect_is_alt").rows())
    assert alt == {name: name in EFFECT_IS_ALT for name in got}
    assert EFFECT_IS_ALT == {"altref", "altref_flip", "no_oa_alt", "no_oa_alt_flip"}
    eff = dict(res.matched.select("accession", "matched_effect_allele").rows())
    assert eff["refalt_flip"] == "A" and eff["altref_flip"] == "G"
    assert res.summary("none").unmatched_by == {"no_candidate": 1}
    assert not res.summary("none").passed and res.summary("none").reason == "no variant matched"
    # flips excluded on request
    res2 = match_variants(scores(rows), t, MatchOptions(min_overlap=0, ignore_strand_flips=True))
    flipped = {a for a in got if "flip" in a}
    assert {s.accession for s in res2.summaries if s.excluded_by == {"match_flipped": 1}} == flipped


def test_ambiguous_candidates_and_keep_flag() -> None:
    t = target([("1", 10, "A", "T")])
    s = scores([("P", "1", 10, "A", "T")])
    res = match_variants(s, t)
    log = res.log.select("match_type", "best_match", "match_status", "label").rows()
    assert sorted(log) == [
        ("altref_flip", False, "not_best", "altref_flip"),
        ("refalt", True, "excluded", "is_ambiguous"),
    ]
    assert res.summary("P").excluded_by == {"is_ambiguous": 1}
    kept = match_variants(s, t, MatchOptions(keep_ambiguous=True))
    assert kept.matched.select("match_type").item() == "refalt"


def test_multiallelic_site() -> None:
    t = target([("1", 10, "C", "T,A")])
    s = scores([("P", "1", 10, "C", None), ("Q", "1", 10, "A", "C")])
    res = match_variants(s, t, MatchOptions(min_overlap=0))
    assert res.summary("P").excluded_by == {"is_multiallelic": 1}
    assert res.summary("Q").excluded_by == {"is_multiallelic": 1}
    keep = match_variants(s, t, MatchOptions(min_overlap=0, keep_multiallelic=True))
    m = dict(keep.matched.select("accession", "ALT").rows())
    assert m == {"P": "T", "Q": "A"}  # P: two equal best candidates, the first is kept
    p_log = keep.log.filter(pl.col("accession") == "P")
    assert p_log.get_column("duplicate_best_match").to_list() == [True, True]
    assert sorted(p_log.get_column("match_status").to_list()) == ["matched", "not_best"]


def test_duplicate_rows_of_one_score() -> None:
    t = target([("1", 10, "T", "C"), ("1", 20, "A", "G")])
    s = scores([("P", "1", 10, "C", "T"), ("P", "1", 10, "T", "C"), ("P", "1", 20, "A", "G")])
    res = match_variants(s, t, MatchOptions(min_overlap=0))
    assert res.summary("P").excluded_by == {"duplicate_ID": 2}
    assert res.summary("P").n_matched == 1
    first = match_variants(s, t, MatchOptions(min_overlap=0, keep_first_match=True))
    assert first.summary("P").n_matched == 2
    assert sorted(first.matched.get_column("row_nr").to_list()) == [0, 2]


def test_scores_sharing_variants_with_different_effect_alleles() -> None:
    t = target([("1", 10, "T", "C")])
    s = scores([("P", "1", 10, "T", "C"), ("Q", "1", 10, "C", "T")])
    res = match_variants(s, t)
    assert dict(res.matched.select("accession", "effect_is_alt").rows()) == {"P": False, "Q": True}


def test_overlap_threshold_fails_one_score_only() -> None:
    t = target([("1", p, "A", "G") for p in (10, 20, 30)])
    s = scores(
        [
            ("GOOD", "1", 10, "A", "G"),
            ("GOOD", "1", 20, "A", "G"),
            ("GOOD", "1", 30, "G", "A"),
            ("GOOD", "1", 40, "A", "G"),
            ("BAD", "1", 10, "A", "G"),
            ("BAD", "1", 50, "A", "G"),
            ("BAD", "1", 60, "A", "G"),
        ]
    )
    res = match_variants(s, t)
    assert res.summary("GOOD").passed and res.summary("GOOD").overlap == 0.75
    bad = res.summary("BAD")
    assert not bad.passed and "below the minimum 0.75" in (bad.reason or "")
    assert res.passed == ["GOOD"]
    assert set(res.matched.filter(pl.col("score_passed")).get_column("accession")) == {"GOOD"}


def test_unscorable_rows_count_as_unmatched(shared_data: Path) -> None:
    sf = read_scorefile(shared_data / "scorefiles" / "complex_variants_PGS004239.txt")
    t = target([("1", 114377568, "G", "A"), ("6", 90986686, "A", "G")])
    res = match_variants(sf.variants, t, MatchOptions(min_overlap=0))
    s = res.summary("complex_variants_PGS004239")
    assert s.n_variants == 14 and s.n_matched == 2
    assert s.unmatched_by == {"named_allele": 6, "no_candidate": 3, "haplotype": 3}


@pytest.mark.parametrize(
    ("pvar", "scorefile", "expected"),
    [
        (
            "good_match",
            "good_match_scorefile.txt",
            {
                "PGS000001": (70, {"is_ambiguous": 7}),
                "PGS000002": (69, {"is_ambiguous": 7, "duplicate_ID": 2}),
            },
        ),
        (
            "good_match",
            "duplicated_scorefile.txt",
            {"test": (1, {}), "test2": (2, {}), "test3": (1, {"is_ambiguous": 1})},
        ),
        (
            "multiallelic",
            "good_match_scorefile.txt",
            {
                "PGS000001": (68, {"is_ambiguous": 7, "is_multiallelic": 2}),
                "PGS000002": (68, {"is_ambiguous": 7, "duplicate_ID": 2, "is_multiallelic": 1}),
            },
        ),
    ],
)
def test_pgsc_calc_match_fixtures(shared_data: Path, pvar: str, scorefile: str, expected: dict) -> None:
    sites, _ = read_pvar(shared_data / "targets" / f"{pvar}.pvar")
    sf = read_scorefile(shared_data / "scorefiles" / scorefile)
    res = match_variants(sf.variants, split_multiallelic(sites), MatchOptions(min_overlap=0.5))
    got = {s.accession: (s.n_matched, s.excluded_by) for s in res.summaries}
    assert got == expected
    # one log row per candidate or unmatched scoring row, covering every scoring row
    per_row = res.log.select("accession", "row_nr").unique()
    assert per_row.height == sf.variants.height


def test_duplicated_fixture_effect_alleles(shared_data: Path) -> None:
    """pgsc_calc splits test/test2 into two plink files because their effect alleles differ at 11:69331418."""
    sites, _ = read_pvar(shared_data / "targets" / "good_match.pvar")
    sf = read_scorefile(shared_data / "scorefiles" / "duplicated_scorefile.txt")
    res = match_variants(sf.variants, split_multiallelic(sites), MatchOptions(min_overlap=0.5))
    at = res.matched.filter(pl.col("chr_position") == 69331418).sort("accession")
    assert at.select("accession", "matched_effect_allele", "effect_is_alt").rows() == [
        ("test", "C", True),
        ("test2", "T", False),
    ]


def test_duplicate_rows_of_one_score_interleaved_with_another() -> None:
    """A score's rows need not be contiguous (normalised multi-score files): duplicates still found."""
    t = target([("1", 10, "T", "C"), ("1", 20, "A", "G")])
    s = scores(
        [
            ("P", "1", 10, "C", "T"),
            ("Q", "1", 20, "A", "G"),
            ("P", "1", 10, "T", "C"),
            ("Q", "1", 10, "T", "C"),
        ]
    )
    res = match_variants(s, t, MatchOptions(min_overlap=0))
    assert res.summary("P").excluded_by == {"duplicate_ID": 2}
    assert res.summary("Q").n_matched == 2


def test_longer_and_other_alleles_and_a_shared_target_index() -> None:
    """Indels (longer alleles, their strand flips), symbolic and N alleles, alleles and chromosomes the
    target lacks; one TargetIndex serves several calls with the same result, and only its own table."""
    t = target([("1", 10, "AG", "A"), ("1", 20, "C", "CTTT"), ("2", 5, "A", "<DEL>"), ("X", 7, "N", "A")])
    rows = [
        ("indel_refalt", "1", 10, "AG", "A"),
        ("indel_altref", "1", 10, "A", "AG"),
        ("indel_refalt_flip", "1", 10, "TC", "T"),
        ("ins_altref_flip", "1", 20, "GAAA", "G"),
        ("symbolic_altref", "2", 5, "<DEL>", "A"),
        ("n_no_oa_ref", "X", 7, "N", None),
        ("allele_not_in_target", "1", 10, "AGGG", "A"),
        ("chromosome_not_in_target", "7", 10, "AG", "A"),
    ]
    expected = {
        "indel_refalt": "refalt",
        "indel_altref": "altref",
        "indel_refalt_flip": "refalt_flip",
        "ins_altref_flip": "altref_flip",
        "symbolic_altref": "altref",
        "n_no_oa_ref": "no_oa_ref",
    }
    index = TargetIndex(t)
    first = match_variants(scores(rows), t, MatchOptions(min_overlap=0), index=index)
    assert dict(first.matched.select("accession", "match_type").rows()) == expected
    for name in ("allele_not_in_target", "chromosome_not_in_target"):
        assert first.summary(name).unmatched_by == {"no_candidate": 1}
    again = match_variants(scores(rows), t, MatchOptions(min_overlap=0), index=index)
    fresh = match_variants(scores(rows), t, MatchOptions(min_overlap=0))
    assert again.log.equals(first.log) and fresh.log.equals(first.log)
    with pytest.raises(ValueError, match="another target table"):
        match_variants(scores(rows), t.head(2), index=index)


def test_a_biallelic_site_table_is_not_exploded() -> None:
    """`split_multiallelic` of a table without multi-allelic records (the fast path: flag and allele
    columns added) is the table the split-and-explode path gives."""
    from prsgazer.engine.genotypes.source import _exploded

    cols = {"chrom": ["1", "1", "2"], "pos": [5, 9, 3], "id": ["a", None, "c"], "ref": ["A", "C", "G"]}
    sites = pl.DataFrame({**cols, "alt": ["G", "T", "A"], "record": [0, 1, 2]})
    fast = split_multiallelic(sites)
    exploded = _exploded(sites)
    assert fast.equals(exploded) and fast.schema == exploded.schema
    multi = split_multiallelic(sites.with_columns(pl.Series("alt", ["G", "T,A", "A"])))
    assert multi.height == 4 and multi["is_multiallelic"].to_list() == [False, True, True, False]


def test_target_index_needs_the_row_index_as_vidx() -> None:
    """`vidx` must be 0 … n - 1 in order: any other numbering is refused (scores would read other rows)."""

    schema = {"vidx": pl.UInt32, "chrom": pl.String, "pos": pl.Int64, "id": pl.String, "ref": pl.String}
    schema |= {"alt": pl.String, "allele_idx": pl.Int8, "is_multiallelic": pl.Boolean}

    def table(vidx: list[int]) -> pl.DataFrame:
        n = len(vidx)
        return pl.DataFrame(
            {
                "vidx": vidx,
                "chrom": ["1"] * n,
                "pos": list(range(100, 100 + n)),
                "id": ["."] * n,
                "ref": ["A"] * n,
                "alt": ["G"] * n,
                "allele_idx": [1] * n,
                "is_multiallelic": [False] * n,
            },
            schema=schema,
        )

    assert TargetIndex(table([0, 1, 2, 3])).height == 4
    assert TargetIndex(table([])).height == 0
    for bad in ([1, 2, 3, 4], [0, 1, 3, 4], [0, 1, 1, 3], [0, 2, 1, 3], [3, 2, 1, 0]):
        with pytest.raises(ValueError, match="row index"):
            TargetIndex(table(bad))


def test_runs_of_equal_values_keep_the_column_name() -> None:
    from prsgazer.engine.common import runs
    from prsgazer.engine.scoring.match import _enum_by_runs

    col = pl.Series("chr_name", ["1", "1", None, None, "2", "1", "1", "1"])
    values, lengths = runs(col)
    assert values.name == "chr_name" and values.to_list() == ["1", None, "2", "1"]
    assert lengths.tolist() == [2, 2, 1, 3]
    enum = _enum_by_runs(col)
    assert enum.name == "chr_name" and enum.cast(pl.String).to_list() == col.to_list()
    assert enum.dtype == pl.Enum(["1", "2"])
    empty, none = runs(pl.Series("x", [], dtype=pl.String))
    assert empty.len() == 0 and len(none) == 0
