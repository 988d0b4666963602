"""Liftover of scoring-file positions between genome builds with a UCSC chain file: `read_chain`
(the chain file → numpy block arrays and a coverage index), `lift_positions` (vectorised look-ups,
UCSC liftOver's rules for single bases) and `lift_scorefile` (a parsed frame in `SCHEMA` → lifted
rows and the rows that could not be lifted, with the reason). See docs/engine.md ("Liftover").

Coordinates: scoring files are 1-based, chain files 0-based half-open. A chain's blocks map source
bases [s, s+size) onto target bases [t, t+size) of the target strand; on the reverse strand the
target coordinate counts from the end of the target sequence, so base x maps to
`target_size - 1 - (t + x - s)` (0-based) and the alleles are complemented.

The look-up index splits each source chromosome at every block boundary into segments and stores,
per segment, how many blocks cover it and the sum of their block numbers (exactly the block's
number where one block covers it). A position is then one `searchsorted`: no per-row Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import overload

import numpy as np
import polars as pl
from isal import igzip

from prsgazer.engine.common import GZIP_ERRORS, chrom_expr, complement_expr, normalize_build
from prsgazer.errors import InputError

#: Normalised names of the primary assembly chromosomes; any other target contig is an alt contig.
PRIMARY_CHROMS: frozenset[str] = frozenset([str(i) for i in range(1, 23)] + ["X", "Y", "MT"])


class LiftReason(StrEnum):
    """Why a position was not lifted (null reason: lifted)."""

    NO_POSITION = "no_position"  # chromosome or position missing, or position < 1
    UNKNOWN_CHROM = "unknown_chrom"  # no chain starts from this chromosome
    NO_CHAIN = "no_chain"  # on a known chromosome but outside every chain
    UNMAPPED_GAP = "unmapped_gap"  # inside a chain, in a gap between its blocks (deleted in the new build)
    MULTIPLE_MAPPINGS = "multiple_mappings"  # blocks of several chains cover it (UCSC: "duplicated in new")
    ALT_CONTIG = "alt_contig"  # maps to one place, on a contig outside the primary assembly
    REVERSE_STRAND_MULTIBASE = "reverse_strand_multibase"  # lift_scorefile: indel/MNP on a reverse-strand block


_KEY_SHIFT = 32  # key = source chromosome code << 32 | 0-based position (chromosomes are < 2**32 bases)


@dataclass(frozen=True, eq=False)
class Chain:
    """A parsed chain file: one entry per chain, one per aligned block, and the look-up index.

    Chromosome codes index `source_names` (normalised with `chrom_expr`) and `target_names` (as written
    in the file; `target_chroms` holds them normalised, `target_primary` whether that is a primary
    assembly chromosome). Block coordinates are 0-based half-open, `block_target_start` on the chain's
    target strand as in the file. Arrays are read-only.
    """

    path: Path
    source_names: tuple[str, ...]
    target_names: tuple[str, ...]
    target_chroms: tuple[str, ...]
    source_sizes: np.ndarray  # int64 per source name
    target_sizes: np.ndarray  # int64 per target name
    target_primary: np.ndarray  # bool per target name
    # one entry per chain, in file order
    chain_score: np.ndarray  # int64
    chain_id: np.ndarray  # int64
    chain_source: np.ndarray  # int32 code into source_names
    chain_target: np.ndarray  # int32 code into target_names
    chain_reverse: np.ndarray  # bool: target strand '-'
    chain_source_start: np.ndarray  # int64
    chain_source_end: np.ndarray  # int64
    # one entry per block, chains in file order
    block_chain: np.ndarray  # int32 index into the chain arrays
    block_source_start: np.ndarray  # int64
    block_source_end: np.ndarray  # int64
    block_target_start: np.ndarray  # int64
    # the look-up index (segment start keys, blocks covering each segment, their block-number sum)
    _seg_key: np.ndarray = field(repr=False)
    _seg_count: np.ndarray = field(repr=False)
    _seg_block: np.ndarray = field(repr=False)
    _span_key: np.ndarray = field(repr=False)
    _span_count: np.ndarray = field(repr=False)

    @property
    def n_chains(self) -> int:
        return int(self.chain_id.shape[0])

    @property
    def n_blocks(self) -> int:
        return int(self.block_chain.shape[0])

    @property
    def source_build(self) -> str | None:
        """The source build named by the file name (`hg19ToHg38.over.chain.gz` → GRCh37), else None."""
        return _builds_from_name(self.path)[0]

    @property
    def target_build(self) -> str | None:
        """The target build named by the file name (`hg19ToHg38.over.chain.gz` → GRCh38), else None."""
        return _builds_from_name(self.path)[1]

    @property
    def block_source(self) -> np.ndarray:
        """Source chromosome code of each block."""
        return self.chain_source[self.block_chain]

    @property
    def block_target(self) -> np.ndarray:
        """Target contig code of each block."""
        return self.chain_target[self.block_chain]

    @property
    def block_reverse(self) -> np.ndarray:
        """Whether each block is on the reverse target strand."""
        return self.chain_reverse[self.block_chain]

    def blocks(self) -> pl.DataFrame:
        """One row per block with its chain's names, strand, score and id (for inspection)."""
        src = pl.Series(self.source_names, dtype=pl.String)
        tgt = pl.Series(self.target_names, dtype=pl.String)
        return pl.DataFrame(
            {
                "source_chrom": src.gather(self.block_source),
                "source_start": self.block_source_start,
                "source_end": self.block_source_end,
                "target_contig": tgt.gather(self.block_target),
                "target_start": self.block_target_start,
                "reverse": self.block_reverse,
                "chain_score": self.chain_score[self.block_chain],
                "chain_id": self.chain_id[self.block_chain],
            }
        )


def _builds_from_name(path: Path) -> tuple[str | None, str | None]:
    m = re.match(r"^([A-Za-z0-9]+)To([A-Za-z0-9]+)\.over\.chain", path.name)
    if m is None:
        return None, None
    try:
        return normalize_build(m.group(1)), normalize_build(m.group(2))
    except ValueError:
        return None, None


# ---------------------------------------------------------------------------------------------------------------
# Reading


_BLOCK_COLUMNS = 4  # a block line has 3 fields; the 4th column catches lines with more
_HEAD_COLUMNS = 14  # a header line has 13 fields; the 14th column catches lines with more
_HEADER = ("score", "tName", "tSize", "tStrand", "tStart", "tEnd", "qName", "qSize", "qStrand", "qStart", "qEnd", "id")
_HINT = "see https://genome.ucsc.edu/goldenPath/help/chain.html; download the chain file again if it is damaged"


def _read_text(p: Path) -> bytes:
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError("chain file does not exist", file=p) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a chain file", file=p) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = igzip.decompress(raw)
        except GZIP_ERRORS as exc:
            raise InputError(f"gzip data is truncated or corrupt ({exc})", file=p, hint=_HINT) from exc
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not a text file ({exc.reason} at byte {exc.start})", file=p, hint=_HINT) from exc
    # One separator (UCSC writes spaces in headers and tabs in blocks) and no stray blanks, so fields split on ' '.
    text = raw.replace(b"\t", b" ")
    if b"\r" in text:
        text = text.replace(b"\r", b"")
    if b"  " in text or b"\n " in text or b" \n" in text or text.startswith(b" "):
        text = re.sub(rb"(?m)^ +| +$", b"", re.sub(rb" {2,}", b" ", text))
    if re.search(rb"\S", text) is None:
        raise InputError("empty chain file", file=p, hint=_HINT)
    return text


def _fields(text: bytes, n: int) -> pl.DataFrame:
    """One row per line (blank lines too), the first `n` space-separated fields as Strings `f0`…; `_n`: how
    many of them are present (a line with more than `n` fields shows as `n`)."""
    frame = pl.read_csv(
        text,
        has_header=False,
        separator=" ",
        quote_char=None,
        schema={f"f{i}": pl.String for i in range(n)},
        missing_columns="insert",
        truncate_ragged_lines=True,
        extra_columns="ignore",  # a first line with more fields than `n` (later lines: truncate_ragged_lines)
        comment_prefix=None,
    )
    return frame.with_columns(pl.sum_horizontal(pl.col(f"f{i}").is_not_null() for i in range(n)).alias("_n"))


def _fail(
    rows: pl.DataFrame,
    mask: pl.Expr,
    p: Path,
    message: str,
    field_name: str | None = None,
    lines: pl.DataFrame | None = None,
) -> None:
    """InputError at the first row where `mask` holds; `message` is formatted with that row's columns (and
    the fields of its line in `lines`, one row per line, when given)."""
    bad = rows.lazy().filter(mask).head(1).collect()
    if bad.height:
        row = bad.row(0, named=True)
        if lines is not None:
            row = lines.row(int(row["_line"]) - 1, named=True) | row
        raise InputError(message.format(**row), file=p, line=int(row["_line"]), field=field_name, hint=_HINT)


def _ints(rows: pl.DataFrame, col: str, name: str, p: Path) -> pl.Series:
    """The column as Int64 (nulls stay null); InputError at the first text that is not an integer."""
    text = rows.get_column(col)
    value = text.cast(pl.Int64, strict=False)
    if value.null_count() > text.null_count():
        _fail(
            rows.with_columns(_value=value),
            pl.col("_value").is_null() & pl.col(col).is_not_null(),
            p,
            f"{name} must be an integer, not {{{col}!r}}",
            name,
        )
    return value


def _lines_text(text: bytes, line_numbers: np.ndarray) -> bytes:
    """These lines (1-based numbers, ascending) of the text, joined by newlines."""
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10)
    starts = np.r_[0, ends + 1]
    ends = np.r_[ends, len(text)]
    idx = line_numbers.astype(np.int64) - 1
    return b"\n".join([text[s:e] for s, e in zip(starts[idx].tolist(), ends[idx].tolist(), strict=True)])


def read_chain(path: str | Path) -> Chain:
    """Parse a UCSC chain file (plain or gzip) into block arrays and the look-up index.

    Raises InputError naming file, line and field for anything malformed: a data line before the first
    header, a header without 12 or 13 fields, non-integer numbers, a strand other than + / -, a source
    strand '-', coordinates outside the sequence, a block line with other than 1 or 3 fields (or one
    field before the last block), blocks that do not end where the header says, or two sizes for one
    chromosome.
    """
    p = Path(path)
    text = _read_text(p)
    lines, rows = _line_rows(text, p)
    heads = _header_rows(text, rows, p)
    blocks = rows.filter(~pl.col("_head")).drop("_head")
    _check_block_lines(blocks, heads, lines, p)
    size, dt, dq = _block_numbers(blocks, p)
    chain = blocks.get_column("_chain").to_numpy()
    src_start, src_end, tgt_start = _block_coordinates(heads, chain, size, dt, dq, p)
    return _assemble(p, heads, chain, src_start, src_end, tgt_start)


def _line_rows(text: bytes, p: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The fields of every line (`lines`, row i: line i + 1) and one row per header or block line (`rows`:
    `_line`, `_n`, `_head`, `_chain` its chain's number, `_i0`…`_i2` a block line's numbers)."""
    lines = _fields(text, _BLOCK_COLUMNS)
    n_lines = text.count(b"\n") + (0 if text.endswith(b"\n") else 1)
    if lines.height != n_lines:  # the reader must keep every line, or line numbers would be wrong
        raise InputError(f"could not split the chain file into lines ({lines.height} rows for {n_lines} lines)",
                         file=p, hint=_HINT)
    first = pl.col("f0")
    head = first == "chain"
    # Block lines as numbers (their text stays in `lines`, for messages).
    rows = (
        lines.lazy()
        .with_row_index("_line", offset=1)
        .filter(first.is_not_null() & ~first.str.starts_with("#"))  # blank and comment lines
        .select(
            "_line",
            "_n",
            head.alias("_head"),
            (head.cast(pl.Int32).cum_sum() - 1).alias("_chain"),
            *[pl.when(~head).then(pl.col(f"f{i}").cast(pl.Int64, strict=False)).alias(f"_i{i}") for i in range(3)],
        )
        .collect()
    )
    if rows.height == 0:
        raise InputError("chain file has no chains (only blank or comment lines)", file=p, hint=_HINT)
    _fail(rows, pl.col("_chain") < 0, p, "block line {f0!r} before the first 'chain' header line", lines=lines)
    return lines, rows


def _header_rows(text: bytes, rows: pl.DataFrame, p: Path) -> pl.DataFrame:
    """The chain header lines, one row per chain with its fields named as in `_HEADER` (numbers as Int64)
    and `_source` (tName normalised), checked."""
    # Header lines: few, read again with all their fields (in file order, as their rows above).
    head_rows = rows.filter(pl.col("_head")).select("_line", "_chain")
    heads = _fields(_lines_text(text, head_rows.get_column("_line").to_numpy()), _HEAD_COLUMNS)
    heads = pl.concat([head_rows, heads], how="horizontal")
    _fail(
        heads,
        ~pl.col("_n").is_in([12, 13]),
        p,
        "a chain header has 12 or 13 fields (chain score tName tSize tStrand tStart tEnd qName qSize qStrand "
        "qStart qEnd [id]), this one has {_n}",
    )
    heads = heads.rename({f"f{i + 1}": name for i, name in enumerate(_HEADER)})
    num = {name: _ints(heads, name, name, p) for name in _HEADER if name not in ("tName", "tStrand", "qName",
                                                                                  "qStrand")}
    num["id"] = num["id"].fill_null(pl.Series(np.arange(1, heads.height + 1)))  # no id (12 fields): the chain number
    heads = heads.with_columns(**num)
    _fail(heads, pl.col("tStrand") != "+", p, "the source strand (tStrand) must be '+', not {tStrand!r}", "tStrand")
    _fail(heads, ~pl.col("qStrand").is_in(["+", "-"]), p, "strand must be '+' or '-', not {qStrand!r}", "qStrand")
    _fail(heads, pl.col("tSize") >= 1 << _KEY_SHIFT, p, f"source sequences longer than {1 << _KEY_SHIFT} bases "
          "are not supported (tSize={tSize})", "tSize")
    for side in ("t", "q"):
        _fail(
            heads,
            (pl.col(f"{side}Start") < 0)
            | (pl.col(f"{side}Start") > pl.col(f"{side}End"))
            | (pl.col(f"{side}End") > pl.col(f"{side}Size")),
            p,
            f"needs 0 <= {side}Start <= {side}End <= {side}Size, got {side}Start={{{side}Start}} "
            f"{side}End={{{side}End}} {side}Size={{{side}Size}}",
            f"{side}End",
        )
    heads = heads.with_columns(chrom_expr("tName").alias("_source"))
    for name, col, size in (("source", "_source", "tSize"), ("target", "qName", "qSize")):
        _fail(
            heads.with_columns(pl.col(size).first().over(col).alias("_first")),
            pl.col(size) != pl.col("_first"),
            p,
            f"{name} sequence {{{col}}} has {size}={{{size}}} here but {{_first}} in an earlier chain header",
            size,
        )
    return heads


def _check_block_lines(blocks: pl.DataFrame, heads: pl.DataFrame, lines: pl.DataFrame, p: Path) -> None:
    """Each chain has block lines, of 3 fields but the last (1 field), with integers."""
    _fail(blocks, ~pl.col("_n").is_in([1, 3]), p, "a block line has 3 fields (size dt dq) or, last, 1 (size); "
          "this one has {_n}")
    last = pl.col("_chain") != pl.col("_chain").shift(-1, fill_value=-1)
    _fail(blocks, last & (pl.col("_n") != 1), p, "the last block line of a chain has one field (size), this one "
          "has {_n}: a chain header or the end of the file should follow a one-field line")
    _fail(blocks, ~last & (pl.col("_n") == 1), p, "only the last block line of a chain has one field; this one is "
          "followed by more block lines (needs size dt dq)")
    has_blocks = heads.get_column("_chain").is_in(blocks.get_column("_chain").unique().implode())
    _fail(heads.with_columns(has_blocks.alias("_has")), ~pl.col("_has"), p, "chain has no block lines")
    for i, name in enumerate(("size", "dt", "dq")):
        # a null number where the line has that field: not an integer (dt and dq are absent on a last line)
        _fail(blocks, pl.col(f"_i{i}").is_null() & (pl.col("_n") > i), p,
              f"{name} must be an integer, not {{f{i}!r}}", name, lines=lines)


def _block_numbers(blocks: pl.DataFrame, p: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each block's size and the gaps after it in the source (dt) and target (dq); 0 on a chain's last."""
    size = blocks.get_column("_i0").to_numpy()
    dt = blocks.get_column("_i1").fill_null(0).to_numpy()
    dq = blocks.get_column("_i2").fill_null(0).to_numpy()
    if (size <= 0).any() or (dt < 0).any() or (dq < 0).any():
        _fail(blocks, pl.col("_i0") <= 0, p, "block size must be positive, not {_i0}", "size")
        _fail(blocks, (pl.col("_i1") < 0) | (pl.col("_i2") < 0), p, "gaps must not be negative (dt={_i1} dq={_i2})",
              "dt")
    return size, dt, dq


def _block_coordinates(
    heads: pl.DataFrame, chain: np.ndarray, size: np.ndarray, dt: np.ndarray, dq: np.ndarray, p: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each block's source start and end and target start, checked against its chain's header ends."""
    t_start = heads.get_column("tStart").to_numpy()
    q_start = heads.get_column("qStart").to_numpy()
    src_start = t_start[chain] + _offsets(size + dt, chain)
    tgt_start = q_start[chain] + _offsets(size + dq, chain)
    src_end = src_start + size
    ends = np.flatnonzero(np.r_[chain[1:] != chain[:-1], True])  # the last block of each chain
    for side, got in (("t", src_end[ends]), ("q", tgt_start[ends] + size[ends])):
        _fail(
            heads.with_columns(_got=pl.Series(got)),
            pl.col("_got") != pl.col(f"{side}End"),
            p,
            f"the blocks end at {side}={{_got}} but the header says {side}End={{{side}End}}",
            f"{side}End",
        )
    return src_start, src_end, tgt_start


def _assemble(
    p: Path, heads: pl.DataFrame, chain: np.ndarray, src_start: np.ndarray, src_end: np.ndarray, tgt_start: np.ndarray
) -> Chain:
    """The Chain: names, per-chain and per-block arrays (read-only) and the look-up index."""
    t_start = heads.get_column("tStart").to_numpy()
    source_names = heads.get_column("_source").unique(maintain_order=True)
    target_names = heads.get_column("qName").unique(maintain_order=True)
    target_chroms = target_names.to_frame("c").select(chrom_expr("c")).to_series()
    chain_source = _codes(heads.get_column("_source"), source_names)
    chain_target = _codes(heads.get_column("qName"), target_names)
    chain_source_start = t_start.astype(np.int64)
    chain_source_end = heads.get_column("tEnd").to_numpy().astype(np.int64)

    block_chain = chain.astype(np.int32)
    seg_key, seg_count, seg_block = _coverage(
        chain_source[block_chain], src_start, src_end, np.arange(block_chain.shape[0], dtype=np.int64)
    )
    span_key, span_count, _ = _coverage(chain_source, chain_source_start, chain_source_end, None)
    arrays: dict[str, np.ndarray] = dict(
        source_sizes=_first_per_code(heads.get_column("tSize").to_numpy(), chain_source, len(source_names)),
        target_sizes=_first_per_code(heads.get_column("qSize").to_numpy(), chain_target, len(target_names)),
        target_primary=target_chroms.is_in(list(PRIMARY_CHROMS)).to_numpy(),
        chain_score=heads.get_column("score").to_numpy(),
        chain_id=heads.get_column("id").to_numpy(),
        chain_source=chain_source,
        chain_target=chain_target,
        chain_reverse=(heads.get_column("qStrand") == "-").to_numpy(),
        chain_source_start=chain_source_start,
        chain_source_end=chain_source_end,
        block_chain=block_chain,
        block_source_start=src_start,
        block_source_end=src_end,
        block_target_start=tgt_start,
        _seg_key=seg_key,
        _seg_count=seg_count,
        _seg_block=seg_block,
        _span_key=span_key,
        _span_count=span_count,
    )
    for a in arrays.values():
        a.flags.writeable = False
    return Chain(
        path=p,
        source_names=tuple(source_names.to_list()),
        target_names=tuple(target_names.to_list()),
        target_chroms=tuple(target_chroms.to_list()),
        **arrays,
    )


def _offsets(step: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Exclusive running sum of `step` within runs of equal `group` (runs are contiguous)."""
    total = np.cumsum(step)
    excl = total - step
    firsts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    base = np.repeat(excl[firsts], np.diff(np.r_[firsts, group.shape[0]]))
    return excl - base


def _first_per_code(values: np.ndarray, code: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    out[code[::-1]] = values[::-1]  # the last write wins: the first occurrence
    return out


def _codes(values: pl.Series, names: pl.Series) -> np.ndarray:
    lookup = dict(zip(names.to_list(), range(names.len()), strict=True))
    return values.replace_strict(lookup, return_dtype=pl.Int32).to_numpy()


@overload
def _coverage(
    chrom: np.ndarray, start: np.ndarray, end: np.ndarray, number: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def _coverage(
    chrom: np.ndarray, start: np.ndarray, end: np.ndarray, number: None
) -> tuple[np.ndarray, np.ndarray, None]: ...
def _coverage(
    chrom: np.ndarray, start: np.ndarray, end: np.ndarray, number: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Split each chromosome at every interval boundary: per segment (from its start key to the next key),
    how many intervals cover it and the sum of their `number`s (the one number where one interval covers it)."""
    base = chrom.astype(np.int64) << _KEY_SHIFT
    keys = np.concatenate([base + start, base + end])
    n = start.shape[0]
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    count = np.cumsum(np.r_[np.ones(n, np.int32), -np.ones(n, np.int32)][order], dtype=np.int32)
    last = np.r_[keys[1:] != keys[:-1], True]  # the state after every event at a key
    total = None
    if number is not None:
        total = np.cumsum(np.r_[number, -number][order])[last]
    return keys[last], count[last], total


# ---------------------------------------------------------------------------------------------------------------
# Lifting


@dataclass(frozen=True, eq=False)
class LiftResult:
    """One row per input position: `chrom` (normalised target chromosome; for `alt_contig` the contig's
    name as in the chain file), `pos` (1-based), `reverse_strand`, `reason` (null when lifted).

    `chrom`, `pos` and `reverse_strand` are set where exactly one block covers the position (lifted
    and `alt_contig` rows), null otherwise.
    """

    frame: pl.DataFrame

    def counts(self) -> dict[str, int]:
        """Rows per reason ('mapped' for lifted rows), largest first."""
        c = self.frame.get_column("reason").fill_null("mapped").value_counts(sort=True)
        return {str(k): int(v) for k, v in c.iter_rows()}


def lift_positions(
    chrom: pl.Series | Sequence[str | None],
    pos: pl.Series | np.ndarray | Sequence[int | None],
    chain: Chain,
) -> LiftResult:
    """Lift 1-based positions on (any-spelling) chromosomes with `chain`, by UCSC liftOver's rules for a
    single base: mapped when exactly one block covers it, else the reason (see `LiftReason`)."""
    chrom_s = pl.Series("chrom", chrom, dtype=pl.String) if not isinstance(chrom, pl.Series) else chrom
    pos_s = pl.Series("pos", pos) if not isinstance(pos, pl.Series) else pos
    if chrom_s.len() != pos_s.len():
        raise ValueError(f"{chrom_s.len()} chromosomes but {pos_s.len()} positions")
    code_s = _source_codes(chrom_s.cast(pl.String), chain)
    pos_i = pos_s.cast(pl.Int64)
    no_pos = (chrom_s.is_null() | pos_i.is_null() | (pos_i < 1)).to_numpy()
    code = code_s.fill_null(-1).to_numpy()
    x = pos_i.fill_null(1).to_numpy() - 1
    unknown = ~no_pos & (code < 0)
    # beyond the end of the source sequence: outside every chain (and kept out of the next sequence's keys)
    beyond = ~no_pos & ~unknown & (x >= chain.source_sizes[np.maximum(code, 0)])
    ok = ~no_pos & ~unknown & ~beyond
    key = (np.where(ok, code, 0).astype(np.int64) << _KEY_SHIFT) + np.where(ok, x, 0)

    seg = np.searchsorted(chain._seg_key, key, side="right") - 1
    inside = ok & (seg >= 0)
    segc = np.where(inside, seg, 0)
    count = np.where(inside, chain._seg_count[segc], 0)
    one = count == 1
    block = np.where(one, chain._seg_block[segc], 0)
    ch = chain.block_chain[block]
    rev = chain.chain_reverse[ch]
    t = chain.block_target_start[block] + (x - chain.block_source_start[block])
    target = chain.chain_target[ch]
    t = np.where(rev, chain.target_sizes[target] - 1 - t, t)
    primary = chain.target_primary[target]

    in_span = np.zeros_like(ok)
    uncovered = np.flatnonzero(ok & (count == 0))  # usually few rows: the second look-up only for them
    span = np.searchsorted(chain._span_key, key[uncovered], side="right") - 1
    in_span[uncovered] = (span >= 0) & (chain._span_count[np.maximum(span, 0)] > 0)

    r = {reason: i for i, reason in enumerate(_CODED)}
    codes = np.select(  # the first that holds; -1: lifted
        [no_pos, unknown, count > 1, one & primary, one, in_span],
        [r[LiftReason.NO_POSITION], r[LiftReason.UNKNOWN_CHROM], r[LiftReason.MULTIPLE_MAPPINGS], -1,
         r[LiftReason.ALT_CONTIG], r[LiftReason.UNMAPPED_GAP]],
        default=r[LiftReason.NO_CHAIN],
    )
    reasons = pl.Series([reason.value for reason in _CODED], dtype=pl.String)
    names = pl.Series([*chain.target_chroms, *chain.target_names], dtype=pl.String)
    # mapped rows: the normalised name (index < n); alt-contig rows: the name as written (index ≥ n)
    name_idx = np.where(primary, target, target + len(chain.target_names))
    frame = pl.DataFrame(
        {
            "chrom": names.gather(pl.Series(name_idx, dtype=pl.Int64)),
            "pos": pl.Series(t + 1, dtype=pl.Int64),
            "reverse_strand": pl.Series(rev, dtype=pl.Boolean),
            "reason": reasons.gather(pl.Series(np.maximum(codes, 0), dtype=pl.Int64)),
            "_one": pl.Series(one),
            "_lifted": pl.Series(codes < 0),
        }
    ).select(
        *[pl.when("_one").then(c).alias(c) for c in ("chrom", "pos", "reverse_strand")],
        pl.when(~pl.col("_lifted")).then("reason").alias("reason"),
    )
    return LiftResult(frame=frame)


_CODED = (  # the reasons lift_positions decides, by code
    LiftReason.NO_POSITION,
    LiftReason.UNKNOWN_CHROM,
    LiftReason.NO_CHAIN,
    LiftReason.UNMAPPED_GAP,
    LiftReason.MULTIPLE_MAPPINGS,
    LiftReason.ALT_CONTIG,
)


def _source_codes(chrom: pl.Series, chain: Chain) -> pl.Series:
    """Source sequence code per row (-1: not a source; null: no name). Names are normalised once per
    distinct spelling, not per row."""
    lookup = dict(zip(chain.source_names, range(len(chain.source_names)), strict=True))
    spellings = chrom.unique().drop_nulls()
    normalised = spellings.to_frame("c").select(chrom_expr("c")).to_series()
    codes = {s: lookup.get(n, -1) for s, n in zip(spellings.to_list(), normalised.to_list(), strict=True)}
    return chrom.replace_strict(codes, default=None, return_dtype=pl.Int64)


#: Columns of the frame of rows `lift_scorefile` could not lift.
UNLIFTED_SCHEMA: dict[str, pl.DataType] = {
    "accession": pl.String(),
    "row_nr": pl.Int64(),
    "line": pl.Int64(),
    "rsID": pl.String(),
    "chr_name": pl.String(),
    "chr_position": pl.Int64(),
    "reason": pl.String(),
    "lifted_chrom": pl.String(),
    "lifted_position": pl.Int64(),
}


def lift_scorefile(frame: pl.DataFrame, chain: Chain) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lift a parsed scoring-file frame (`SCHEMA`): (lifted rows, rows that could not be lifted).

    Lifted rows keep the schema and order, with the new `chr_name`/`chr_position`; on reverse-strand
    blocks single-base alleles are complemented, and rows with a longer allele are not lifted
    (`reverse_strand_multibase`: an indel's anchor base and position depend on the reference sequence).
    Rows already `unscorable` are kept as they are. The unlifted frame (`UNLIFTED_SCHEMA`) has each
    row's original locus, the reason, and where it would land (`alt_contig` rows). Every input row is
    in exactly one of the two frames.
    """
    lift = lift_positions(frame.get_column("chr_name"), frame.get_column("chr_position"), chain).frame
    multibase = (pl.col("effect_allele").str.len_bytes() > 1) | (pl.col("other_allele").str.len_bytes() > 1)
    scorable = pl.col("unscorable").is_null()
    work = pl.concat([frame, lift.rename(lambda c: f"_lift_{c}")], how="horizontal").lazy().with_columns(
        pl.when(scorable)
        .then(
            pl.when(pl.col("_lift_reason").is_null() & pl.col("_lift_reverse_strand") & multibase.fill_null(False))
            .then(pl.lit(LiftReason.REVERSE_STRAND_MULTIBASE.value))
            .otherwise(pl.col("_lift_reason"))
        )
        .alias("_reason")
    )
    keep = pl.col("_reason").is_null()
    flip = scorable & pl.col("_lift_reverse_strand").fill_null(False)
    lifted = work.filter(keep).with_columns(
        pl.when(scorable).then(pl.col("_lift_chrom")).otherwise(pl.col("chr_name")).alias("chr_name"),
        pl.when(scorable).then(pl.col("_lift_pos")).otherwise(pl.col("chr_position")).alias("chr_position"),
        pl.when(flip).then(complement_expr("effect_allele")).otherwise(pl.col("effect_allele")).alias("effect_allele"),
        pl.when(flip).then(complement_expr("other_allele")).otherwise(pl.col("other_allele")).alias("other_allele"),
    )
    lifted_q = lifted.select(frame.columns)
    unlifted_q = work.filter(~keep).select(
        "accession",
        "row_nr",
        "line",
        "rsID",
        "chr_name",
        "chr_position",
        pl.col("_reason").alias("reason"),
        pl.col("_lift_chrom").alias("lifted_chrom"),
        pl.col("_lift_pos").alias("lifted_position"),
    )
    lifted_df, unlifted = pl.collect_all([lifted_q, unlifted_q])
    return lifted_df, unlifted


def chain_builds(path: str | Path) -> tuple[str | None, str | None]:
    """(source, target) builds a chain file's UCSC name states (`hg19ToHg38.over.chain.gz`), read from
    the name alone (no parsing)."""
    return _builds_from_name(Path(path))


def lift_marked(frame: pl.DataFrame, chain: Chain) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every row of a scoring-file frame in the chain's target build: lifted rows moved (alleles
    complemented on reverse strands), rows that cannot be lifted kept where they were and marked
    unscorable `liftover_<reason>` — so they are counted and listed in the match log, never lost.
    Returns (the frame in its row order, the unlifted rows with their reasons)."""
    indexed = frame.with_row_index("_i")
    lifted, unlifted = lift_scorefile(indexed, chain)
    why = unlifted.select("accession", "row_nr", pl.concat_str(pl.lit("liftover_"), "reason").alias("_why"))
    marked = (
        indexed.join(why, on=["accession", "row_nr"], how="inner")
        .with_columns(pl.coalesce("unscorable", "_why").alias("unscorable"))
        .drop("_why")
    )
    out = pl.concat([lifted.select(indexed.columns), marked.select(indexed.columns)]).sort("_i")
    return out.drop("_i"), unlifted
