"""Liftover (engine.scorefile.liftover): positions compared with pyliftover (an independent implementation)
on the real UCSC chains, the PGS Catalog's own GRCh37/GRCh38 harmonised positions reproduced row by row,
and hand-written chains for every rule and every error."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pyliftover import LiftOver

from prsgazer.engine.scorefile import (
    PRIMARY_CHROMS,
    SCHEMA,
    UNLIFTED_SCHEMA,
    Chain,
    LiftReason,
    lift_positions,
    lift_scorefile,
    read_chain,
    read_scorefile,
)
from prsgazer.errors import InputError

CHAINS = ("hg19ToHg38", "hg38ToHg19")
UNMAPPED = {LiftReason.NO_CHAIN.value, LiftReason.UNMAPPED_GAP.value}


def _norm(name: str) -> str:
    """The engine's chromosome spelling (chrom_expr), written out independently: no chr, upper case, M → MT."""
    n = name.upper().removeprefix("CHR")
    return {"M": "MT", "23": "X", "24": "Y"}.get(n, n)


@pytest.fixture(scope="module")
def chains(shared_data: Path) -> dict[str, Chain]:
    return {n: read_chain(shared_data / "chain" / f"{n}.over.chain.gz") for n in CHAINS}


@pytest.fixture(scope="module")
def oracles(shared_data: Path) -> dict[str, LiftOver]:
    return {n: LiftOver(str(shared_data / "chain" / f"{n}.over.chain.gz")) for n in CHAINS}


# ---------------------------------------------------------------------------------------------------------------
# Against pyliftover


def _compare(chrom: list[str], pos: list[int], ours: pl.DataFrame, lo: LiftOver) -> dict[str, int]:
    """Row by row: one pyliftover result ⇔ lifted (or alt_contig) at the same place and strand; none ⇔
    unmapped (gap inside a chain's span, else no chain: spans from pyliftover's own chains); several ⇔
    multiple_mappings; unknown chromosome ⇔ unknown_chrom. Returns rows per outcome."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for c in lo.chain_file.chains:
        spans.setdefault(c.source_name, []).append((c.source_start, c.source_end))
    seen: dict[str, int] = {}
    for i, (c, p, row) in enumerate(zip(chrom, pos, ours.iter_rows(named=True), strict=True)):
        got = lo.convert_coordinate(c, p - 1)
        where = f"row {i}: {c}:{p} pyliftover {got} ours {row}"
        if got is None:
            assert row["reason"] == LiftReason.UNKNOWN_CHROM, where
            outcome = "unknown_chrom"
        elif len(got) == 0:
            in_span = any(s <= p - 1 < e for s, e in spans.get(c, []))
            expected = LiftReason.UNMAPPED_GAP if in_span else LiftReason.NO_CHAIN
            assert row["reason"] == expected, where
            assert row["chrom"] is None and row["pos"] is None, where
            outcome = str(expected)
        elif len(got) > 1:
            assert row["reason"] == LiftReason.MULTIPLE_MAPPINGS, where
            outcome = "multiple_mappings"
        else:
            name, p0, strand, _ = got[0]
            assert row["pos"] == p0 + 1, where
            assert row["reverse_strand"] == (strand == "-"), where
            if _norm(name) in PRIMARY_CHROMS:
                assert row["reason"] is None and row["chrom"] == _norm(name), where
                outcome = "reverse" if strand == "-" else "mapped"
            else:
                assert row["reason"] == LiftReason.ALT_CONTIG and row["chrom"] == name, where
                outcome = "alt_contig"
        seen[outcome] = seen.get(outcome, 0) + 1
    return seen


def _scorefile_loci(shared_data: Path, chain_name: str) -> tuple[list[str], list[int]]:
    """Every position of the shared scoring files in the chain's source build (raw text: no parser involved)."""
    files = {
        "hg38ToHg19": [("PGS000001_hmPOS_GRCh38.txt.gz", "hm_chr", "hm_pos"),
                       ("PGS004255_hmPOS_GRCh38.txt.gz", "hm_chr", "hm_pos")],
        "hg19ToHg38": [("PGS000001_hmPOS_GRCh37.txt.gz", "hm_chr", "hm_pos"), ("PGS001229_22.txt", "chr_name",
                       "chr_position"), ("PGS004255_hmPOS_GRCh38.txt.gz", "chr_name", "chr_position")],
    }[chain_name]
    chrom: list[str] = []
    pos: list[int] = []
    for name, c, p in files:
        t = pl.read_csv(shared_data / "scorefiles" / name, separator="\t", comment_prefix="#",
                        schema_overrides={c: pl.String, p: pl.Int64}, infer_schema=False)
        chrom += [f"chr{x}" for x in t[c].to_list()]
        pos += t[p].to_list()
    return chrom, pos


def _sampled_loci(lo: LiftOver, seed: int) -> tuple[list[str], list[int]]:
    """Positions drawn from pyliftover's own parse of the chain: uniform over every source sequence, the
    first/last base of blocks and the bases just outside them, inside reverse-strand blocks, inside gaps
    between blocks, and in blocks that land on alt contigs (1-based)."""
    rng = np.random.default_rng(seed)
    chains = lo.chain_file.chains
    sizes: dict[str, int] = {c.source_name: c.source_size for c in chains}
    chrom: list[str] = []
    pos: list[int] = []

    def add(c: str, p: int) -> None:
        chrom.append(c)
        pos.append(int(p))

    primary = [n for n in sizes if _norm(n) in PRIMARY_CHROMS]
    for c in rng.choice(primary, 1000):
        add(str(c), rng.integers(1, sizes[str(c)] + 1))
    blocks = [(c, s, e) for c in chains for s, e, _ in c.blocks]
    for k in rng.choice(len(blocks), 300, replace=False):
        c, s, e = blocks[k]
        for p in (s, s + 1, e, e + 1):  # before, first, last, after (1-based)
            if p >= 1:
                add(c.source_name, p)
    reverse = [(c, s, e) for c in chains if c.target_strand == "-" for s, e, _ in c.blocks]
    for k in rng.choice(len(reverse), 300, replace=False):
        c, s, e = reverse[k]
        add(c.source_name, rng.integers(s, e) + 1)
    gaps = [(c, a[1], b[0]) for c in chains for a, b in zip(c.blocks, c.blocks[1:], strict=False) if b[0] > a[1]]
    for k in rng.choice(len(gaps), 300, replace=False):
        c, s, e = gaps[k]
        add(c.source_name, rng.integers(s, e) + 1)
    alt = [(c, s, e) for c in chains if _norm(c.target_name) not in PRIMARY_CHROMS for s, e, _ in c.blocks]
    for k in rng.choice(len(alt), min(200, len(alt)), replace=False):
        c, s, e = alt[k]
        add(c.source_name, rng.integers(s, e) + 1)
    add("chrUnknown", 100)
    add("chr1", sizes["chr1"])  # the last base of chr1
    return chrom, pos


# Positions of the shared scoring files that do not lift, by source build.
NOT_LIFTED_IN_FILES: dict[str, list[tuple[str, int, str]]] = {
    "hg38ToHg19": [],
    "hg19ToHg38": [
        ("chr22", 22561610, "unmapped_gap"),  # rs5757417: GRCh37 sequence absent from GRCh38's chr22
        ("chr22", 23412058, "unmapped_gap"),  # rs3788338
        ("chr22", 24376584, "alt_contig"),  # rs144686326: lands on chr22_KI270879v1_alt only
        ("chr22", 28016883, "unmapped_gap"),  # rs1885362
    ],
}


@pytest.mark.slow  # pyliftover loads both chains in pure Python (~3 s)
@pytest.mark.parametrize("name", CHAINS)
def test_same_as_pyliftover(
    shared_data: Path, chains: dict[str, Chain], oracles: dict[str, LiftOver], name: str
) -> None:
    chrom, pos = _scorefile_loci(shared_data, name)
    n_files = len(chrom)
    c2, p2 = _sampled_loci(oracles[name], seed=17)
    chrom += c2
    pos += p2
    ours = lift_positions(chrom, pos, chains[name]).frame
    seen = _compare(chrom, pos, ours, oracles[name])
    assert sum(seen.values()) == len(chrom) > 3000
    # Every rule is exercised: mapped on both strands, gaps, outside chains, alt contigs, unknown chromosomes.
    for outcome in ("mapped", "reverse", "unmapped_gap", "no_chain", "alt_contig", "unknown_chrom"):
        assert seen.get(outcome, 0) > 0, (outcome, seen)
    # UCSC's over.chain files are netted: no source base is covered by two chains, so neither tool finds a
    # base with several mappings (the rule is tested on a hand-written chain below, against pyliftover too).
    assert "multiple_mappings" not in seen
    assert (chains[name]._seg_count <= 1).all()
    # The scoring files' own positions lift (to the same places as pyliftover's, as checked above) but for
    # four GRCh37 rows of PGS001229_22 (their rsIDs in the comment) that neither tool lifts.
    files = pl.DataFrame({"chrom": chrom[:n_files], "pos": pos[:n_files]}).with_columns(ours.head(n_files)["reason"])
    assert files.filter(pl.col("reason").is_not_null()).rows() == NOT_LIFTED_IN_FILES[name]


@pytest.mark.slow
def test_block_arrays_match_pyliftover(chains: dict[str, Chain], oracles: dict[str, LiftOver]) -> None:
    """Every block of every chain, coordinates and names, as pyliftover parses them."""
    for name in CHAINS:
        chain = chains[name]
        got = chain.blocks()
        rows = [
            (_norm(c.source_name), s, e, c.target_name, t, c.target_strand == "-", c.score, c.id)
            for c in oracles[name].chain_file.chains
            for s, e, t in c.blocks
        ]
        want = pl.DataFrame(rows, schema=got.schema, orient="row")
        assert got.equals(want), name
        assert chain.n_blocks == len(rows) and chain.n_chains == len(oracles[name].chain_file.chains)


# ---------------------------------------------------------------------------------------------------------------
# The catalog's harmonised positions in both builds


# Rows (row_nr) whose lifted position differs from the catalog's harmonised position in the other build.
# The catalog harmonises each build separately from Ensembl/dbSNP by rsID, so a row may legitimately differ
# from a chain liftover; for these files none does (checked below as the exact empty set).
DIFFERING_ROWS: dict[str, set[int]] = {"PGS000001": set(), "PGS000002": set()}


@pytest.mark.parametrize("pgs", sorted(DIFFERING_ROWS))
@pytest.mark.parametrize(("source", "target", "chain_name"), [("GRCh38", "GRCh37", "hg38ToHg19"),
                                                              ("GRCh37", "GRCh38", "hg19ToHg38")])
def test_reproduces_harmonised_positions(
    shared_data: Path, chains: dict[str, Chain], pgs: str, source: str, target: str, chain_name: str
) -> None:
    src = read_scorefile(shared_data / "scorefiles" / f"{pgs}_hmPOS_{source}.txt.gz")
    dst = read_scorefile(shared_data / "scorefiles" / f"{pgs}_hmPOS_{target}.txt.gz")
    chain = chains[chain_name]
    assert (src.build, dst.build) == (chain.source_build, chain.target_build)
    lifted, unlifted = lift_scorefile(src.variants, chain)
    assert unlifted.height == 0
    assert lifted.height == src.variants.height == dst.variants.height
    assert lifted.schema == src.variants.schema
    # Same rows in the same order; everything but the positions unchanged (no reverse-strand row here).
    assert lifted.drop("chr_name", "chr_position").equals(src.variants.drop("chr_name", "chr_position"))
    cols = ["row_nr", "chr_name", "chr_position", "effect_allele", "other_allele"]
    j = lifted.select(cols).join(dst.variants.select(cols), on="row_nr", how="full", suffix="_catalog")
    differ = j.filter(
        pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_catalog")) for c in cols[1:]) | pl.col("row_nr").is_null()
    )
    assert set(differ.get_column("row_nr_catalog").to_list()) == DIFFERING_ROWS[pgs]
    assert lifted.get_column("chr_position").n_unique() == lifted.height  # distinct loci, not a constant


def test_author_positions_lift_to_the_catalog_liftover(shared_data: Path, chains: dict[str, Chain]) -> None:
    """PGS004255 was harmonised by liftover (hm_source): its author hg19 positions lift onto hm_pos exactly."""
    t = pl.read_csv(shared_data / "scorefiles" / "PGS004255_hmPOS_GRCh38.txt.gz", separator="\t",
                    comment_prefix="#", schema_overrides={"chr_name": pl.String, "hm_chr": pl.String})
    assert set(t["hm_source"]) == {"liftover"}
    got = lift_positions(t["chr_name"], t["chr_position"], chains["hg19ToHg38"]).frame
    assert got.get_column("reason").null_count() == t.height == 30
    assert got.get_column("chrom").to_list() == t["hm_chr"].to_list()
    assert got.get_column("pos").to_list() == t["hm_pos"].to_list()
    assert (got.get_column("pos") != t["chr_position"]).all()


def test_lift_a_grch37_file(shared_data: Path, chains: dict[str, Chain]) -> None:
    """PGS001229_22 (GRCh37) to GRCh38: every row lifted or reported, the four reported rows by name."""
    sf = read_scorefile(shared_data / "scorefiles" / "PGS001229_22.txt")
    lifted, unlifted = lift_scorefile(sf.variants, chains["hg19ToHg38"])
    assert (lifted.height, unlifted.height) == (831, 4) and sf.variants.height == 835
    assert unlifted.select("rsID", "reason", "lifted_chrom", "lifted_position").rows() == [
        ("rs5757417", "unmapped_gap", None, None),
        ("rs3788338", "unmapped_gap", None, None),
        ("rs144686326", "alt_contig", "chr22_KI270879v1_alt", 270759),
        ("rs1885362", "unmapped_gap", None, None),
    ]
    assert set(lifted["chr_name"]) == {"22"}
    first = lifted.row(0, named=True)
    assert (first["rsID"], first["chr_position"]) == ("rs5746679", 16599488)  # hg19 22:17080378 (dbSNP: 16599488)
    assert lifted.drop("chr_position").equals(sf.variants.filter(~pl.col("rsID").is_in(unlifted["rsID"].implode()))
                                              .drop("chr_position"))


def test_gzip_and_plain_text_parse_alike(shared_data: Path, chains: dict[str, Chain], tmp_path: Path) -> None:
    plain = tmp_path / "hg19ToHg38.over.chain"
    plain.write_bytes(gzip.decompress((shared_data / "chain" / "hg19ToHg38.over.chain.gz").read_bytes()))
    a, b = chains["hg19ToHg38"], read_chain(plain)
    assert a.blocks().equals(b.blocks())
    assert (a.source_names, a.target_names) == (b.source_names, b.target_names)
    assert (b.source_build, b.target_build) == ("GRCh37", "GRCh38")


# ---------------------------------------------------------------------------------------------------------------
# Hand-written chains

# chr1: one chain with a gap: source [100,200) → [500,600), gap [200,250), [250,400) → [650,800).
# chr2: reverse strand: source [0,100) → target '-' [10,110) of a 500-base chr2: 0-based x → 489 - x.
# chr3: two chains overlap on [50,100): [0,100) → chr3 [0,100) and [50,150) → chr7 [0,100).
# chr4: [0,100) → an unplaced contig. chrM: [0,50) → chrM.
TINY = """\
chain 1000 chr1 1000 + 100 400 chr1 2000 + 500 800 1
100\t50\t50
150

chain 900 chr2 1000 + 0 100 chr2 500 - 10 110 2
100

chain 800 chr3 1000 + 0 100 chr3 1000 + 0 100 3
100

chain 700 chr3 1000 + 50 150 chr7 1000 + 0 100 4
100

chain 600 chr4 1000 + 0 100 chr4_KI270706v1_random 175055 + 0 100 5
100

# a comment line
chain 500 chrM 16571 + 0 50 chrM 16569 + 0 50 6
50
"""

TINY_CASES = [  # chrom, 1-based pos → chrom, pos, reverse, reason
    ("1", 100, None, None, None, LiftReason.NO_CHAIN),  # before the chain
    ("chr1", 101, "1", 501, False, None),  # first base
    ("1", 200, "1", 600, False, None),  # last base of block 1
    ("1", 201, None, None, None, LiftReason.UNMAPPED_GAP),
    ("1", 250, None, None, None, LiftReason.UNMAPPED_GAP),
    ("1", 251, "1", 651, False, None),
    ("1", 400, "1", 800, False, None),
    ("1", 401, None, None, None, LiftReason.NO_CHAIN),
    ("1", 1001, None, None, None, LiftReason.NO_CHAIN),  # beyond chr1's 1000 bases
    ("1", 5_000_000_000, None, None, None, LiftReason.NO_CHAIN),  # beyond any key of chr1 in the index
    ("2", 1, "2", 490, True, None),
    ("2", 100, "2", 391, True, None),
    ("3", 50, "3", 50, False, None),
    ("3", 51, None, None, None, LiftReason.MULTIPLE_MAPPINGS),
    ("3", 100, None, None, None, LiftReason.MULTIPLE_MAPPINGS),
    ("3", 101, "7", 51, False, None),
    ("4", 7, "chr4_KI270706v1_random", 7, False, LiftReason.ALT_CONTIG),
    ("M", 10, "MT", 10, False, None),
    ("chrMT", 50, "MT", 50, False, None),
    ("5", 10, None, None, None, LiftReason.UNKNOWN_CHROM),
    (None, 10, None, None, None, LiftReason.NO_POSITION),
    ("1", None, None, None, None, LiftReason.NO_POSITION),
    ("1", 0, None, None, None, LiftReason.NO_POSITION),
]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tinyTo38.over.chain"
    p.write_text(TINY)
    return p


def test_tiny_chain_rules(tiny: Path) -> None:
    chain = read_chain(tiny)
    assert (chain.n_chains, chain.n_blocks) == (6, 7)
    assert chain.source_names == ("1", "2", "3", "4", "MT")
    assert chain.target_primary.tolist() == [True, True, True, True, False, True]
    chrom = [c[0] for c in TINY_CASES]
    pos = [c[1] for c in TINY_CASES]
    got = lift_positions(chrom, pos, chain)
    want = pl.DataFrame(
        [(*c[2:5], None if c[5] is None else c[5].value) for c in TINY_CASES],
        schema=got.frame.schema,
        orient="row",
    )
    assert got.frame.equals(want), pl.concat([got.frame, want.rename(lambda c: f"want_{c}")], how="horizontal")
    assert got.counts()["mapped"] == 10
    # the same through pyliftover (its 0-based positions; it returns a list, several where chains overlap)
    lo = LiftOver(str(tiny))
    # pyliftover takes the chain's own names (chrM, not MT) and no missing or zero positions
    keep = [i for i, (c, p) in enumerate(zip(chrom, pos, strict=True)) if c not in (None, "chrMT") and p]
    named = [chrom[i] if chrom[i].startswith("chr") else f"chr{chrom[i]}" for i in keep]
    seen = _compare(named, [pos[i] for i in keep], got.frame[keep], lo)
    assert seen["multiple_mappings"] == 2 and seen["reverse"] == 2


def test_same_call_twice_same_result(tiny: Path) -> None:
    chain = read_chain(tiny)
    chrom, pos = ["1", "2", "3"] * 1000, [101, 5, 75] * 1000
    a, b = lift_positions(chrom, pos, chain), lift_positions(pl.Series(chrom), np.array(pos), chain)
    assert a.frame.equals(b.frame)
    assert not chain.block_source_start.flags.writeable
    with pytest.raises(ValueError, match="3 chromosomes but 2 positions"):
        lift_positions(["1", "2", "3"], [1, 2], chain)


def _frame(rows: list[dict]) -> pl.DataFrame:
    base = {c: None for c in SCHEMA} | {"accession": "PGS9", "effect_weight": 0.5, "effect_type": "additive"}
    return pl.DataFrame([base | {"row_nr": i, "line": i + 2} | r for i, r in enumerate(rows)], schema=SCHEMA)


def test_lift_scorefile(tiny: Path) -> None:
    frame = _frame(
        [
            {"chr_name": "1", "chr_position": 150, "effect_allele": "A", "other_allele": "G"},
            {"chr_name": "2", "chr_position": 1, "effect_allele": "A", "other_allele": "G"},  # reverse: T/C
            {"chr_name": "2", "chr_position": 2, "effect_allele": "C", "other_allele": None},  # reverse, no other
            {"chr_name": "2", "chr_position": 3, "effect_allele": "AT", "other_allele": "A"},  # reverse indel
            {"chr_name": "1", "chr_position": 251, "effect_allele": "AT", "other_allele": "A"},  # forward indel: kept
            {"chr_name": "1", "chr_position": 220, "effect_allele": "A", "other_allele": "G"},  # gap
            {"chr_name": "3", "chr_position": 60, "effect_allele": "A", "other_allele": "G"},  # two chains
            {"chr_name": "4", "chr_position": 60, "effect_allele": "A", "other_allele": "G"},  # alt contig
            {"chr_name": "9", "chr_position": 60, "effect_allele": "A", "other_allele": "G"},  # unknown
            {"rsID": "rs1", "effect_allele": "A", "unscorable": "no_position"},  # stays as it is
            {"chr_name": "2", "chr_position": 9, "effect_allele": "A", "other_allele": "G",
             "unscorable": "interaction"},  # stays as it is (not lifted, not complemented)
        ]
    )
    lifted, unlifted = lift_scorefile(frame, read_chain(tiny))
    assert lifted.schema == frame.schema and unlifted.schema == UNLIFTED_SCHEMA
    assert lifted.height + unlifted.height == frame.height
    assert sorted(lifted["row_nr"].to_list() + unlifted["row_nr"].to_list()) == frame["row_nr"].to_list()
    cols = ["row_nr", "chr_name", "chr_position", "effect_allele", "other_allele", "unscorable"]
    assert lifted.select(cols).rows() == [
        (0, "1", 550, "A", "G", None),
        (1, "2", 490, "T", "C", None),
        (2, "2", 489, "G", None, None),
        (4, "1", 651, "AT", "A", None),
        (9, None, None, "A", None, "no_position"),
        (10, "2", 9, "A", "G", "interaction"),
    ]
    assert lifted.drop(cols[1:5]).equals(frame.filter(pl.col("row_nr").is_in([0, 1, 2, 4, 9, 10])).drop(cols[1:5]))
    assert unlifted.select("row_nr", "line", "chr_name", "chr_position", "reason", "lifted_chrom",
                           "lifted_position").rows() == [
        (3, 5, "2", 3, "reverse_strand_multibase", "2", 488),
        (5, 7, "1", 220, "unmapped_gap", None, None),
        (6, 8, "3", 60, "multiple_mappings", None, None),
        (7, 9, "4", 60, "alt_contig", "chr4_KI270706v1_random", 60),
        (8, 10, "9", 60, "unknown_chrom", None, None),
    ]
    assert unlifted["accession"].to_list() == ["PGS9"] * 5


# ---------------------------------------------------------------------------------------------------------------
# Malformed chain files: InputError naming the line (and field where there is one)

GOOD_HEADER = "chain 1000 chr1 1000 + 0 100 chr1 1000 + 0 100 1"
MALFORMED = [  # text, line, field, words in the message
    ("100\n" + GOOD_HEADER + "\n100\n", 1, None, "before the first 'chain' header"),
    ("chain 1000 chr1 1000 + 0 100 chr1 1000 +\n100\n", 1, None, "this one has 10"),
    (GOOD_HEADER + "\n1x0\n", 2, "size", "must be an integer, not '1x0'"),
    ("chain 1000 chr1 1000 - 0 100 chr1 1000 + 0 100 1\n100\n", 1, "tStrand", "must be '+'"),
    ("chain 1000 chr1 1000 + 0 100 chr1 1000 ? 0 100 1\n100\n", 1, "qStrand", "'+' or '-', not '?'"),
    ("chain 1000 chr1 1000 + 0 100 chr1 1000 + 0 100 x\n100\n", 1, "id", "integer, not 'x'"),
    ("chain 1000 chr1 1000 + 0 1100 chr1 1000 + 0 100 1\n1100\n", 1, "tEnd", "tEnd <= tSize"),
    (GOOD_HEADER + "\n50 10 10\n40 0 0\n\n", 3, None, "last block line of a chain has one field"),
    (GOOD_HEADER + "\n50\n50\n", 2, None, "only the last block line"),
    (GOOD_HEADER + "\n50 10\n40\n", 2, None, "this one has 2"),
    (GOOD_HEADER + "\n50 -10 0\n60\n", 2, "dt", "must not be negative"),
    (GOOD_HEADER + "\n0 0 0\n100\n", 2, "size", "must be positive"),
    (GOOD_HEADER + "\n50 10 10\n30\n", 1, "tEnd", "blocks end at t=90"),
    (GOOD_HEADER + "\n50 0 10\n50\n", 1, "qEnd", "blocks end at q=110"),
    (GOOD_HEADER + "\n\n" + GOOD_HEADER + "\n", 1, None, "no block lines"),
    (GOOD_HEADER + "\n100\n\nchain 1 chr1 2000 + 0 10 chr2 1000 + 0 10 2\n10\n", 4, "tSize",
     "tSize=2000 here but 1000 in an earlier chain header"),
    (GOOD_HEADER + "\n100 0 0 7\n", 2, None, "this one has 4"),
    ("chain 1 chr1 4294967296 + 0 100 chr1 1000 + 0 100 1\n100\n", 1, "tSize", "longer than 4294967296 bases"),
    ("# only a comment\n\n", None, None, "no chains"),
    ("", None, None, "empty chain file"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), MALFORMED)
def test_malformed_chain(tmp_path: Path, text: str, line: int | None, field: str | None, words: str) -> None:
    p = tmp_path / "bad.chain"
    p.write_text(text)
    with pytest.raises(InputError) as err:
        read_chain(p)
    assert (err.value.file, err.value.line, err.value.field) == (str(p), line, field)
    assert words in err.value.reason


def test_damaged_or_missing_files(tmp_path: Path) -> None:
    good = gzip.compress((GOOD_HEADER + "\n100\n").encode())
    p = tmp_path / "cut.chain.gz"
    p.write_bytes(good[:-12])
    with pytest.raises(InputError, match="gzip data is truncated or corrupt"):
        read_chain(p)
    p.write_bytes(good)
    assert read_chain(p).n_blocks == 1
    with pytest.raises(InputError, match="does not exist"):
        read_chain(tmp_path / "nope.chain")
    (tmp_path / "bin.chain").write_bytes(b"chain \xff\xfe\n")
    with pytest.raises(InputError, match="not a text file"):
        read_chain(tmp_path / "bin.chain")


def test_tolerated_spellings(tmp_path: Path) -> None:
    """CRLF line ends, tabs or runs of spaces between fields, no id: the same chain."""
    p = tmp_path / "a.chain"
    p.write_text("chain\t1000 chr1 1000 +  0 100   chr1 1000 - 0 100\r\n 60  10 10\t\r\n30\r\n")
    chain = read_chain(p)
    assert chain.blocks().rows() == [("1", 0, 60, "chr1", 0, True, 1000, 1), ("1", 70, 100, "chr1", 70, True, 1000, 1)]
    assert (chain.source_build, chain.target_build) == (None, None)
