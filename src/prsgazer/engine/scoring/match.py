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

from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.common import complement_expr, runs

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
_REASONS = ["duplicate_ID", "is_ambiguous", "is_multiallelic", "match_flipped"]
_REASON = pl.Enum(_REASONS)
EFFECT_TYPES = ["additive", "dominant", "recessive", "genotypic"]


#: pgsc_calc's minimum overlap: matched / scoring-file rows below this fail the score (the one definition).
DEFAULT_MIN_OVERLAP = 0.75


class MatchOptions(BaseModel):
    """pgsc_calc's matching switches (defaults are pgsc_calc's defaults)."""

    model_config = ConfigDict(frozen=True)

    keep_ambiguous: bool = False
    keep_multiallelic: bool = False
    ignore_strand_flips: bool = False
    keep_first_match: bool = False
    min_overlap: float = Field(default=DEFAULT_MIN_OVERLAP, ge=0.0, le=1.0)


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
    weights: pl.DataFrame = Field(description="Matched rows, lean: what scoring needs (see WEIGHT_COLUMNS).")
    summaries: list[ScoreMatchSummary]
    rows: pl.DataFrame
    target_extra: pl.DataFrame

    @property
    def matched(self) -> pl.DataFrame:
        """Matched rows with their alleles and positions (MATCHED_COLUMNS), built on demand."""
        passed = self.passed
        cand = self.candidates.filter(pl.col("match_status") == "matched")
        return (
            _with_details(cand, self.rows, self.target_extra, columns=MATCHED_COLUMNS)
            .with_columns(pl.col("accession").is_in(passed).alias("score_passed"))
            .select(MATCHED_COLUMNS)
        )

    @property
    def log(self) -> pl.DataFrame:
        """One row per candidate (match_status matched / excluded / not_best) and per scoring row
        without any (unmatched, labelled no_candidate or with its unscorable reason)."""
        cand = _with_details(self.candidates, self.rows, self.target_extra).with_columns(
            pl.when(pl.col("match_status") == "excluded")
            .then(pl.col("exclude_reason").cast(pl.String))
            .otherwise(pl.col("match_type").cast(pl.String))
            .alias("label"),
            pl.col("match_status").cast(pl.String),
            pl.col("match_type").cast(pl.String),
            pl.col("exclude_reason").cast(pl.String),
            pl.col("effect_type").cast(pl.String),
        )
        unmatched = self.unmatched.with_columns(
            pl.col("accession").cast(pl.String), pl.col("effect_type").cast(pl.String)
        )
        log = pl.concat([cand.with_columns(pl.col("accession").cast(pl.String)), unmatched], how="diagonal_relaxed")
        log = log.sort(["_rid", "_order"], nulls_last=True)
        return log.select([c for c in LOG_COLUMNS if c in log.columns])

    def summary(self, accession: str) -> ScoreMatchSummary:
        return next(s for s in self.summaries if s.accession == accession)

    @property
    def passed(self) -> list[str]:
        return [s.accession for s in self.summaries if s.passed]


def match_variants(
    scores: pl.DataFrame,
    target: pl.DataFrame,
    options: MatchOptions | None = None,
    index: TargetIndex | None = None,
) -> MatchResult:
    """Match scoring rows (engine.scorefile SCHEMA, several accessions allowed, unscorable rows
    included and reported) against a target variant table (engine.genotypes VARIANT_SCHEMA, plus
    an optional `source` column; `vidx` must be the row index).

    Works on integer codes: positions as one key (chromosome rank · 2³³ + position), alleles as
    codes (with the target's complement codes for strand flips), a merge join on sorted keys, and
    numpy comparisons; strings are gathered back only for the output. The target's side of that
    (`TargetIndex`) can be built once and passed to every call against the same table.
    """
    opt = options or MatchOptions()
    if index is None:
        index = TargetIndex(target)
    elif index.height != target.height:
        raise ValueError("the target index was built for another target table")
    rows, accessions = _scoring_rows(scores)
    sco = _scoring_keys(rows, index)
    tgt = index.table
    # Sorted keys on both sides: polars merges instead of hashing.
    pairs = sco.with_columns(pl.col("_key").set_sorted()).join(
        tgt.with_columns(pl.col("_key").set_sorted()), on="_key", how="inner"
    )
    cand = _candidates(pairs, rows, sco, index, opt)
    unmatched = _unmatched(rows, cand, pairs)
    summaries = _summaries(cand, unmatched, opt, accessions)
    passed = [s.accession for s in summaries if s.passed]
    target_extra = target.select(
        "ref",
        "alt",
        pl.col("id").alias("ID"),
        (pl.col("source") if "source" in target.columns else pl.lit("target")).alias("source"),
    )
    return MatchResult(
        candidates=cand,
        unmatched=unmatched,
        weights=_matched_weights(cand, rows, passed),
        summaries=summaries,
        rows=rows,
        target_extra=target_extra,
    )


def _scoring_rows(scores: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """The scoring rows with `_rid` (row number), `accession` and `effect_type` as Enums, `_acc` (the
    accession's code); and the accessions in order of appearance."""
    accession = _enum_by_runs(scores.get_column("accession"))
    assert isinstance(accession.dtype, pl.Enum)
    accessions = accession.dtype.categories.to_list()
    # the weight columns in one chunk: gathering rows of a frame concatenated from many files is
    # eight times slower
    rows = scores.with_row_index("_rid").with_columns(
        accession,
        _enum_by_runs(scores.get_column("effect_type"), EFFECT_TYPES),
        accession.to_physical().alias("_acc"),
        *(scores.get_column(c).rechunk() for c in _WEIGHT_VALUES),
    )
    return rows, accessions


def _scoring_keys(rows: pl.DataFrame, index: TargetIndex) -> pl.DataFrame:
    """The scorable rows as position keys and allele codes against `index`, sorted by key (then row)."""
    scorable = rows.filter(pl.col("unscorable").is_null())
    return pl.DataFrame(
        {
            "_key": index.keys(scorable.get_column("chr_name"), scorable.get_column("chr_position")),
            "_rid": scorable.get_column("_rid"),
            "_acc": scorable.get_column("_acc"),
            "_ea": index.alleles(scorable.get_column("effect_allele")),
            "_oa": index.alleles(scorable.get_column("other_allele")),
        }
    ).sort("_key", maintain_order=True)


def _orientations(pairs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every orientation each (scoring row, target variant) pair fits: (pair index, priority) per
    candidate, row-major (by pair, then priority); and per pair whether the site is strand-ambiguous."""
    ea, oa, ref, alt, rf, af = (pairs.get_column(c).to_numpy() for c in ("_ea", "_oa", "_ref", "_alt", "_rf", "_af"))
    has_oa = oa != NULL_CODE
    no_oa = ~has_oa
    flags = np.stack(
        [
            has_oa & (ea == ref) & (oa == alt),  # refalt
            has_oa & (ea == alt) & (oa == ref),  # altref
            has_oa & (ea == rf) & (oa == af),  # refalt_flip
            has_oa & (ea == af) & (oa == rf),  # altref_flip
            no_oa & (ea == ref),  # no_oa_ref
            no_oa & (ea == alt),  # no_oa_alt
            no_oa & (ea == rf),  # no_oa_ref_flip
            no_oa & (ea == af),  # no_oa_alt_flip
        ],
        axis=1,
    )
    # Every orientation a pair fits is a candidate (an A/T row fits refalt and altref_flip).
    # row-major: by pair, then priority (flatnonzero on the contiguous block is far faster than 2-D nonzero)
    pair_idx, prio = np.divmod(np.flatnonzero(flags.ravel()), flags.shape[1])
    return pair_idx, prio, rf == alt


def _best_first(
    pairs: pl.DataFrame, pair_idx: np.ndarray, prio: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates with each scoring row's in (priority, target row) order: (pair index, priority,
    scoring row)."""
    # Candidates of one scoring row are adjacent (same key, merge-join order); the few rows with
    # several are put in (priority, target row) order, best first, in place.
    rid = pairs.get_column("_rid").to_numpy()[pair_idx]
    start = np.r_[True, rid[1:] != rid[:-1]] if len(rid) else np.zeros(0, dtype=bool)
    group = np.cumsum(start) - 1
    multi = np.flatnonzero(np.bincount(group)[group] > 1) if len(rid) else np.zeros(0, dtype=np.int64)
    if len(multi):
        vidx = pairs.get_column("vidx").to_numpy()[pair_idx[multi]]
        local = np.lexsort((vidx, prio[multi], group[multi]))
        order = np.arange(len(rid))
        order[multi] = multi[local]
        pair_idx, prio = pair_idx[order], prio[order]
    return pair_idx, prio, rid


def _candidates(
    pairs: pl.DataFrame, rows: pl.DataFrame, sco: pl.DataFrame, index: TargetIndex, opt: MatchOptions
) -> pl.DataFrame:
    """One row per candidate (scoring row, target variant, orientation), labelled by pgsc_calc's rules."""
    pair_idx, prio, ambiguous = _orientations(pairs)
    pair_idx, prio, rid = _best_first(pairs, pair_idx, prio)
    cand = pairs.select("_rid", "_acc", "vidx")[pair_idx].with_columns(
        pl.Series("row_nr", rows.get_column("row_nr").to_numpy()[rid]),
        pl.Series("is_multiallelic", index.multiallelic[pairs.get_column("vidx").to_numpy()[pair_idx]]),
        pl.Series("_priority", prio.astype(np.int8)),
        pl.Series("ambiguous", ambiguous[pair_idx]),
    )
    return _label(
        cand.with_row_index("_order"), opt, _same_position_rows(sco, rows.get_column("_acc").to_numpy())
    ).with_columns(
        pl.Series(MATCH_TYPES, dtype=_MATCH_TYPE).gather(pl.Series(prio)).alias("match_type"),
        pl.Series((prio & 1) == 1).alias("effect_is_alt"),  # odd priorities: the effect allele is ALT
    )


def _unmatched(rows: pl.DataFrame, cand: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """The scoring rows without any candidate, labelled no_candidate or with their unscorable reason."""
    has_cand = np.zeros(rows.height, dtype=bool)
    has_cand[cand.get_column("_rid").to_numpy()] = True
    has_pair = np.zeros(rows.height, dtype=bool)  # the target has some variant at the row's position
    has_pair[pairs.get_column("_rid").to_numpy()] = True
    return rows.filter(pl.Series(~has_cand)).with_columns(
        pl.lit("unmatched").alias("match_status"),
        pl.coalesce(pl.col("unscorable"), pl.lit("no_candidate")).alias("label"),
        (pl.col("unscorable").is_null() & pl.Series(~has_pair).filter(pl.Series(~has_cand))).alias("position_absent"),
    )


def _matched_weights(cand: pl.DataFrame, rows: pl.DataFrame, passed: list[str]) -> pl.DataFrame:
    """The matched rows, lean (WEIGHT_COLUMNS): what scoring needs."""
    m = cand.filter(pl.col("match_status") == "matched").select("_rid", "row_nr", "vidx", "effect_is_alt")
    lean = [c for c in WEIGHT_COLUMNS if c not in m.columns and c != "score_passed"]
    weights = pl.concat([m, rows.select(lean)[m.get_column("_rid")]], how="horizontal").with_columns(
        pl.col("accession").is_in(passed).alias("score_passed")
    )
    return weights.select(WEIGHT_COLUMNS)


#: Allele codes: a one-byte allele is its byte; a longer one is 256 + its index in the target
#: index's vocabulary; a missing allele is NULL_CODE; a scoring allele the target does not have
#: (nor its complement) is NO_MATCH.
NULL_CODE = np.uint32(0xFFFFFFFF)
NO_MATCH = np.uint32(0xFFFFFFFE)
#: Complement of each one-byte allele (complement_expr: A↔T, C↔G, anything else unchanged).
_BYTE_COMPLEMENT = np.arange(256, dtype=np.uint32)
_BYTE_COMPLEMENT[list(b"ATCG")] = list(b"TAGC")


class TargetIndex:
    """The target's side of matching, built once per target variant table: position keys and allele
    codes (with strand-complement codes), as a frame sorted by key (`table`). `keys` and `alleles`
    code scoring rows against it. Immutable once built: several threads may match against it."""

    def __init__(self, target: pl.DataFrame) -> None:
        _check_row_index(target)
        self.height = target.height
        # chromosomes: ranked by first appearance, so a target sorted by position (in any
        # chromosome order) has sorted keys; coded once per run
        values, lengths = runs(target.get_column("chrom"))
        self._chroms = pl.Enum(values.drop_nulls().unique(maintain_order=True))
        rank = values.cast(self._chroms).to_physical().cast(pl.Int64).fill_null(len(self._chroms.categories))
        key = np.repeat(rank.to_numpy() << 33, lengths) + target.get_column("pos").to_numpy().astype(np.int64)
        # alleles longer than one byte: a vocabulary of the target's, and of their complements
        ref, alt = target.get_column("ref"), target.get_column("alt")
        longer = pl.concat([ref.filter(ref.str.len_bytes() > 1), alt.filter(alt.str.len_bytes() > 1)]).unique()
        vocab = pl.concat([longer, pl.DataFrame({"a": longer}).select(complement_expr("a")).to_series()]).unique()
        self._alleles = pl.Enum(vocab.drop_nulls().sort())
        ref_code, alt_code = self.alleles(ref), self.alleles(alt)
        comp = np.concatenate(
            [
                _BYTE_COMPLEMENT,
                256
                + pl.DataFrame({"a": self._alleles.categories})
                .select(complement_expr("a").cast(self._alleles).to_physical())
                .to_series()
                .to_numpy()
                .astype(np.uint32),
            ]
        )
        self.multiallelic = target.get_column("is_multiallelic").to_numpy()
        table = pl.DataFrame(
            {
                "_key": key,
                "vidx": target.get_column("vidx"),
                "_ref": ref_code,
                "_alt": alt_code,
                "_rf": _complement(comp, ref_code),
                "_af": _complement(comp, alt_code),
            }
        )
        if not table.get_column("_key").is_sorted():
            table = table.sort("_key", "vidx")
        self.table = table.with_columns(pl.col("_key").set_sorted())

    def state(self) -> tuple[pl.DataFrame, dict[str, Any]]:
        """What `restore` needs besides the target table: the key table and the two vocabularies
        (chromosomes in rank order, alleles longer than one byte in code order)."""
        vocab = {"chroms": self._chroms.categories.to_list(), "alleles": self._alleles.categories.to_list()}
        return self.table, {"height": self.height, **vocab}

    @classmethod
    def restore(cls, target: pl.DataFrame, table: pl.DataFrame, state: dict[str, Any]) -> TargetIndex:
        """The index of `target` from its `state()` (kept by `scoring.index_cache`); ValueError when the
        two do not fit together (another table, another layout, keys out of order)."""
        _check_row_index(target)
        if not (state.get("height") == target.height == table.height) or table.schema != _INDEX_SCHEMA:
            raise ValueError("the index state is of another target table or layout")
        if not table.get_column("_key").is_sorted():
            raise ValueError("the index state's keys are not sorted")
        index = cls.__new__(cls)
        index.height = target.height
        index._chroms = pl.Enum(list(state["chroms"]))
        index._alleles = pl.Enum(list(state["alleles"]))
        index.multiallelic = target.get_column("is_multiallelic").to_numpy()
        index.table = table.rechunk().with_columns(pl.col("_key").set_sorted())  # one chunk, as built
        return index

    def keys(self, chrom: pl.Series, pos: pl.Series) -> np.ndarray:
        """Position keys of scoring rows (chromosomes the target lacks rank after its own, one
        rank each; a missing chromosome matches nothing)."""
        values, lengths = runs(chrom)
        n = len(self._chroms.categories)
        phys = values.cast(self._chroms, strict=False).to_physical().cast(pl.Int64)
        rank = phys.fill_null(-1).to_numpy().copy()
        other = np.flatnonzero(phys.is_null().to_numpy())
        if len(other):
            _, inverse = np.unique(values.gather(other).fill_null("").to_numpy().astype(str), return_inverse=True)
            rank[other] = n + 1 + inverse
        return np.repeat(rank << 33, lengths) + pos.to_numpy().astype(np.int64)

    def alleles(self, col: pl.Series) -> np.ndarray:
        """UInt32 allele codes (see NULL_CODE): one-byte alleles read straight from their bytes."""
        byte = col.cast(pl.Binary).bin.reinterpret(dtype=pl.UInt8)  # null unless one byte long
        if byte.null_count() == 0:
            return byte.to_numpy().astype(np.uint32)
        codes = byte.fill_null(0).to_numpy().astype(np.uint32)
        rest = np.flatnonzero(byte.is_null().to_numpy())
        codes[rest] = NULL_CODE
        if col.null_count():
            rest = rest[col.gather(rest).is_not_null().to_numpy()]
        if len(rest):
            k = col.gather(rest).cast(self._alleles, strict=False).to_physical().cast(pl.Int64)
            codes[rest] = np.where(k.is_null().to_numpy(), NO_MATCH, k.fill_null(0).to_numpy() + 256)
        return codes


def _check_row_index(target: pl.DataFrame) -> None:
    v = target.get_column("vidx").to_numpy()
    # n strictly increasing integers from 0 to n - 1 are 0 … n - 1 (no int64 copy and differences: the
    # index of a 5M-variant WGS table took 0.37 s with this check, 0.40 s with those, in page faults mostly)
    if len(v) and (v[0] != 0 or v[-1] != len(v) - 1 or not (v[1:] > v[:-1]).all()):
        raise ValueError("target vidx must be the row index of the target table")


#: Columns of `TargetIndex.table`.
_INDEX_SCHEMA = pl.Schema(
    {"_key": pl.Int64, "vidx": pl.UInt32, "_ref": pl.UInt32, "_alt": pl.UInt32, "_rf": pl.UInt32, "_af": pl.UInt32}
)


def _complement(comp: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """`comp[codes]`, a missing allele's complement being missing."""
    known = codes < len(comp)
    return np.where(known, comp[np.where(known, codes, 0)], codes)


def _enum_by_runs(col: pl.Series, categories: list[str] | None = None) -> pl.Series:
    """`col` as an Enum of `categories` (default: its values in order of appearance), each value
    looked up once per run of equal values (a score's id and effect type are long runs)."""
    values, lengths = runs(col)
    dtype = pl.Enum(categories if categories is not None else values.drop_nulls().unique(maintain_order=True))
    return values.cast(dtype).gather(np.repeat(np.arange(len(values)), lengths))


def _same_position_rows(sco: pl.DataFrame, acc_by_rid: np.ndarray) -> np.ndarray | None:
    """Scoring rows sharing a position with another row of the same score (by `_rid`), or None
    when that cannot be read off neighbours (a score's rows interleaved with another's)."""
    if len(acc_by_rid) and int((acc_by_rid[1:] != acc_by_rid[:-1]).sum()) + 1 != int(
        (np.bincount(acc_by_rid) > 0).sum()
    ):
        return None
    acc = sco.get_column("_acc").to_numpy()
    rid = sco.get_column("_rid").to_numpy()
    key = sco.get_column("_key").to_numpy()
    same = (key[1:] == key[:-1]) & (acc[1:] == acc[:-1])  # sco is sorted by key, then row
    flag = np.zeros(len(key), dtype=bool)
    flag[1:] |= same
    flag[:-1] |= same
    out = np.zeros(len(acc_by_rid), dtype=bool)
    out[rid[flag]] = True
    return out


_WEIGHT_VALUES = ["effect_weight", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight"]
#: Columns of `MatchResult.weights`: what scoring needs, no strings but the score id.
WEIGHT_COLUMNS = [
    "accession", "row_nr", "vidx", "effect_is_alt", "effect_type", "effect_weight",
    "dosage_0_weight", "dosage_1_weight", "dosage_2_weight", "score_passed",
]  # fmt: skip
#: Columns of `MatchResult.matched` (weights plus positions and alleles; the log has everything).
MATCHED_COLUMNS = [
    "accession", "row_nr", "vidx", "chr_name", "chr_position", "effect_allele", "other_allele",
    "REF", "ALT", "match_type", "matched_effect_allele", "effect_is_alt", "effect_type",
    "effect_weight", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight",
    "allelefrequency_effect", "score_passed",
]  # fmt: skip


def _with_details(
    cand: pl.DataFrame, rows: pl.DataFrame, target_extra: pl.DataFrame, columns: list[str] | None = None
) -> pl.DataFrame:
    """Candidates plus their scoring-row columns (by `_rid`) and target columns (by `vidx`),
    limited to `columns` when given (gathering strings is the costly part)."""
    want = set(columns) if columns is not None else None
    own = set(cand.columns)
    extra = [c for c in rows.columns if c not in own and c != "unscorable" and (want is None or c in want)]
    tcols = [
        (src, dst)
        for src, dst in (("ref", "REF"), ("alt", "ALT"), ("ID", "ID"), ("source", "source"))
        if want is None or dst in want
    ]
    tgt = target_extra.select([pl.col(a).alias(b) for a, b in tcols])[cand.get_column("vidx")]
    return pl.concat([cand, rows.select(extra)[cand.get_column("_rid")], tgt], how="horizontal").with_columns(
        # the effect allele in target orientation: ALT for *alt* match types, REF for *ref* ones
        pl.when(pl.col("effect_is_alt")).then(pl.col("ALT")).otherwise(pl.col("REF")).alias("matched_effect_allele")
    )


def _label(df: pl.DataFrame, opt: MatchOptions, suspects: np.ndarray | None = None) -> pl.DataFrame:
    """pgscatalog-match's labelling (best match, duplicates, exclusions, status).

    `df` is sorted by scoring row (`_rid`), match priority, target row, so each row's candidates
    are contiguous with the best first: group-wise steps use neighbours instead of windows.
    """
    rid = pl.col("_rid")
    starts = rid != rid.shift(1)
    same_prev = (rid == rid.shift(1)).fill_null(False)
    same_next = (rid == rid.shift(-1)).fill_null(False)
    df = df.with_columns(
        (pl.col("_priority") == pl.when(starts.fill_null(True)).then(pl.col("_priority")).forward_fill()).alias(
            "_best"
        ),
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
    pair_key = (
        pl.col("_acc").cast(pl.UInt64) * (1 << 34)
        + pl.col("vidx").cast(pl.UInt64) * 2
        + pl.col("duplicate_best_match").cast(pl.UInt64)
    )
    # Only rows of one score at one position can best-match the same variant: when the caller
    # knows which scoring rows those are (`suspects`), the hash step runs on them alone.
    dup = np.zeros(df.height, dtype=bool)
    look = df.select(pl.col("best_match"), pl.col("_rid"))
    mask = look.get_column("best_match").to_numpy()
    if suspects is not None:
        mask = mask & suspects[look.get_column("_rid").to_numpy()]
    where = np.flatnonzero(mask)
    if len(where):
        keys = df[where].select(pair_key.alias("k")).get_column("k")
        dup[where] = keys.is_duplicated().to_numpy()
    df = df.with_columns(pl.Series("duplicate_ID", dup))
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
    first_reason = pl.lit(None, dtype=_REASON)
    for cond, name in reversed(reasons):
        first_reason = pl.when(cond).then(pl.lit(name, dtype=_REASON)).otherwise(first_reason)
    df = df.with_columns(
        pl.any_horizontal([c for c, _ in reasons]).alias("exclude"),
        first_reason.alias("exclude_reason"),
    ).with_columns(
        pl.when(~pl.col("best_match"))
        .then(pl.lit("not_best", dtype=_STATUS))
        .when(pl.col("exclude"))
        .then(pl.lit("excluded", dtype=_STATUS))
        .otherwise(pl.lit("matched", dtype=_STATUS))
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
    # Best candidates: label code 0-7 (matched, by match type) or 8+ (excluded, by first reason),
    # counted per score with one bincount.
    labels = MATCH_TYPES + _REASONS
    n_labels = len(labels)
    is_best = cand.get_column("best_match").to_numpy()
    acc = cand.get_column("_acc").to_numpy()[is_best].astype(np.int64)
    excluded = (cand.get_column("match_status") == "excluded").to_numpy()[is_best]
    label = np.where(
        excluded,
        len(MATCH_TYPES) + cand.get_column("exclude_reason").to_physical().fill_null(0).to_numpy()[is_best],
        cand.get_column("_priority").to_numpy()[is_best],
    ).astype(np.int64)
    n = np.bincount(acc * n_labels + label, minlength=len(accessions) * n_labels)
    nz = np.flatnonzero(n)
    best = pl.DataFrame(
        {
            "_acc": (nz // n_labels).astype(np.uint32),
            "match_status": np.where(nz % n_labels < len(MATCH_TYPES), "matched", "excluded"),
            "label": [labels[k] for k in nz % n_labels],
            "len": n[nz].astype(np.uint32),
        }
    )
    unm = unmatched.group_by("_acc", "match_status", "label").len()
    counts = (
        pl.concat([best, unm.select("_acc", "match_status", "label", "len")], how="vertical_relaxed")
        .group_by("_acc", "match_status", "label")
        .agg(pl.col("len").sum())
        .sort("len", "label", descending=[True, False])
        .with_columns(
            pl.col("_acc").replace_strict(dict(enumerate(accessions)), return_dtype=pl.String).alias("accession")
        )
        .select("accession", "match_status", "label", "len")
    )
    table: dict[str, dict[str, dict[str, int]]] = {
        a: {"matched": {}, "excluded": {}, "unmatched": {}} for a in accessions
    }
    for acc, status, label, n in counts.iter_rows():
        table[acc][status][label] = int(n)
    return [
        summarize(acc, table[acc]["matched"], table[acc]["excluded"], table[acc]["unmatched"], opt.min_overlap)
        for acc in accessions
    ]


def summarize(
    accession: str, matched: dict[str, int], excluded: dict[str, int], unmatched: dict[str, int], min_overlap: float
) -> ScoreMatchSummary:
    """One score's outcome from its rows' final statuses (counts by match type, by first exclusion
    reason, by unmatched reason): overlap, passed (at least one row matched and the overlap reaches
    `min_overlap`) and the reason when not. Also used to combine scores computed in parts."""
    n_matched = sum(matched.values())
    n_excluded = sum(excluded.values())
    n_unmatched = sum(unmatched.values())
    n = n_matched + n_excluded + n_unmatched
    overlap = n_matched / n if n else 0.0
    passed = n_matched > 0 and overlap >= min_overlap
    reason = None
    if not passed:
        reason = "no variant matched" if n_matched == 0 else f"overlap {overlap:.4f} is below the minimum {min_overlap}"
        unscorable = {k: v for k, v in unmatched.items() if k != "no_candidate"}
        if unscorable:
            reason += " (" + ", ".join(f"{v} rows {_EXPLAIN.get(k, k)}" for k, v in unscorable.items()) + ")"
    return ScoreMatchSummary(
        accession=accession,
        n_variants=n,
        n_matched=n_matched,
        n_excluded=n_excluded,
        n_unmatched=n_unmatched,
        overlap=overlap,
        passed=passed,
        by_match_type=matched,
        excluded_by=excluded,
        unmatched_by=unmatched,
        reason=reason,
    )


_EXPLAIN = {
    "no_position": "no_position (rsID only: use the harmonised scoring file)",
    "no_harmonised_position": "no_harmonised_position (harmonisation failed)",
    "named_allele": "named_allele (HLA/APOE alleles are not SNP genotypes)",
}
