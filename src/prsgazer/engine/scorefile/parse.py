"""The polars parser of scoring files: the text split into fields, then one lazy validating query
per column layout (`_plan`, cached) that normalises it to `model.SCHEMA`. It reads every layout and
decides every error (`InputError` naming file, line and column); the compiled reader (`fast`) covers
the common layout and hands everything else here. See docs/engine.md ("Scoring files").
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from dataclasses import dataclass
from dataclasses import field as _field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
from isal import igzip

from prsgazer.engine.common import DNA_ALLELE, GZIP_ERRORS, chrom_expr
from prsgazer.engine.scorefile.header import ScoringFileHeader, parse_header_lines
from prsgazer.engine.scorefile.model import SCHEMA, EffectType, ScoringFile, Unscorable, stem
from prsgazer.errors import InputError

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n", ""}
_MISSING = {"", "na", "nan", "none", "null", "."}


def _read_bytes(p: Path) -> bytes:
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return igzip.decompress(raw)
        except GZIP_ERRORS as exc:
            raise InputError(
                f"gzip data is truncated or corrupt ({exc})", file=p, hint="download the file again"
            ) from exc
    return raw


_NON_SPACE = re.compile(rb"\S")
_SPACE_IN_FIELD = (b" ", b"\x0b", b"\x0c", b"\r")  # whitespace a field may carry (tab and newline split)


def parse_text(p: Path, cid: str, data: bytes | None = None) -> ScoringFile:
    """Parse a scoring file with the polars path; `data`: its text when already read (not decompressed again)."""
    if data is None:
        data = _read_bytes(p)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=p) from exc
    split = split_header(data, complete=True)
    assert split is not None
    header_lines, pos, end = split
    n_header = len(header_lines)
    header = parse_header_lines(header_lines, p)
    if _NON_SPACE.search(data, pos) is None:
        raise InputError(
            "empty scoring file: no column header line and no variant rows",
            file=p,
            line=n_header + 1,
            hint="a scoring file needs a tab-separated column line (effect_allele, effect_weight, ...)",
        )
    column_line = n_header + 1
    columns = column_names(data[pos:end].decode("utf-8"), p, column_line)
    rows = data[end + 1 :]
    del data
    if _NON_SPACE.search(rows) is None:
        raise InputError("scoring file has a column line but no variant rows", file=p, line=column_line)
    # Columns named `_…` are not PGS columns: renamed out of the parser's own `_` namespace, then dropped.
    table = [f" {c}" if c.startswith("_") else c for c in columns]
    frame = _read_fields(rows, table, first_line=column_line + 1)
    if frame is None:  # ragged rows: the line-by-line reader accepts trailing tabs, or names the bad line
        frame = _split_fields(rows, table, p, first_line=column_line + 1)
    del rows
    variants, harmonised = _normalise(frame, columns, header, p)
    return ScoringFile(path=p, cid=cid, header=header, harmonised=harmonised, variants=variants)


def split_header(text: bytes, *, complete: bool) -> tuple[list[str], int, int] | None:
    """The leading '#' lines (decoded, without '\\r') and the (start, end) of the column line after them.

    `complete`: `text` is the whole file (a last line without newline ends at the end of the text);
    otherwise None when `text` ends before the column line does (the caller reads more)."""
    lines: list[str] = []
    pos = 0
    while True:
        end = text.find(b"\n", pos)
        if end < 0:
            if not complete:
                return None
            end = len(text)
        if not text.startswith(b"#", pos):
            return lines, pos, end
        lines.append(text[pos:end].decode("utf-8").rstrip("\r"))
        pos = end + 1


def column_names(line: str | None, p: Path, lineno: int) -> list[str]:
    names = [c.strip() for c in (line or "").rstrip("\r").split("\t")]
    while names and names[-1] == "":
        names.pop()  # trailing tabs
    if not names:
        raise InputError("empty column header line", file=p, line=lineno)
    # OmicsPred and some custom files spell rsID in lower case.
    names = ["rsID" if n.lower() == "rsid" else n for n in names]
    seen: set[str] = set()
    for n in names:
        if n == "":
            raise InputError("empty column name in the column header line", file=p, line=lineno)
        if n in seen:
            raise InputError(f"column {n!r} appears twice", file=p, line=lineno, field=n)
        seen.add(n)
    return names


def _fields_frame(frame: pl.LazyFrame, columns: list[str], first_line: int, strip: bool) -> pl.DataFrame:
    """`_line` + one stripped String column per name, blank lines dropped (their numbers kept).

    Columns named ` …` (the input's `_…` columns) are dropped.
    """
    blank = pl.all_horizontal([pl.col(c).is_null() for c in columns])
    framed = frame.with_row_index("_i")
    if strip:
        framed = framed.with_columns(_stripped(c) for c in columns)
    return (
        framed.filter(~blank)
        .select(
            (pl.col("_i").cast(pl.Int64) + first_line).alias("_line"),
            *[c for c in columns if not c.startswith(" ")],
        )
        .collect(engine="in-memory")
    )


def _stripped(col: str) -> pl.Expr:
    """The field without surrounding whitespace; empty is null, as the table reader reads an empty field."""
    c = pl.col(col).str.strip_chars()
    return pl.when(c == "").then(None).otherwise(c).alias(col)


def _read_fields(rows: bytes, columns: list[str], first_line: int) -> pl.DataFrame | None:
    """Fast path: the rows as a tab-separated table. None when a row has more fields than columns."""
    try:
        frame = pl.read_csv(
            rows,
            has_header=False,
            schema={c: pl.String for c in columns},
            separator="\t",
            quote_char=None,
            missing_columns="insert",  # every row short of the last fields (tested on the first row)
        )
    except pl.exceptions.PolarsError:
        return None
    n_lines = rows.count(b"\n") + (0 if rows.endswith(b"\n") else 1)
    if frame.height != n_lines:  # the reader merged or dropped a line: let the line reader decide
        return None
    strip = not rows.isascii() or any(c in rows for c in _SPACE_IN_FIELD)  # memchr, unlike a regex class
    return _fields_frame(frame.lazy(), columns, first_line, strip)


def _split_fields(rows: bytes, columns: list[str], p: Path, first_line: int) -> pl.DataFrame:
    """Slow path: split each line on tabs; extra fields are allowed only when empty (trailing tabs)."""
    lines = pl.read_csv(
        io.BytesIO(rows),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        new_columns=["l"],
        schema={"l": pl.String},
    ).get_column("l")
    df = pl.DataFrame({"_raw": lines}).with_row_index("_i")
    fields = pl.col("_raw").str.strip_chars_end("\r").str.split("\t")
    n = len(columns)
    df = df.with_columns(fields.alias("_f"), fields.list.len().alias("_n"))
    extra_nonempty = df.filter(
        (pl.col("_n") > n) & pl.col("_f").list.slice(n).list.eval(pl.element().str.strip_chars() != "").list.any()
    )
    if extra_nonempty.height:
        i, nf = extra_nonempty.row(0, named=True)["_i"], extra_nonempty.row(0, named=True)["_n"]
        raise InputError(
            f"row has {nf} fields but the column line has {n}",
            file=p,
            line=first_line + int(i),
            hint="fields must be tab-separated and match the column line",
        )
    split = df.lazy().select(
        *[pl.col("_f").list.get(k, null_on_oob=True).alias(name) for k, name in enumerate(columns)]
    )
    return _fields_frame(split, columns, first_line, strip=True)


@functools.lru_cache(maxsize=64)
def fast_roles(columns: tuple[str, ...], harmonised: bool) -> np.ndarray | None:
    """The compiled reader's role of each column, or None when the normalising query of this layout
    reads a column the compiled reader does not handle (flags, dosage weights, effect_type, ...)."""
    from prsgazer.engine.scorefile import kernel as K  # the role codes (numba is loaded by then)

    roles = {
        "rsID": K.RSID,
        "hm_rsID": K.HM_RSID,
        "effect_allele": K.EFFECT_ALLELE,
        "other_allele": K.OTHER_ALLELE,
        "effect_weight": K.WEIGHT,
        "allelefrequency_effect": K.ALLELE_FREQ,
    }
    if harmonised:
        roles |= {"hm_chr": K.CHROM, "hm_pos": K.POS, "hm_inferOtherAllele": K.INFER_OTHER}
    elif {"chr_name", "chr_position"} <= set(columns):
        roles |= {"chr_name": K.CHROM, "chr_position": K.POS}
    # The columns the polars path reads, from its own query: anything beyond the roles sends the file there.
    plan = _plan(columns, harmonised)
    exprs = [e for stage in plan.stages for e in stage.values()] + list(plan.output)
    read = {name for e in exprs for name in e.meta.root_names()} & set(columns)
    if not read <= roles.keys():
        return None
    return np.array([roles[c] if c in read else K.IGNORED for c in columns], dtype=np.int8)


def _any_case(words: set[str]) -> list[str]:
    """Every upper/lower-case spelling of the words ('na' → na, nA, Na, NA): matched without lowercasing."""
    out = {"".join(c) for w in words for c in itertools.product(*[{ch.lower(), ch.upper()} for ch in w])}
    return sorted(out)


_TRUE_ANY_CASE = _any_case(_TRUE)
_FALSE_ANY_CASE = _any_case(_FALSE)
_MISSING_ANY_CASE = _any_case(_MISSING)
_EFFECT_TYPES = [e.value for e in EffectType]


class _Check(NamedTuple):
    """One validation, in the order they are reported: the first row where `mask` holds fails."""

    mask: str
    field: str
    message: str  # may use {value}: the field's text on that row (`value_col` of the result, else the input)
    hint: str | None = None
    value_col: str | None = None


def _normalise(
    frame: pl.DataFrame, columns: list[str], header: ScoringFileHeader, p: Path
) -> tuple[pl.DataFrame, bool]:
    """Validate and normalise the field table in one lazy query; on a failed check, name line and field."""
    cols = set(columns)
    has_dosage = {"dosage_0_weight", "dosage_1_weight", "dosage_2_weight"} <= cols
    column_line = header.n_header_lines + 1
    if "effect_allele" not in cols:
        raise InputError("required column 'effect_allele' is missing", file=p, line=column_line, field="effect_allele")
    if "effect_weight" not in cols and not has_dosage:
        raise InputError(
            "no weight column: need 'effect_weight' or all of dosage_0_weight, dosage_1_weight, dosage_2_weight",
            file=p,
            line=column_line,
            field="effect_weight",
        )
    has_pos = {"chr_name", "chr_position"} <= cols
    has_hm = {"hm_chr", "hm_pos"} <= cols
    if not (has_pos or has_hm or "rsID" in cols):
        raise InputError(
            "no column locates the variants: need chr_name + chr_position, hm_chr + hm_pos, or rsID",
            file=p,
            line=column_line,
            field="chr_position",
        )
    harmonised = header.HmPOS_build is not None and has_hm
    plan = _plan(tuple(columns), harmonised)
    lazy = frame.lazy()
    for stage in plan.stages:
        lazy = lazy.with_columns(**stage)
    result = lazy.collect(engine="in-memory")  # the streaming engine's start-up costs more on small files
    # row_nr and allele frequency are checked after the whole-file harmonisation check, as before.
    late = {"_row_nr_nan", "_row_nr_int", "_allelefrequency_effect_nan"}
    failed = result.select([pl.col(c.mask).any() for c in plan.checks]).row(0)
    for check, bad in zip(plan.checks, failed, strict=True):
        if bad and check.mask not in late:
            _raise_first(result, check, p)
    line = result.get_column("_line")
    n = result.height
    if harmonised and result.get_column("_unscorable").eq_missing(Unscorable.NO_HARMONISED_POSITION.value).all():
        raise InputError(
            f"harmonisation failed for every row ({n} rows): hm_chr/hm_pos are empty",
            file=p,
            line=int(line[0]),
            field="hm_pos",
            hint=f"nothing in this file can be placed on {header.HmPOS_build}; use the author-reported "
            "file with liftover, or another score",
        )
    for check, bad in zip(plan.checks, failed, strict=True):
        if bad and check.mask in late:
            _raise_first(result, check, p)
    # A file without pgs_id / omicspred_id / pgs_name is named after itself (not "unnamed").
    name = header.accession if header.accession != "unnamed" else stem(p)
    out = result.select(plan.output).with_columns(pl.col("accession").fill_null(name))
    if "row_nr" in columns:  # otherwise the row numbers are 0..n-1, unique by construction
        dup = out.select(pl.struct("accession", "row_nr").is_duplicated()).to_series()
        if dup.any():
            i = int(dup.arg_true()[0])
            raise InputError(
                f"row_nr {out['row_nr'][i]} appears twice for score {out['accession'][i]!r}",
                file=p,
                line=int(line[i]),
                field="row_nr",
            )
    return out, harmonised


class _Plan(NamedTuple):
    """The normalising query of one column layout: stages of columns, checks in report order, output."""

    stages: tuple[dict[str, pl.Expr], ...]
    checks: tuple[_Check, ...]
    output: tuple[pl.Expr, ...]


@functools.lru_cache(maxsize=64)
def _plan(columns: tuple[str, ...], harmonised: bool) -> _Plan:
    """Built once per column layout: most files of a run share a few, and building costs milliseconds."""
    b = _Builder(frozenset(columns), harmonised)
    _plan_complex_rows(b)
    _plan_weights(b)
    _plan_positions(b)
    _plan_row_fields(b)
    third = _plan_derived()
    fourth = _plan_masks(b)
    return _Plan(stages=(b.first, b.second, third, fourth), checks=tuple(b.checks), output=_plan_output(b.cols))


@dataclass(frozen=True)
class _Builder:
    """The normalising query of one layout while it is built: the first two passes and the checks, in
    report order (the `_plan_*` steps add to them in a fixed order, which is the order errors are reported)."""

    cols: frozenset[str]
    harmonised: bool
    first: dict[str, pl.Expr] = _field(default_factory=dict)  # pass 1: per-field text
    second: dict[str, pl.Expr] = _field(default_factory=dict)  # pass 2: values from that text
    checks: list[_Check] = _field(default_factory=list)

    @property
    def has_dosage(self) -> bool:
        return {"dosage_0_weight", "dosage_1_weight", "dosage_2_weight"} <= self.cols

    def text(self, col: str) -> pl.Expr:
        """The field with the missing-value spellings (NA, ., none, ...) as null."""
        if col not in self.cols:
            return _NO_TEXT
        c = pl.col(col)
        return pl.when(c.is_in(_MISSING_ANY_CASE)).then(None).otherwise(c)

    def flag(self, col: str) -> None:
        """`_col`: a True/False column (False when absent), with its check."""
        if col in self.cols:
            c = pl.col(col).fill_null("")
            self.first[f"_{col}"] = c.is_in(_TRUE_ANY_CASE)
            self.first[f"_{col}_bad"] = ~(c.is_in(_TRUE_ANY_CASE) | c.is_in(_FALSE_ANY_CASE))
            self.checks.append(_Check(f"_{col}_bad", col, "expected True/False, got {value!r}"))
        else:
            self.first[f"_{col}"] = pl.lit(False)

    def number(self, col: str, *, required: bool = False) -> None:
        """`_col`: a Float64 column (null when absent), `_col_raw` its text, with its checks."""
        if col not in self.cols:
            self.second[f"_{col}"] = _NO_FLOAT
            return
        self.first[f"_{col}_raw"] = self.text(col)
        self.second[f"_{col}"] = pl.col(f"_{col}_raw").cast(pl.Float64, strict=False)
        self.checks.append(_Check(f"_{col}_nan", col, "not a number: {value!r}", value_col=f"_{col}_raw"))
        if required:
            self.checks.append(_Check(f"_{col}_missing", col, "missing value"))


_NO_TEXT = pl.lit(None, dtype=pl.String)
_NO_FLOAT = pl.lit(None, dtype=pl.Float64)


def _plan_complex_rows(b: _Builder) -> None:
    """Complex-row flags (rows not scorable from SNP genotypes) and the alleles."""
    cols = b.cols
    for col in ("is_interaction", "is_haplotype", "is_diplotype"):
        b.flag(col)
    vtype_named = (
        b.text("variant_type").str.to_lowercase().str.contains("hla|apoe|haplotype|diplotype|allele")
        if "variant_type" in cols
        else pl.lit(False)
    )
    b.first["_vtype_named"] = vtype_named.fill_null(False)
    b.first["_ea"] = b.text("effect_allele").str.to_uppercase()
    b.checks.append(_Check("_ea_missing", "effect_allele", "missing effect allele"))
    b.checks.append(
        _Check(
            "_ea_dna",
            "effect_allele",
            "effect allele {value!r} is not a DNA sequence (A, C, G, T)",
            "flag HLA/APOE/haplotype rows with is_haplotype or variant_type; otherwise fix the allele",
        )
    )
    oa = b.text("other_allele").str.to_uppercase()
    if b.harmonised and "hm_inferOtherAllele" in cols:
        oa = pl.coalesce(oa, b.text("hm_inferOtherAllele").str.to_uppercase())
    b.first["_oa_given"] = oa
    oa_field = "other_allele" if "other_allele" in cols else "hm_inferOtherAllele"
    b.checks.append(
        _Check(
            "_oa_dna",
            oa_field,
            "other allele {value!r} is not a DNA sequence (A, C, G, T)",
            value_col="_oa" if "other_allele" in cols else None,
        )
    )


def _plan_weights(b: _Builder) -> None:
    """Weights (effect_weight, or dosage weights), dominant / recessive flags and the effect type."""
    b.number("effect_weight", required=not b.has_dosage)
    if b.has_dosage:
        for k in range(3):
            b.number(f"dosage_{k}_weight")
        b.checks.append(_Check("_dosage_partial", "", "dosage weights must be given for all of dosage 0, 1 and 2"))
        b.checks.append(_Check("_no_weight", "effect_weight", "row has neither effect_weight nor dosage weights"))
    else:
        for k in range(3):
            b.second[f"_dosage_{k}_weight"] = _NO_FLOAT
    b.flag("is_dominant")
    b.flag("is_recessive")
    b.checks.append(_Check("_dom_rec", "is_recessive", "a row cannot be both dominant and recessive"))
    if "effect_type" in b.cols:
        b.first["_et_given"] = b.text("effect_type").fill_null(EffectType.ADDITIVE.value).str.to_lowercase()
        b.checks.append(
            _Check("_et_bad", "effect_type", "unknown effect type {value!r} (additive, dominant, recessive, genotypic)")
        )
    else:
        b.first["_et_given"] = pl.lit(EffectType.ADDITIVE.value)


def _plan_positions(b: _Builder) -> None:
    """Chromosome and position (harmonised, else author-reported), and the rsID."""
    cols = b.cols
    if b.harmonised:
        chrom_col, pos_col = "hm_chr", "hm_pos"
    elif {"chr_name", "chr_position"} <= cols:
        chrom_col, pos_col = "chr_name", "chr_position"
    else:
        chrom_col, pos_col = None, None
    b.first["_chrom"] = chrom_expr(b.text(chrom_col)) if chrom_col else _NO_TEXT
    if pos_col is not None:
        b.first["_pos_txt"] = b.text(pos_col)
        b.second["_pos"] = pl.col("_pos_txt").cast(pl.Int64, strict=False)
        b.checks.append(_Check("_pos_bad", pos_col, "position {value!r} is not a positive integer"))
    else:
        b.first["_pos_txt"] = _NO_TEXT
        b.second["_pos"] = pl.lit(None, dtype=pl.Int64)
    rsid = b.text("rsID")
    if "hm_rsID" in cols:
        rsid = pl.coalesce(rsid, b.text("hm_rsID"))
    b.first["_rsid"] = rsid
    if not b.harmonised:
        b.checks.append(
            _Check(
                "_unlocated",
                "rsID" if "rsID" in cols else "chr_position",
                "row has neither a position (chr_name + chr_position) nor an rsID",
                "every variant row needs chr_name and chr_position (or an rsID in a file to be harmonised)",
            )
        )


def _plan_row_fields(b: _Builder) -> None:
    """The score a row belongs to (pgsc_calc-normalised files), its row number and allele frequency."""
    b.first["_accession"] = b.text("accession")  # null: the file's own name, filled in per file
    b.number("row_nr")
    if "row_nr" in b.cols:
        b.checks.append(
            _Check("_row_nr_int", "row_nr", "row_nr {value!r} is not a whole number ≥ 0", value_col="_row_nr_raw")
        )
    b.number("allelefrequency_effect")


def _plan_derived() -> dict[str, pl.Expr]:
    """Pass 3: the complex-row reason, the other allele (unknown when several are given), located or not."""
    ea = pl.col("_ea")
    named = (
        pl.col("_vtype_named")
        | ea.str.starts_with("HLA")
        | ea.str.contains("*", literal=True)
        | ea.is_in(["P", "N"])
        | ea.str.starts_with("APOE")
    ).fill_null(False)
    return {
        "_reason0": pl.when(pl.col("_is_interaction"))
        .then(pl.lit(Unscorable.INTERACTION.value))
        .when(pl.col("_is_diplotype"))
        .then(pl.lit(Unscorable.DIPLOTYPE.value))
        .when(pl.col("_is_haplotype"))
        .then(pl.lit(Unscorable.HAPLOTYPE.value))
        .when(named)
        .then(pl.lit(Unscorable.NAMED_ALLELE.value))
        .otherwise(None),
        # Several possible other alleles ("A/G"): unknown other allele, as pgsc_calc does.
        "_oa": pl.when(pl.col("_oa_given").str.contains("/", literal=True)).then(None).otherwise(pl.col("_oa_given")),
        "_located": pl.col("_chrom").is_not_null() & pl.col("_pos").is_not_null(),
    }


def _plan_masks(b: _Builder) -> dict[str, pl.Expr]:
    """Pass 4: the mask of every check of this layout, the effect type and the unscorable reason."""
    ea = pl.col("_ea")
    all_d = pl.all_horizontal([pl.col(f"_dosage_{k}_weight").is_not_null() for k in range(3)])
    any_d = pl.any_horizontal([pl.col(f"_dosage_{k}_weight").is_not_null() for k in range(3)])
    simple = pl.col("_reason0").is_null()
    no_pos_reason = Unscorable.NO_HARMONISED_POSITION.value if b.harmonised else Unscorable.NO_POSITION.value
    acgt = DNA_ALLELE
    fourth: dict[str, pl.Expr] = {
        "_ea_missing": ea.is_null() & simple,
        "_ea_dna": simple & ~ea.fill_null("").str.contains(acgt),
        "_oa_dna": simple & pl.col("_oa").is_not_null() & ~pl.col("_oa").fill_null("A").str.contains(acgt),
        "_dosage_partial": any_d & ~all_d,
        "_no_weight": simple & ~all_d & pl.col("_effect_weight").is_null(),
        "_dom_rec": pl.col("_is_dominant") & pl.col("_is_recessive"),
        "_et_bad": ~pl.col("_et_given").is_in(_EFFECT_TYPES),
        "_pos_bad": pl.col("_pos_txt").is_not_null() & (pl.col("_pos").is_null() | (pl.col("_pos").fill_null(1) < 1)),
        "_unlocated": simple & ~pl.col("_located") & pl.col("_rsid").is_null(),
        "_effect_weight_missing": simple & pl.col("_effect_weight").is_null(),
        "_effect_type": pl.when(all_d)
        .then(pl.lit(EffectType.GENOTYPIC.value))
        .when(pl.col("_is_dominant"))
        .then(pl.lit(EffectType.DOMINANT.value))
        .when(pl.col("_is_recessive"))
        .then(pl.lit(EffectType.RECESSIVE.value))
        .otherwise(pl.col("_et_given")),
        "_unscorable": pl.when(simple & ~pl.col("_located")).then(pl.lit(no_pos_reason)).otherwise(pl.col("_reason0")),
    }
    for col in ("effect_weight", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight", "row_nr"):
        raw, val = pl.col(f"_{col}_raw"), pl.col(f"_{col}")
        fourth[f"_{col}_nan"] = raw.is_not_null() & (val.is_null() | val.is_nan() | val.is_infinite())
    val = pl.col("_row_nr")  # a row number fits an Int64 exactly below 2**53
    fourth["_row_nr_int"] = val.is_not_null() & ((val != val.floor()) | (val < 0) | (val >= 2**53))
    raw, val = pl.col("_allelefrequency_effect_raw"), pl.col("_allelefrequency_effect")
    fourth["_allelefrequency_effect_nan"] = raw.is_not_null() & (val.is_null() | val.is_nan() | val.is_infinite())
    masks = {c.mask for c in b.checks}
    return {k: v for k, v in fourth.items() if k in masks or k in ("_effect_type", "_unscorable")}


def _plan_output(cols: frozenset[str]) -> tuple[pl.Expr, ...]:
    """The output columns, named and typed as `SCHEMA`."""
    row_nr = pl.col("_row_nr").cast(pl.Int64) if "row_nr" in cols else pl.int_range(pl.len(), dtype=pl.Int64)
    output = (
        pl.col("_accession").alias("accession"),
        row_nr.alias("row_nr"),
        pl.col("_line").alias("line"),
        pl.col("_rsid").alias("rsID"),
        pl.col("_chrom").alias("chr_name"),
        pl.col("_pos").alias("chr_position"),
        pl.col("_ea").alias("effect_allele"),
        pl.col("_oa").alias("other_allele"),
        pl.col("_effect_weight").alias("effect_weight"),
        pl.col("_effect_type").alias("effect_type"),
        *[pl.col(f"_dosage_{k}_weight").alias(f"dosage_{k}_weight") for k in range(3)],
        pl.col("_allelefrequency_effect").alias("allelefrequency_effect"),
        pl.col("_unscorable").alias("unscorable"),
    )
    return tuple(e.cast(SCHEMA[name]) for e, name in zip(output, SCHEMA, strict=True))


def _raise_first(result: pl.DataFrame, check: _Check, p: Path) -> None:
    """Raise the InputError of `check` for its first failing row."""
    i = int(result.get_column(check.mask).arg_true()[0])
    field = check.field
    if check.mask == "_dosage_partial":
        field = next(f"dosage_{k}_weight" for k in range(3) if result.get_column(f"_dosage_{k}_weight")[i] is None)
    source = check.value_col or check.field
    value = result.get_column(source)[i] if source in result.columns else None
    raise InputError(
        check.message.format(value=value),
        file=p,
        line=int(result.get_column("_line")[i]),
        field=field,
        hint=check.hint,
    )


