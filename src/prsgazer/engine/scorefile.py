"""Scoring files: PGS Catalog format 2.0 (plain or gzip), OmicsPred, custom and pgsc_calc-normalised
files, parsed into one polars frame per file. See docs/engine.md ("Scoring files").

`read_scorefile(path)` returns a `ScoringFile`: the header (`engine.header`), and a frame with one
row per data line — including the rows that cannot be scored from SNP genotypes, which carry the
reason in `unscorable` and are counted, never silently dropped. Harmonised positions (`hm_chr`,
`hm_pos`) are used when the header says the file is harmonised; `hm_inferOtherAllele` fills a
missing other allele. Validation errors are `InputError`s naming file, line and column.

A parsed file is cached as zstd parquet under `<cache_dir>/scorefiles/<cid>.parquet` (CID of the
source bytes), with the header in the parquet metadata, so a second read costs a parquet scan.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zlib
from enum import StrEnum
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.header import ScoringFileHeader, parse_header_lines
from prsgazer.errors import InputError
from prsgazer.storage.cid import cid_of_file

#: Bump when the parsed layout or the validation rules change: old cache entries are then ignored.
PARSER_VERSION = "2"


class EffectType(StrEnum):
    """How a row's weight applies to the effect-allele dosage d (0, 1, 2)."""

    ADDITIVE = "additive"  # w·d
    DOMINANT = "dominant"  # w·min(d, 1)
    RECESSIVE = "recessive"  # w·max(d − 1, 0)
    GENOTYPIC = "genotypic"  # dosage_{d}_weight


class Unscorable(StrEnum):
    """Why a row is kept out of scoring (the row stays in the frame and in the counts)."""

    INTERACTION = "interaction"
    HAPLOTYPE = "haplotype"
    DIPLOTYPE = "diplotype"
    NAMED_ALLELE = "named_allele"  # HLA / APOE / P-N coded alleles
    NO_POSITION = "no_position"  # rsID only: needs a harmonised file
    NO_HARMONISED_POSITION = "no_harmonised_position"  # harmonisation failed for this row


#: Columns of the parsed frame, in order, with their types.
SCHEMA: dict[str, pl.DataType] = {
    "accession": pl.String(),
    "row_nr": pl.Int64(),
    "line": pl.Int64(),
    "rsID": pl.String(),
    "chr_name": pl.String(),
    "chr_position": pl.Int64(),
    "effect_allele": pl.String(),
    "other_allele": pl.String(),
    "effect_weight": pl.Float64(),
    "effect_type": pl.String(),
    "dosage_0_weight": pl.Float64(),
    "dosage_1_weight": pl.Float64(),
    "dosage_2_weight": pl.Float64(),
    "allelefrequency_effect": pl.Float64(),
    "unscorable": pl.String(),
}

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n", ""}
_MISSING = {"", "na", "nan", "none", "null", "."}
_ACGT = r"^[ACGT]+$"
_CHROM_ALIASES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}


class ScoreCounts(BaseModel):
    """Row counts of one score (one accession) in a parsed file."""

    accession: str
    n_rows: int
    n_scorable: int
    unscorable: dict[str, int] = Field(default_factory=dict)


class ScoringFile(BaseModel):
    """A parsed scoring file: header, source identity and the row frame (`SCHEMA`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    cid: str
    header: ScoringFileHeader
    harmonised: bool = Field(description="Positions come from hm_chr/hm_pos.")
    variants: pl.DataFrame

    known_accessions: list[str] | None = Field(default=None, exclude=True, repr=False)

    @property
    def accessions(self) -> list[str]:
        if self.known_accessions is not None:
            return self.known_accessions
        return self.variants.get_column("accession").unique(maintain_order=True).to_list()

    @property
    def build(self) -> str | None:
        """The build the positions are in (HmPOS_build for harmonised files, else genome_build)."""
        return self.header.HmPOS_build if self.harmonised else self.header.genome_build

    @property
    def scorable(self) -> pl.DataFrame:
        return self.variants.filter(pl.col("unscorable").is_null())

    def counts(self) -> list[ScoreCounts]:
        out = []
        for acc, frame in self.variants.group_by("accession", maintain_order=True):
            reasons = frame.get_column("unscorable").drop_nulls().value_counts(sort=True)
            out.append(
                ScoreCounts(
                    accession=str(acc[0]),
                    n_rows=frame.height,
                    n_scorable=int(frame.get_column("unscorable").is_null().sum()),
                    unscorable={str(r): int(c) for r, c in reasons.iter_rows()},
                )
            )
        return out


# --------------------------------------------------------------------------------------------------
# reading


def read_scorefile(path: str | Path, *, cache_dir: Path | None = None) -> ScoringFile:
    """Parse a scoring file (plain or gzip), using the parquet cache when `cache_dir` is given.

    Raises InputError (file, line, column) for anything that is not a valid scoring file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("scoring file does not exist", file=p)
    if p.is_dir():
        raise InputError("is a directory, not a scoring file", file=p)
    cid = cid_of_file(p)
    cached = _cache_path(cache_dir, cid)
    if cached is not None and cached.exists():
        loaded = _read_cache(cached, p, cid)
        if loaded is not None:
            return loaded
    sf = _parse(p, cid)
    if cached is not None:
        _write_cache(cached, sf)
    return sf


def read_scorefiles(paths: list[Path], *, cache_dir: Path | None = None) -> tuple[list[ScoringFile], pl.DataFrame]:
    """Parse many scoring files; returns them and one frame with all their rows (in order).

    Cached files are read with a single multi-file parquet scan (parallel), then sliced per file.
    """
    from concurrent.futures import ThreadPoolExecutor

    for p in paths:
        if not Path(p).exists():
            raise InputError("scoring file does not exist", file=p)
        if Path(p).is_dir():
            raise InputError("is a directory, not a scoring file", file=p)
    with ThreadPoolExecutor(max_workers=2) as pool:  # sha256 releases the GIL
        cids = list(pool.map(cid_of_file, paths))
    hits: dict[int, tuple[Path, dict[str, str]]] = {}
    if cache_dir is not None:
        for k, cid in enumerate(cids):
            cached = _cache_path(cache_dir, cid)
            assert cached is not None
            meta = _cache_meta(cached)
            if meta is not None:
                hits[k] = (cached, meta)
    frames: list[pl.DataFrame] = []
    files: list[ScoringFile] = []
    bulk = pl.read_parquet([str(c) for c, _ in hits.values()]) if hits else None
    offset = 0
    for k, (p, cid) in enumerate(zip(paths, cids, strict=True)):
        if k in hits and bulk is not None:
            meta = hits[k][1]
            n = int(meta["prsgazer.n_rows"])
            frame = bulk.slice(offset, n)
            offset += n
            sf = ScoringFile(
                path=Path(p),
                cid=cid,
                header=ScoringFileHeader.model_validate_json(meta["prsgazer.header"]),
                harmonised=meta["prsgazer.harmonised"] == "true",
                variants=frame,
                known_accessions=json.loads(meta["prsgazer.accessions"]),
            )
        else:
            sf = _parse(Path(p), cid)
            cached = _cache_path(cache_dir, cid)
            if cached is not None:
                _write_cache(cached, sf)
        files.append(sf)
        frames.append(sf.variants)
    if bulk is not None and offset != bulk.height:  # a cache entry changed under us: read one by one
        files = [read_scorefile(p, cache_dir=None) for p in paths]
        frames = [sf.variants for sf in files]
    frame = pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=SCHEMA)
    return files, frame


def _cache_meta(cached: Path) -> dict[str, str] | None:
    """The cache entry's metadata when it is usable (same parser version, complete)."""
    if not cached.exists():
        return None
    try:
        meta = pl.read_parquet_metadata(cached)
    except (OSError, pl.exceptions.PolarsError):
        return None
    keys = ("prsgazer.header", "prsgazer.harmonised", "prsgazer.accessions", "prsgazer.n_rows")
    if meta.get("prsgazer.parser_version") != PARSER_VERSION or any(k not in meta for k in keys):
        return None
    return meta


def _cache_path(cache_dir: Path | None, cid: str) -> Path | None:
    return None if cache_dir is None else Path(cache_dir) / "scorefiles" / f"{cid}.parquet"


def _read_cache(cached: Path, source: Path, cid: str) -> ScoringFile | None:
    try:
        meta = pl.read_parquet_metadata(cached)
        if meta.get("prsgazer.parser_version") != PARSER_VERSION:
            return None
        header = ScoringFileHeader.model_validate_json(meta["prsgazer.header"])
        harmonised = meta["prsgazer.harmonised"] == "true"
        frame = pl.read_parquet(cached)
    except (OSError, KeyError, ValueError, pl.exceptions.PolarsError):
        return None  # a damaged cache entry is re-created, never trusted
    if frame.schema != pl.Schema(SCHEMA):
        return None
    return ScoringFile(path=source, cid=cid, header=header, harmonised=harmonised, variants=frame)


def _write_cache(target: Path, sf: ScoringFile) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "prsgazer.parser_version": PARSER_VERSION,
        "prsgazer.header": sf.header.model_dump_json(),
        "prsgazer.harmonised": "true" if sf.harmonised else "false",
        "prsgazer.source_name": sf.path.name,
        "prsgazer.accessions": json.dumps(sf.accessions),
        "prsgazer.n_rows": str(sf.variants.height),
    }
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        sf.variants.write_parquet(tmp, compression="zstd", metadata=meta)
        os.replace(tmp, target)
    except (OSError, pl.exceptions.PolarsError):
        Path(tmp).unlink(missing_ok=True)  # the cache is an optimisation: never fail a read for it


def _read_bytes(p: Path) -> bytes:
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(
                f"gzip data is truncated or corrupt ({exc})", file=p, hint="download the file again"
            ) from exc
    return raw


def _parse(p: Path, cid: str) -> ScoringFile:
    data = _read_bytes(p)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=p) from exc
    del data
    # Header: the leading '#' lines.
    n_header = 0
    header_lines: list[str] = []
    pos = 0
    while pos < len(text) and text.startswith("#", pos):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        header_lines.append(text[pos:end].rstrip("\r"))
        n_header += 1
        pos = end + 1
    header = parse_header_lines(header_lines, p)
    body = text[pos:]
    del text
    if not body.strip():
        raise InputError(
            "empty scoring file: no column header line and no variant rows",
            file=p,
            line=n_header + 1,
            hint="a scoring file needs a tab-separated column line (effect_allele, effect_weight, ...)",
        )
    lines = pl.read_csv(
        io.BytesIO(body.encode("utf-8")),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        new_columns=["l"],
        schema={"l": pl.String},
    ).get_column("l")
    del body
    column_line = n_header + 1
    columns = _columns(lines[0], p, column_line)
    rows = lines.slice(1)
    if rows.is_null().all():
        raise InputError("scoring file has a column line but no variant rows", file=p, line=column_line)
    frame = _split_fields(rows, columns, p, first_line=column_line + 1)
    variants, harmonised = _normalise(frame, columns, header, p)
    return ScoringFile(path=p, cid=cid, header=header, harmonised=harmonised, variants=variants)


def _columns(line: str | None, p: Path, lineno: int) -> list[str]:
    names = [c.strip() for c in (line or "").rstrip("\r").split("\t")]
    while names and names[-1] == "":
        names.pop()  # trailing tabs
    if not names:
        raise InputError("empty column header line", file=p, line=lineno)
    seen: set[str] = set()
    for n in names:
        if n == "":
            raise InputError("empty column name in the column header line", file=p, line=lineno)
        if n in seen:
            raise InputError(f"column {n!r} appears twice", file=p, line=lineno, field=n)
        seen.add(n)
    # OmicsPred and some custom files spell rsID in lower case.
    return ["rsID" if n.lower() == "rsid" else n for n in names]


def _split_fields(rows: pl.Series, columns: list[str], p: Path, first_line: int) -> pl.DataFrame:
    df = pl.DataFrame({"_raw": rows}).with_row_index("_i")
    df = df.filter(pl.col("_raw").is_not_null() & (pl.col("_raw").str.strip_chars() != ""))
    fields = pl.col("_raw").str.strip_chars_end("\r").str.split("\t")
    n = len(columns)
    df = df.with_columns(fields.alias("_f"), fields.list.len().alias("_n"))
    too_many = df.filter(pl.col("_n") > n)
    if too_many.height:
        # Extra fields are allowed only when empty (trailing tabs).
        extra_nonempty = too_many.filter(
            pl.col("_f").list.slice(n).list.eval(pl.element().str.strip_chars() != "").list.any()
        )
        if extra_nonempty.height:
            i, nf = extra_nonempty.row(0, named=True)["_i"], extra_nonempty.row(0, named=True)["_n"]
            raise InputError(
                f"row has {nf} fields but the column line has {n}",
                file=p,
                line=first_line + int(i),
                hint="fields must be tab-separated and match the column line",
            )
    out = df.select(
        (pl.col("_i") + first_line).alias("line"),
        *[pl.col("_f").list.get(k, null_on_oob=True).str.strip_chars().alias(name) for k, name in enumerate(columns)],
    )
    return out


def _missing_to_null(col: str) -> pl.Expr:
    c = pl.col(col)
    return pl.when(c.is_null() | c.str.to_lowercase().is_in(list(_MISSING))).then(None).otherwise(c)


def _bool_col(frame: pl.DataFrame, col: str, p: Path) -> pl.Series:
    if col not in frame.columns:
        return pl.Series(col, [False] * frame.height, dtype=pl.Boolean)
    low = frame.get_column(col).fill_null("").str.to_lowercase()
    bad = ~(low.is_in(list(_TRUE)) | low.is_in(list(_FALSE)))
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            f"expected True/False, got {frame.get_column(col)[i]!r}",
            file=p,
            line=int(frame.get_column("line")[i]),
            field=col,
        )
    return low.is_in(list(_TRUE)).alias(col)


def _float_col(frame: pl.DataFrame, col: str, p: Path, *, required_mask: pl.Series | None = None) -> pl.Series:
    raw = frame.select(_missing_to_null(col)).to_series()
    val = raw.cast(pl.Float64, strict=False)
    bad = raw.is_not_null() & (val.is_null() | val.is_nan() | val.is_infinite())
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(f"not a number: {raw[i]!r}", file=p, line=int(frame.get_column("line")[i]), field=col)
    if required_mask is not None:
        miss = required_mask & val.is_null()
        if miss.any():
            i = int(miss.arg_true()[0])
            raise InputError("missing value", file=p, line=int(frame.get_column("line")[i]), field=col)
    return val.alias(col)


def _first_bad(frame: pl.DataFrame, mask: pl.Series, p: Path, col: str, message: str, hint: str | None) -> None:
    if mask.any():
        i = int(mask.arg_true()[0])
        value = frame.get_column(col)[i] if col in frame.columns else None
        raise InputError(
            message.format(value=value),
            file=p,
            line=int(frame.get_column("line")[i]),
            field=col,
            hint=hint,
        )


def _normalise(
    frame: pl.DataFrame, columns: list[str], header: ScoringFileHeader, p: Path
) -> tuple[pl.DataFrame, bool]:
    cols = set(columns)
    has_dosage = {"dosage_0_weight", "dosage_1_weight", "dosage_2_weight"} <= cols
    if "effect_allele" not in cols:
        raise InputError(
            "required column 'effect_allele' is missing",
            file=p,
            line=header.n_header_lines + 1,
            field="effect_allele",
        )
    if "effect_weight" not in cols and not has_dosage:
        raise InputError(
            "no weight column: need 'effect_weight' or all of dosage_0_weight, dosage_1_weight, dosage_2_weight",
            file=p,
            line=header.n_header_lines + 1,
            field="effect_weight",
        )
    has_pos = {"chr_name", "chr_position"} <= cols
    has_hm = {"hm_chr", "hm_pos"} <= cols
    if not (has_pos or has_hm or "rsID" in cols):
        raise InputError(
            "no column locates the variants: need chr_name + chr_position, hm_chr + hm_pos, or rsID",
            file=p,
            line=header.n_header_lines + 1,
            field="chr_position",
        )
    harmonised = header.HmPOS_build is not None and has_hm
    n = frame.height
    line = frame.get_column("line")

    def text(col: str) -> pl.Series:
        if col not in cols:
            return pl.Series(col, [None] * n, dtype=pl.String)
        return frame.select(_missing_to_null(col)).to_series()

    # --- complex rows (not scorable from SNP genotypes) ---
    is_inter = _bool_col(frame, "is_interaction", p)
    is_hap = _bool_col(frame, "is_haplotype", p)
    is_dip = _bool_col(frame, "is_diplotype", p)
    vtype = text("variant_type").fill_null("").str.to_lowercase()
    ea = text("effect_allele").str.to_uppercase()
    named = (
        vtype.str.contains("hla|apoe|haplotype|diplotype|allele")
        | ea.str.starts_with("HLA")
        | ea.str.contains(r"\*", literal=False)
        | ea.is_in(["P", "N"])
        | ea.str.starts_with("APOE")
    ).fill_null(False)
    reason = (
        pl.DataFrame({"i": is_inter, "h": is_hap, "d": is_dip, "n": named})
        .select(
            pl.when(pl.col("i"))
            .then(pl.lit(Unscorable.INTERACTION.value))
            .when(pl.col("d"))
            .then(pl.lit(Unscorable.DIPLOTYPE.value))
            .when(pl.col("h"))
            .then(pl.lit(Unscorable.HAPLOTYPE.value))
            .when(pl.col("n"))
            .then(pl.lit(Unscorable.NAMED_ALLELE.value))
            .otherwise(None)
            .alias("r")
        )
        .to_series()
    )
    simple = reason.is_null()

    # --- alleles ---
    _first_bad(frame, ea.is_null() & simple, p, "effect_allele", "missing effect allele", None)
    _first_bad(
        frame,
        simple & ~ea.fill_null("").str.contains(_ACGT),
        p,
        "effect_allele",
        "effect allele {value!r} is not a DNA sequence (A, C, G, T)",
        "flag HLA/APOE/haplotype rows with is_haplotype or variant_type; otherwise fix the allele",
    )
    oa = text("other_allele").str.to_uppercase()
    if harmonised and "hm_inferOtherAllele" in cols:
        inferred = text("hm_inferOtherAllele").str.to_uppercase()
        oa = pl.DataFrame({"o": oa, "i": inferred}).select(pl.coalesce("o", "i")).to_series()
    # Several possible other alleles ("A/G"): unknown other allele, as pgsc_calc does.
    oa = (
        pl.DataFrame({"o": oa})
        .select(pl.when(pl.col("o").str.contains("/", literal=True)).then(None).otherwise(pl.col("o")))
        .to_series()
    )
    _first_bad(
        frame.with_columns(oa.alias("other_allele")) if "other_allele" in cols else frame,
        simple & oa.is_not_null() & ~oa.fill_null("A").str.contains(_ACGT),
        p,
        "other_allele" if "other_allele" in cols else "hm_inferOtherAllele",
        "other allele {value!r} is not a DNA sequence (A, C, G, T)",
        None,
    )

    # --- weights and effect type ---
    ew = (
        _float_col(frame, "effect_weight", p, required_mask=simple if not has_dosage else None)
        if "effect_weight" in cols
        else pl.Series("effect_weight", [None] * n, dtype=pl.Float64)
    )
    if has_dosage:
        d = [_float_col(frame, f"dosage_{k}_weight", p) for k in range(3)]
        any_d = d[0].is_not_null() | d[1].is_not_null() | d[2].is_not_null()
        all_d = d[0].is_not_null() & d[1].is_not_null() & d[2].is_not_null()
        part = any_d & ~all_d
        if part.any():
            i = int(part.arg_true()[0])
            miss = next(k for k in range(3) if d[k][i] is None)
            raise InputError(
                "dosage weights must be given for all of dosage 0, 1 and 2",
                file=p,
                line=int(line[i]),
                field=f"dosage_{miss}_weight",
            )
        no_weight = simple & ~all_d & ew.is_null()
        _first_bad(frame, no_weight, p, "effect_weight", "row has neither effect_weight nor dosage weights", None)
    else:
        d = [pl.Series(f"dosage_{k}_weight", [None] * n, dtype=pl.Float64) for k in range(3)]
        all_d = pl.Series([False] * n)
    dom = _bool_col(frame, "is_dominant", p)
    rec = _bool_col(frame, "is_recessive", p)
    _first_bad(frame, dom & rec, p, "is_recessive", "a row cannot be both dominant and recessive", None)
    if "effect_type" in cols:
        et_given = text("effect_type").fill_null("additive").str.to_lowercase()
        bad_et = ~et_given.is_in([e.value for e in EffectType])
        _first_bad(
            frame,
            bad_et,
            p,
            "effect_type",
            "unknown effect type {value!r} (additive, dominant, recessive, genotypic)",
            None,
        )
    else:
        et_given = pl.Series([EffectType.ADDITIVE.value] * n)
    effect_type = (
        pl.DataFrame({"g": et_given, "dom": dom, "rec": rec, "dos": all_d})
        .select(
            pl.when(pl.col("dos"))
            .then(pl.lit(EffectType.GENOTYPIC.value))
            .when(pl.col("dom"))
            .then(pl.lit(EffectType.DOMINANT.value))
            .when(pl.col("rec"))
            .then(pl.lit(EffectType.RECESSIVE.value))
            .otherwise(pl.col("g"))
        )
        .to_series()
    )

    # --- positions ---
    if harmonised:
        chrom_raw, pos_col = text("hm_chr"), "hm_pos"
    elif has_pos:
        chrom_raw, pos_col = text("chr_name"), "chr_position"
    else:
        chrom_raw, pos_col = pl.Series([None] * n, dtype=pl.String), None
    chrom = _normalise_chrom(chrom_raw)
    if pos_col is not None:
        pos_txt = text(pos_col)
        position = pos_txt.cast(pl.Int64, strict=False)
        bad = pos_txt.is_not_null() & (position.is_null() | (position.fill_null(1) < 1))
        _first_bad(frame, bad, p, pos_col, "position {value!r} is not a positive integer", None)
    else:
        position = pl.Series([None] * n, dtype=pl.Int64)
    located = chrom.is_not_null() & position.is_not_null()
    rsid = text("rsID")
    if "hm_rsID" in cols:
        rsid = pl.DataFrame({"a": rsid, "b": text("hm_rsID")}).select(pl.coalesce("a", "b")).to_series()
    if not harmonised:
        _first_bad(
            frame,
            simple & ~located & rsid.is_null(),
            p,
            "rsID" if "rsID" in cols else "chr_position",
            "row has neither a position (chr_name + chr_position) nor an rsID",
            "every variant row needs chr_name and chr_position (or an rsID in a file to be harmonised)",
        )
    no_pos_reason = Unscorable.NO_HARMONISED_POSITION.value if harmonised else Unscorable.NO_POSITION.value
    reason = (
        pl.DataFrame({"r": reason, "loc": located})
        .select(pl.when(pl.col("r").is_null() & ~pl.col("loc")).then(pl.lit(no_pos_reason)).otherwise("r"))
        .to_series()
    )
    if harmonised and reason.eq_missing(Unscorable.NO_HARMONISED_POSITION.value).all():
        raise InputError(
            f"harmonisation failed for every row ({n} rows): hm_chr/hm_pos are empty",
            file=p,
            line=int(line[0]),
            field="hm_pos",
            hint=f"nothing in this file can be placed on {header.HmPOS_build}; use the author-reported "
            "file with liftover, or another score",
        )

    # A file without pgs_id / omicspred_id / pgs_name is named after itself (not "unnamed").
    name = header.accession if header.accession != "unnamed" else _stem(p)
    accession = text("accession").fill_null(name) if "accession" in cols else pl.Series([name] * n, dtype=pl.String)
    if "row_nr" in cols:
        row_nr = _float_col(frame, "row_nr", p).cast(pl.Int64)
    else:
        row_nr = pl.Series(range(n), dtype=pl.Int64)
    eaf = (
        _float_col(frame, "allelefrequency_effect", p)
        if "allelefrequency_effect" in cols
        else pl.Series([None] * n, dtype=pl.Float64)
    )
    out = pl.DataFrame(
        {
            "accession": accession,
            "row_nr": row_nr,
            "line": line,
            "rsID": rsid,
            "chr_name": chrom,
            "chr_position": position,
            "effect_allele": ea,
            "other_allele": oa,
            "effect_weight": ew,
            "effect_type": effect_type,
            "dosage_0_weight": d[0],
            "dosage_1_weight": d[1],
            "dosage_2_weight": d[2],
            "allelefrequency_effect": eaf,
            "unscorable": reason,
        },
        schema=SCHEMA,
    )
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


def _stem(p: Path) -> str:
    """`PGS1.txt.gz` → `PGS1`."""
    name = p.name
    for suffix in (".gz", ".txt", ".tsv", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _normalise_chrom(s: pl.Series) -> pl.Series:
    """'chr1' → '1', '23' → 'X', 'M' → 'MT'; None stays None."""
    return normalise_chrom_expr(pl.DataFrame({"c": s}), "c").to_series()


def normalise_chrom_expr(frame: pl.DataFrame, col: str) -> pl.DataFrame:
    """One-column frame of `col` with chromosome names normalised (no 'chr' prefix, X/Y/MT)."""
    c = pl.col(col).str.strip_chars().str.replace(r"(?i)^chr", "")
    c = c.str.to_uppercase()
    return frame.select(c.replace(_CHROM_ALIASES).alias(col))


def describe_counts(counts: ScoreCounts) -> str:
    """One line for logs: '835 rows, 835 scorable' or '35 rows, 0 scorable (27 no_position, …)'."""
    text = f"{counts.n_rows} rows, {counts.n_scorable} scorable"
    if counts.unscorable:
        text += " (" + ", ".join(f"{v} {k}" for k, v in counts.unscorable.items()) + ")"
    return text


def note_accessions(sf: ScoringFile, seen: dict[str, Path]) -> None:
    """Record the score ids of a parsed file in `seen` (id → file); one id in two files is an error."""
    for acc in sf.accessions:
        if acc in seen:
            raise InputError(
                f"score {acc!r} is in two scoring files ({seen[acc].name} and {sf.path.name})",
                file=sf.path,
                field="pgs_id",
                hint="give each scoring file once, or give custom files distinct #pgs_id headers",
            )
        seen[acc] = sf.path
