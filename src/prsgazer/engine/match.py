"""Allele-aware matching of scoring-file rows to a target variant table, by the PGS Catalog
calculator's (pgsc_calc / pgscatalog-match) rules. See docs/engine.md ("Matching").

Matching is on chromosome + position + alleles, never on variant IDs. Every (score row, target
row, orientation) that fits is a candidate with a `match_type`:

    refalt, altref, refalt_flip, altref_flip            (rows with an other allele)
    no_oa_ref, no_oa_alt, no_oa_ref_flip, no_oa_alt_flip (rows without one)

in that priority order. The best candidate of each row is kept; it is then excluded when it is
strand-ambiguous (REF complement == ALT), from a multi-allelic site, a strand flip while flips are
ignored, or when several rows of one score best-match the same target variant (`duplicate_ID`).
Statuses: matched, excluded, not_best, unmatched. A score whose overlap (matched / rows) is below
`min_overlap` fails and is reported with its summary, while the others go on.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

MATCH_TYPES = [
    "refalt",
    "altref",
    "refalt_flip",
    "altref_flip",
    "no_oa_ref",
    "no_oa_alt",
    "no_oa_ref_flip",
    "no_oa_alt_flip",
]
_PRIORITY = {t: i for i, t in enumerate(MATCH_TYPES)}
#: Match types whose effect allele is the target's ALT (else it is REF).
EFFECT_IS_ALT = {"altref", "altref_flip", "no_oa_alt", "no_oa_alt_flip"}
_MATCH_TYPE = pl.Enum(MATCH_TYPES)
_STATUS = pl.Enum(["matched", "excluded", "not_best", "unmatched"])


class MatchOptions(BaseModel):
    """pgsc_calc's matching switches (defaults are pgsc_calc's defaults)."""

    keep_ambiguous: bool = False
    keep_multiallelic: bool = False
    ignore_strand_flips: bool = False
    keep_first_match: bool = False
    min_overlap: float = Field(default=0.75, ge=0.0, le=1.0)


class ScoreMatchSummary(BaseModel):
    """One score's match outcome."""

    accession: str
    n_variants: int = Field(description="Rows in the scoring file for this score.")
    n_matched: int
    n_excluded: int
    n_unmatched: int
    overlap: float
    passed: bool
    by_match_type: dict[str, int] = Field(default_factory=dict, description="Matched rows by match_type.")
    excluded_by: dict[str, int] = Field(default_factory=dict, description="Excluded rows by first reason.")
    unmatched_by: dict[str, int] = Field(
        default_factory=dict, description="Unmatched rows: no_candidate, or why the row was unscorable."
    )
    reason: str | None = Field(default=None, description="Why the score failed, when it did.")


class MatchResult(BaseModel):
    """Candidates and unmatched rows (together: the match log), the matched rows, per-score summaries.

    `candidates` holds the matching columns only; `log` adds the scoring-row and target columns
    on demand (`rows` is the scoring frame with `_rid`, `target_extra` the target's ID and source).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: pl.DataFrame
    unmatched: pl.DataFrame
    matched: pl.DataFrame
    summaries: list[ScoreMatchSummary]
    rows: pl.DataFrame
    target_extra: pl.DataFrame

    @property
    def log(self) -> pl.DataFrame:
        """One row per candidate (match_status matched / excluded / not_best) and per scoring row
        without any (unmatched, labelled no_candidate or with its unscorable reason)."""
        cand = self.candidates
        extra = [c for c in self.rows.columns if c not in cand.columns]
        cand = pl.concat(
            [
                cand,
                self.rows.select(extra)[cand.get_column("_rid")],
                self.target_extra[cand.get_column("vidx")],
            ],
            how="horizontal",
        ).with_columns(
            pl.when(pl.col("match_status") == "excluded")
            .then(pl.col("exclude_reason"))
            .otherwise(pl.col("match_type"))
            .alias("label")
        )
        log = pl.concat([cand, self.unmatched], how="diagonal_relaxed").sort(
            ["_rid", "_order"], nulls_last=True
        )
        return log.select([c for c in LOG_COLUMNS if c in log.columns])

    def summary(self, accession: str) -> ScoreMatchSummary:
        return next(s for s in self.summaries if s.accession == accession)

    @property
    def passed(self) -> list[str]:
        return [s.accession for s in self.summaries if s.passed]

    def summary_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [s.model_dump(exclude={"by_match_type", "excluded_by", "unmatched_by"}) for s in self.summaries]
        )


def complement_expr(col: str) -> pl.Expr:
    """The strand complement of a DNA allele column (A↔T, C↔G); non-ACGT values unchanged."""
    c = pl.col(col)
    flipped = c.str.replace_many(["A", "C", "G", "T"], ["T", "G", "C", "A"])
    return pl.when(c.str.contains(r"^[ACGT]+$")).then(flipped).otherwise(c)


def _position_key(chroms: dict[str, int]) -> pl.Expr:
    """chromosome and position as one integer, for a single-key join."""
    return (
        pl.col("chr_name").replace_strict(chroms, return_dtype=pl.Int64) * (1 << 33) + pl.col("chr_position")
    ).alias("_key")


def match_variants(
    scores: pl.DataFrame, target: pl.DataFrame, options: MatchOptions | None = None
) -> MatchResult:
    """Match scoring rows (engine.scorefile SCHEMA, several accessions allowed, unscorable rows
    included and reported) against a target variant table (engine.genotypes VARIANT_SCHEMA, plus
    an optional `source` column; `vidx` must be the row index)."""
    opt = options or MatchOptions()
    if not target.get_column("vidx").equals(pl.Series("vidx", range(target.height), dtype=pl.UInt32)):
        raise ValueError("target vidx must be the row index of the target table")
    accessions = scores.get_column("accession").unique(maintain_order=True).to_list()
    # Integer keys (_rid: scoring row, _acc: score) keep the joins and group steps cheap; only the
    # columns matching needs travel through them, the rest is gathered back by index.
    rows = scores.with_row_index("_rid").with_columns(
        pl.col("accession")
        .replace_strict({a: i for i, a in enumerate(accessions)}, return_dtype=pl.UInt32)
        .alias("_acc")
    )
    scorable = rows.filter(pl.col("unscorable").is_null()).select(
        "_rid", "_acc", "row_nr", "chr_name", "chr_position", "effect_allele", "other_allele"
    )
    chroms = (
        scorable.get_column("chr_name").unique().to_list() + target.get_column("chrom").unique().to_list()
    )
    codes = {c: i for i, c in enumerate(dict.fromkeys(chroms))}
    tgt = target.select(
        pl.col("vidx"),
        pl.col("chrom").alias("chr_name"),
        pl.col("pos").alias("chr_position"),
        pl.col("ref").alias("REF"),
        pl.col("alt").alias("ALT"),
        "is_multiallelic",
    )
    pairs = (
        scorable.with_columns(_position_key(codes))
        .join(tgt.with_columns(_position_key(codes)).drop("chr_name", "chr_position"), on="_key", how="inner")
        .drop("_key")
    )
    ea, oa, ref, alt = pl.col("effect_allele"), pl.col("other_allele"), pl.col("REF"), pl.col("ALT")
    has_oa = oa.is_not_null()
    # Direct orientations on every pair; strand flips only where they can add a candidate: pairs
    # without a direct match, or at strand-ambiguous sites (A/T, C/G), where both can hold.
    pairs = pairs.with_columns(
        (has_oa & (ea == ref) & (oa == alt)).fill_null(False).alias("_c0"),  # refalt
        (has_oa & (ea == alt) & (oa == ref)).fill_null(False).alias("_c1"),  # altref
        (~has_oa & (ea == ref)).fill_null(False).alias("_c4"),  # no_oa_ref
        (~has_oa & (ea == alt)).fill_null(False).alias("_c5"),  # no_oa_alt
        pl.concat_str(ref, alt).is_in(["AT", "TA", "CG", "GC"]).fill_null(False).alias("ambiguous"),
    ).with_row_index("_pair")
    long_amb = pairs.filter((ref.str.len_bytes() > 1) & (ref.str.len_bytes() == alt.str.len_bytes()))
    if long_amb.height:  # multi-base alleles: ambiguous when ALT is REF's complement (as pgsc_calc)
        hit = long_amb.filter(complement_expr("REF") == alt).get_column("_pair").to_numpy()
        amb = pairs.get_column("ambiguous").to_numpy().copy()
        amb[hit] = True
        pairs = pairs.with_columns(pl.Series("ambiguous", amb))
    direct = pl.col("_c0") | pl.col("_c1") | pl.col("_c4") | pl.col("_c5")
    sub = pairs.filter(~direct | pl.col("ambiguous")).select(
        "_pair",
        "effect_allele",
        "other_allele",
        complement_expr("REF").alias("rf"),
        complement_expr("ALT").alias("af"),
    )
    rf, af = pl.col("rf"), pl.col("af")
    flips = sub.select(
        "_pair",
        (has_oa & (ea == rf) & (oa == af)).fill_null(False).alias("_c2"),  # refalt_flip
        (has_oa & (ea == af) & (oa == rf)).fill_null(False).alias("_c3"),  # altref_flip
        (~has_oa & (ea == rf)).fill_null(False).alias("_c6"),  # no_oa_ref_flip
        (~has_oa & (ea == af)).fill_null(False).alias("_c7"),  # no_oa_alt_flip
    )
    where = flips.get_column("_pair").to_numpy()
    flip_cols = []
    for name in ("_c2", "_c3", "_c6", "_c7"):
        full = np.zeros(pairs.height, dtype=bool)
        full[where] = flips.get_column(name).to_numpy()
        flip_cols.append(pl.Series(name, full))
    flags = [f"_c{k}" for k in range(8)]
    pairs = pairs.with_columns(flip_cols).with_columns(
        pl.sum_horizontal([pl.col(f).cast(pl.UInt8) for f in flags]).alias("_n")
    )
    pairs = pairs.filter(pl.col("_n") > 0)
    # Every orientation a pair fits is a candidate (an A/T row fits refalt and altref_flip). Most
    # pairs fit one orientation: take the first, then add the rare extra ones.
    first = pl.lit(None, dtype=pl.Int8)
    for k in reversed(range(len(flags))):
        first = pl.when(pl.col(flags[k])).then(pl.lit(k, dtype=pl.Int8)).otherwise(first)
    pairs = pairs.with_columns(first.alias("_priority"))
    multi = pairs.filter(pl.col("_n") > 1)
    extra = [
        multi.filter(pl.col(flags[k]) & (pl.col("_priority") != k)).with_columns(
            pl.lit(k, dtype=pl.Int8).alias("_priority")
        )
        for k in range(len(flags))
    ]
    effect_is_alt = pl.col("_priority").is_in([1, 3, 5, 7])
    cand = pl.concat([pairs, *extra]).drop(*flags, "_n", "_pair")
    # One integer sort key (scoring row, priority, target row) sorts much faster than three columns.
    if rows.height < (1 << 27) and target.height < (1 << 33):
        cand = cand.sort(
            pl.col("_rid").cast(pl.UInt64) * (1 << 36)
            + pl.col("_priority").cast(pl.UInt64) * (1 << 33)
            + pl.col("vidx").cast(pl.UInt64)
        )
    else:
        cand = cand.sort(["_rid", "_priority", "vidx"])
    cand = cand.with_row_index("_order").with_columns(
        pl.col("_priority")
        .replace_strict(dict(enumerate(MATCH_TYPES)), return_dtype=_MATCH_TYPE)
        .alias("match_type"),
        # the effect allele in target orientation is ALT for *alt* types, REF for *ref* types
        pl.when(effect_is_alt).then(alt).otherwise(ref).alias("matched_effect_allele"),
        effect_is_alt.alias("effect_is_alt"),
    )
    cand = _label(cand, opt)
    has_cand = np.zeros(rows.height, dtype=bool)
    has_cand[cand.get_column("_rid").to_numpy()] = True
    unmatched = rows.filter(pl.Series(~has_cand)).with_columns(
        pl.lit("unmatched").alias("match_status"),
        pl.coalesce(pl.col("unscorable"), pl.lit("no_candidate")).alias("label"),
    )
    summaries = _summaries(cand, unmatched, opt, accessions)
    passed = [s.accession for s in summaries if s.passed]
    matched = cand.filter(pl.col("match_status") == "matched")
    weights = ["accession", "effect_type", "effect_weight", "dosage_0_weight", "dosage_1_weight",
               "dosage_2_weight", "allelefrequency_effect"]  # fmt: skip
    target_extra = target.select(
        pl.col("id").alias("ID"),
        (pl.col("source") if "source" in target.columns else pl.lit("target")).alias("source"),
    )
    matched = pl.concat(
        [
            matched,
            rows.select(weights)[matched.get_column("_rid")],
            target_extra[matched.get_column("vidx")],
        ],
        how="horizontal",
    ).with_columns(pl.col("accession").is_in(passed).alias("score_passed"))
    keep = [
        "accession", "row_nr", "vidx", "chr_name", "chr_position", "effect_allele", "other_allele",
        "REF", "ALT", "ID", "source", "match_type", "matched_effect_allele", "effect_is_alt",
        "effect_type", "effect_weight", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight",
        "allelefrequency_effect", "score_passed",
    ]  # fmt: skip
    return MatchResult(
        candidates=cand,
        unmatched=unmatched,
        matched=matched.select(keep),
        summaries=summaries,
        rows=rows,
        target_extra=target_extra,
    )


def _label(df: pl.DataFrame, opt: MatchOptions) -> pl.DataFrame:
    """pgscatalog-match's labelling (best match, duplicates, exclusions, status).

    `df` is sorted by scoring row (`_rid`), match priority, target row, so each row's candidates
    are contiguous with the best first: group-wise steps use neighbours instead of windows.
    """
    rid = pl.col("_rid")
    starts = rid != rid.shift(1)
    same_prev = (rid == rid.shift(1)).fill_null(False)
    same_next = (rid == rid.shift(-1)).fill_null(False)
    df = df.with_columns(
        (
            pl.col("_priority") == pl.when(starts.fill_null(True)).then(pl.col("_priority")).forward_fill()
        ).alias("_best"),
        starts.fill_null(True).alias("_first"),
    )
    best = pl.col("_best")
    # Several equally good candidates of one row (e.g. a no-OA row at a split multi-allelic site):
    # all are flagged, the first stays best.
    df = df.with_columns(
        (best & ((same_prev & best.shift(1)) | (same_next & best.shift(-1))).fill_null(False)).alias(
            "duplicate_best_match"
        ),
        (best & pl.col("_first")).alias("best_match"),
    )
    # Several rows of one score best-matching the same target variant.
    df = df.with_columns(
        (
            pl.col("best_match")
            & pl.when(pl.col("best_match"))
            .then(pl.struct("_acc", "vidx", "duplicate_best_match"))
            .is_duplicated()
        ).alias("duplicate_ID")
    )
    if opt.keep_first_match:
        excl_dup = pl.col("duplicate_ID") & (
            pl.col("row_nr") != pl.col("row_nr").min().over(["_acc", "vidx", "duplicate_ID"])
        )
    else:
        excl_dup = pl.col("duplicate_ID")
    df = df.with_columns(
        excl_dup.alias("_excl_dup"),
        pl.col("_priority").is_in([2, 3, 6, 7]).alias("match_flipped"),
    )
    reasons = [
        (pl.col("_excl_dup"), "duplicate_ID"),
        (pl.col("ambiguous") & pl.lit(not opt.keep_ambiguous), "is_ambiguous"),
        (pl.col("is_multiallelic") & pl.lit(not opt.keep_multiallelic), "is_multiallelic"),
        (pl.col("match_flipped") & pl.lit(opt.ignore_strand_flips), "match_flipped"),
    ]
    first_reason = pl.lit(None, dtype=pl.String)
    for cond, name in reversed(reasons):
        first_reason = pl.when(cond).then(pl.lit(name)).otherwise(first_reason)
    df = df.with_columns(
        pl.any_horizontal([c for c, _ in reasons]).alias("exclude"),
        first_reason.alias("exclude_reason"),
    ).with_columns(
        pl.when(~pl.col("best_match"))
        .then(pl.lit("not_best"))
        .when(pl.col("exclude"))
        .then(pl.lit("excluded"))
        .otherwise(pl.lit("matched"))
        .alias("match_status"),
    )
    return df.drop("_excl_dup", "_best", "_first")


LOG_COLUMNS = [
    "accession", "row_nr", "line", "chr_name", "chr_position", "effect_allele", "other_allele",
    "effect_weight", "effect_type", "vidx", "ID", "REF", "ALT", "source", "matched_effect_allele",
    "match_type", "is_multiallelic", "ambiguous", "match_flipped", "best_match", "exclude",
    "duplicate_best_match", "duplicate_ID", "exclude_reason", "match_status", "label",
]  # fmt: skip


def _summaries(
    cand: pl.DataFrame, unmatched: pl.DataFrame, opt: MatchOptions, accessions: list[str]
) -> list[ScoreMatchSummary]:
    # One final status per scoring row: its best candidate's (matched / excluded), or unmatched.
    # Grouped on integer / short columns; names are attached to the (small) result.
    best = cand.filter(pl.col("best_match")).select(
        "_acc",
        pl.col("match_status").cast(pl.String),
        pl.when(pl.col("match_status") == "excluded")
        .then(pl.col("exclude_reason"))
        .otherwise(pl.col("match_type").cast(pl.String))
        .alias("label"),
    )
    counts = (
        pl.concat([best, unmatched.select("_acc", pl.col("match_status").cast(pl.String), "label")])
        .group_by("_acc", "match_status", "label")
        .len()
        .sort("len", "label", descending=[True, False])
        .with_columns(
            pl.col("_acc")
            .replace_strict(dict(enumerate(accessions)), return_dtype=pl.String)
            .alias("accession")
        )
        .select("accession", "match_status", "label", "len")
    )
    table: dict[str, dict[str, dict[str, int]]] = {
        a: {"matched": {}, "excluded": {}, "unmatched": {}} for a in accessions
    }
    for acc, status, label, n in counts.iter_rows():
        table[acc][status][label] = int(n)
    out = []
    for acc in accessions:
        c = table[acc]
        n_matched = sum(c["matched"].values())
        n_excluded = sum(c["excluded"].values())
        n_unmatched = sum(c["unmatched"].values())
        n = n_matched + n_excluded + n_unmatched
        overlap = n_matched / n if n else 0.0
        passed = n_matched > 0 and overlap >= opt.min_overlap
        reason = None
        if not passed:
            reason = (
                "no variant matched"
                if n_matched == 0
                else f"overlap {overlap:.4f} is below the minimum {opt.min_overlap}"
            )
            unscorable = {k: v for k, v in c["unmatched"].items() if k != "no_candidate"}
            if unscorable:
                reason += (
                    " (" + ", ".join(f"{v} rows {_EXPLAIN.get(k, k)}" for k, v in unscorable.items()) + ")"
                )
        out.append(
            ScoreMatchSummary(
                accession=acc,
                n_variants=n,
                n_matched=n_matched,
                n_excluded=n_excluded,
                n_unmatched=n_unmatched,
                overlap=overlap,
                passed=passed,
                by_match_type=c["matched"],
                excluded_by=c["excluded"],
                unmatched_by=c["unmatched"],
                reason=reason,
            )
        )
    return out


_EXPLAIN = {
    "no_position": "no_position (rsID only: use the harmonised scoring file)",
    "no_harmonised_position": "no_harmonised_position (harmonisation failed)",
    "named_allele": "named_allele (HLA/APOE alleles are not SNP genotypes)",
}
