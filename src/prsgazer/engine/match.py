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
    """Candidates (the match log), the matched rows, and per-score summaries."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    log: pl.DataFrame
    matched: pl.DataFrame
    summaries: list[ScoreMatchSummary]

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
    flipped = (
        c.str.replace_all("A", "v", literal=True)
        .str.replace_all("T", "A", literal=True)
        .str.replace_all("v", "T", literal=True)
        .str.replace_all("C", "x", literal=True)
        .str.replace_all("G", "C", literal=True)
        .str.replace_all("x", "G", literal=True)
    )
    return pl.when(c.str.contains(r"^[ACGT]+$")).then(flipped).otherwise(c)


def match_variants(
    scores: pl.DataFrame, target: pl.DataFrame, options: MatchOptions | None = None
) -> MatchResult:
    """Match scoring rows (engine.scorefile SCHEMA, several accessions allowed, unscorable rows
    included and reported) against a target variant table (engine.genotypes VARIANT_SCHEMA, plus
    an optional `source` column)."""
    opt = options or MatchOptions()
    rows = scores.with_columns(
        complement_expr("effect_allele").alias("effect_allele_FLIP"),
        complement_expr("other_allele").alias("other_allele_FLIP"),
    )
    scorable = rows.filter(pl.col("unscorable").is_null())
    tgt = target
    if "source" not in tgt.columns:
        tgt = tgt.with_columns(pl.lit("target").alias("source"))
    tgt = tgt.select(
        pl.col("vidx"),
        pl.col("chrom").alias("chr_name"),
        pl.col("pos").alias("chr_position"),
        pl.col("id").alias("ID"),
        pl.col("ref").alias("REF"),
        pl.col("alt").alias("ALT"),
        "is_multiallelic",
        "source",
    )
    pairs = scorable.join(tgt, on=["chr_name", "chr_position"], how="inner")
    ea, oa, eaf, oaf = (
        pl.col(c) for c in ("effect_allele", "other_allele", "effect_allele_FLIP", "other_allele_FLIP")
    )
    ref, alt = pl.col("REF"), pl.col("ALT")
    has_oa = oa.is_not_null()
    conditions = {
        "refalt": has_oa & (ea == ref) & (oa == alt),
        "altref": has_oa & (ea == alt) & (oa == ref),
        "refalt_flip": has_oa & (eaf == ref) & (oaf == alt),
        "altref_flip": has_oa & (eaf == alt) & (oaf == ref),
        "no_oa_ref": ~has_oa & (ea == ref),
        "no_oa_alt": ~has_oa & (ea == alt),
        "no_oa_ref_flip": ~has_oa & (eaf == ref),
        "no_oa_alt_flip": ~has_oa & (eaf == alt),
    }
    cand = pl.concat(
        [
            pairs.filter(cond.fill_null(False)).with_columns(
                pl.lit(mt).alias("match_type"),
                (eaf if mt.endswith("_flip") else ea).alias("matched_effect_allele"),
                pl.lit(_PRIORITY[mt], dtype=pl.Int8).alias("_priority"),
            )
            for mt, cond in conditions.items()
        ],
        how="vertical",
    )
    cand = cand.sort(["accession", "row_nr", "_priority", "vidx"]).with_row_index("_order")
    cand = _label(cand, opt)
    log = _with_unmatched(rows, cand)
    matched = cand.filter(pl.col("match_status") == "matched").with_columns(
        pl.col("match_type").is_in(list(EFFECT_IS_ALT)).alias("effect_is_alt")
    )
    summaries = _summaries(log, opt)
    passed = [s.accession for s in summaries if s.passed]
    matched = matched.with_columns(pl.col("accession").is_in(passed).alias("score_passed"))
    keep = [
        "accession", "row_nr", "vidx", "chr_name", "chr_position", "effect_allele", "other_allele",
        "REF", "ALT", "ID", "source", "match_type", "matched_effect_allele", "effect_is_alt",
        "effect_type", "effect_weight", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight",
        "allelefrequency_effect", "score_passed",
    ]  # fmt: skip
    return MatchResult(log=log, matched=matched.select(keep), summaries=summaries)


def _label(df: pl.DataFrame, opt: MatchOptions) -> pl.DataFrame:
    """pgscatalog-match's labelling, step by step (best match, duplicates, exclusions, status)."""
    group = ["accession", "row_nr"]
    df = df.with_columns((pl.col("_priority") == pl.col("_priority").min().over(group)).alias("best_match"))
    # Several best candidates of one row (e.g. a no-OA row at a split multi-allelic site): keep the first.
    df = df.with_columns(
        ((pl.len().over([*group, "best_match"]) > 1) & pl.col("best_match")).alias("duplicate_best_match")
    ).with_columns(
        pl.when(
            pl.col("best_match")
            & pl.col("duplicate_best_match")
            & (pl.col("_order") > pl.col("_order").min().over(group))
        )
        .then(False)
        .otherwise(pl.col("best_match"))
        .alias("best_match")
    )
    # Several rows of one score best-matching the same target variant.
    df = df.with_columns(
        (
            (pl.len().over(["accession", "vidx", "best_match", "duplicate_best_match"]) > 1)
            & pl.col("best_match")
        ).alias("duplicate_ID")
    )
    if opt.keep_first_match:
        excl_dup = pl.col("duplicate_ID") & (
            pl.col("row_nr") != pl.col("row_nr").min().over(["accession", "vidx", "duplicate_ID"])
        )
    else:
        excl_dup = pl.col("duplicate_ID")
    ref_flip = complement_expr("REF")
    df = df.with_columns(
        excl_dup.alias("_excl_dup"),
        (ref_flip == pl.col("ALT")).fill_null(False).alias("ambiguous"),
        pl.col("match_type").str.ends_with("_flip").alias("match_flipped"),
    )
    reasons = [
        (pl.col("_excl_dup"), "duplicate_ID"),
        (pl.col("ambiguous") & pl.lit(not opt.keep_ambiguous), "is_ambiguous"),
        (pl.col("is_multiallelic") & pl.lit(not opt.keep_multiallelic), "is_multiallelic"),
        (pl.col("match_flipped") & pl.lit(opt.ignore_strand_flips), "match_flipped"),
    ]
    df = df.with_columns(
        pl.any_horizontal([c for c, _ in reasons]).alias("exclude"),
        pl.concat_str(
            [pl.when(c).then(pl.lit(name)) for c, name in reasons], separator=",", ignore_nulls=True
        ).alias("exclude_reason"),
    ).with_columns(
        pl.when(pl.col("exclude_reason") == "")
        .then(None)
        .otherwise(pl.col("exclude_reason"))
        .alias("exclude_reason"),
        pl.when(~pl.col("best_match"))
        .then(pl.lit("not_best"))
        .when(pl.col("exclude"))
        .then(pl.lit("excluded"))
        .otherwise(pl.lit("matched"))
        .alias("match_status"),
    )
    return df.drop("_excl_dup", "_priority")


LOG_COLUMNS = [
    "accession", "row_nr", "line", "chr_name", "chr_position", "effect_allele", "other_allele",
    "effect_weight", "effect_type", "vidx", "ID", "REF", "ALT", "source", "matched_effect_allele",
    "match_type", "is_multiallelic", "ambiguous", "match_flipped", "best_match", "exclude",
    "duplicate_best_match", "duplicate_ID", "exclude_reason", "match_status", "label",
]  # fmt: skip


def _with_unmatched(rows: pl.DataFrame, cand: pl.DataFrame) -> pl.DataFrame:
    """The match log: every candidate, plus one `unmatched` row per scoring row without any."""
    have = cand.select("accession", "row_nr").unique()
    unmatched = rows.join(have, on=["accession", "row_nr"], how="anti").with_columns(
        pl.lit("unmatched").alias("match_status"),
        pl.coalesce(pl.col("unscorable"), pl.lit("no_candidate")).alias("label"),
    )
    cand = cand.with_columns(
        pl.when(pl.col("match_status") == "excluded")
        .then(pl.col("exclude_reason").str.split(",").list.first())
        .otherwise(pl.col("match_type"))
        .alias("label")
    )
    log = pl.concat([cand, unmatched], how="diagonal_relaxed")
    return log.select([c for c in LOG_COLUMNS if c in log.columns]).sort(
        ["accession", "row_nr", "match_status"], maintain_order=True
    )


def _summaries(log: pl.DataFrame, opt: MatchOptions) -> list[ScoreMatchSummary]:
    # One final status per scoring row: its best candidate's, or unmatched.
    per_row = log.filter(pl.col("match_status") != "not_best").unique(["accession", "row_nr"], keep="first")
    out = []
    for (acc,), frame in per_row.group_by("accession", maintain_order=True):
        n = frame.height
        counts = {
            st: dict(
                frame.filter(pl.col("match_status") == st)
                .get_column("label")
                .value_counts(sort=True)
                .iter_rows()
            )
            for st in ("matched", "excluded", "unmatched")
        }
        n_matched = sum(counts["matched"].values())
        overlap = n_matched / n if n else 0.0
        passed = n_matched > 0 and overlap >= opt.min_overlap
        reason = None
        if not passed:
            if n_matched == 0:
                reason = "no variant matched"
            else:
                reason = f"overlap {overlap:.4f} is below the minimum {opt.min_overlap}"
            unscorable = {k: v for k, v in counts["unmatched"].items() if k != "no_candidate"}
            if unscorable:
                reason += " (" + ", ".join(f"{v} rows {k}" for k, v in unscorable.items()) + ")"
        out.append(
            ScoreMatchSummary(
                accession=str(acc),
                n_variants=n,
                n_matched=n_matched,
                n_excluded=sum(counts["excluded"].values()),
                n_unmatched=sum(counts["unmatched"].values()),
                overlap=overlap,
                passed=passed,
                by_match_type={str(k): int(v) for k, v in counts["matched"].items()},
                excluded_by={str(k): int(v) for k, v in counts["excluded"].items()},
                unmatched_by={str(k): int(v) for k, v in counts["unmatched"].items()},
                reason=reason,
            )
        )
    return out
