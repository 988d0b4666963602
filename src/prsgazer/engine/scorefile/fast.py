"""The compiled happy path of the scoring-file parser: `parse_file`, called first by `scorefile._parse`.

It reads files in the common layout (the columns of `scorefile._fast_roles`: rsID, positions,
alleles, effect_weight, hm_* and any column the normaliser ignores) with the numba reader of
`_scorefile_kernel` and builds the same frame as the polars path (`_read_fields` + `_normalise`):
same values, types, nulls and column order. It decides nothing on its own: on anything unusual
(see `_scorefile_kernel`), on any error, or for another layout it gives up, and the polars path
parses the file — and produces the output or the exact error.

A gzip file is decompressed in pieces, in a second thread while this one reads the rows of the
previous piece (isal and the reader both release the GIL), so decompressing and reading overlap.
When the reader gives up it hands the polars path the whole text it has, so nothing is read twice.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa
from isal import isal_zlib

from prsgazer.engine.common import GZIP_ERRORS
from prsgazer.engine.scorefile import kernel as K
from prsgazer.engine.scorefile import model as S
from prsgazer.engine.scorefile import parse as P
from prsgazer.engine.scorefile.header import ScoringFileHeader, parse_header_lines
from prsgazer.errors import InputError

_PIECE = 1 << 19  # compressed bytes decompressed at a time (about 2 MB of text)
_THREADED = 1 << 20  # compressed files at least this large are decompressed in a second thread
_PAD = b"\n" * 16  # the reader loads 8 bytes at a time: lines are fed with this much more text after them
_ROWS_GUESS = 1.05  # room for this many times the rows guessed from the first 64 kB (more is added when full)


class _Unreadable(Exception):
    """The streaming decompressor met something igzip.decompress may judge otherwise."""


#: What makes this reader leave a gzip file to the polars path (which names the problem).
_BAIL_ON: tuple[type[Exception], ...] = (_Unreadable, *GZIP_ERRORS, ValueError)


def parse_file(p: Path, cid: str) -> tuple[S.ScoringFile | bytes | None, str]:
    """(the parsed file, "accepted"), or (the file's whole text or None, why the polars path must parse it)."""
    raw = p.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return _parse_pieces(iter([raw]), p, cid, len(raw))
    isize = int.from_bytes(raw[-4:], "little")  # the text size mod 2**32, of the last member
    size = isize if len(raw) <= isize <= 50 * len(raw) else 5 * len(raw)
    pieces = _gunzip(raw)
    if len(raw) >= _THREADED:
        pieces = _prefetched(pieces)
    try:
        return _parse_pieces(pieces, p, cid, size)
    except _BAIL_ON:
        return None, "bail: gzip stream"  # the polars path reads the file again and names the problem


def _gunzip(raw: bytes) -> Iterator[bytes]:
    """The decompressed text of the gzip members in `raw`, piece by piece."""
    mv = memoryview(raw)
    start = 0
    while start < len(raw):
        d = isal_zlib.decompressobj(31)
        k = start
        while not d.eof:
            if k >= len(raw):
                raise _Unreadable("truncated")
            out = d.decompress(mv[k : k + _PIECE])
            k = min(k + _PIECE, len(raw))
            if out:
                yield out
        start = k - len(d.unused_data)


_pool: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None  # (pid, the decompressing thread)
_pool_lock = threading.Lock()


def _prefetched(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """`pieces`, each produced in a worker thread while the caller works on the previous one."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked child has the executor but not its thread
            _pool = os.getpid(), concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prsgazer-gunzip")
        pool = _pool[1]
    end = object()
    fut = pool.submit(next, pieces, end)
    while True:
        got = fut.result()
        if got is end:
            return
        fut = pool.submit(next, pieces, end)
        yield got  # type: ignore[misc]  # bytes: `end` is the only other value


def _parse_pieces(pieces: Iterator[bytes], p: Path, cid: str, size: int) -> tuple[S.ScoringFile | bytes | None, str]:
    """Parse the text arriving in `pieces` (about `size` bytes in all)."""
    kept: list[bytes] = []  # everything read, for the polars path when the reader gives up

    def give_up(why: str) -> tuple[bytes, str]:
        kept.extend(pieces)
        return (kept[0] if len(kept) == 1 else b"".join(kept)), why

    # --- header and column line, exactly as the polars path reads them (any problem: that path decides)
    head = b""
    for first in pieces:
        kept.append(first)
        head = head + first if head else first
        try:
            found = P.split_header(head, complete=False)
        except UnicodeDecodeError:
            return give_up("layout: header")
        if found is not None:
            break
    else:
        return give_up("layout: no column line")
    lines, pos, end = found
    try:
        header = parse_header_lines(lines, p)
        columns = P.column_names(head[pos:end].decode("utf-8"), p, len(lines) + 1)
    except (InputError, ValueError):  # (UnicodeDecodeError, pydantic's ValidationError are ValueErrors)
        return give_up("layout: header")
    first_line = len(lines) + 2
    cols = set(columns)
    has_hm = {"hm_chr", "hm_pos"} <= cols
    located = {"chr_name", "chr_position"} <= cols or has_hm or "rsID" in cols
    if "effect_allele" not in cols or "effect_weight" not in cols or not located:
        return give_up("layout: required columns")
    harmonised = header.HmPOS_build is not None and has_hm
    roles = P.fast_roles(tuple(columns), harmonised)
    if roles is None:
        return give_up("layout: columns")
    # --- the rows, piece by piece: complete lines to the reader, a line cut by a piece end carried over
    sample = head[end + 1 : end + 1 + (1 << 16)]
    per_line = len(sample) / sample.count(b"\n") if b"\n" in sample else 64.0
    reader = _Reader(roles, harmonised, int(size / per_line * _ROWS_GUESS) + 16, size)
    carry = b""  # the end of the last piece: a line it cut, and the lines in its last 16 bytes
    piece: bytes | None = head
    at = end + 1
    while piece is not None:
        if carry:
            nl = piece.find(b"\n", at)
            if nl < 0:
                carry += piece[at:]
                at = len(piece)
            else:
                text = carry + piece[at : nl + 1]
                status = reader.feed(text + _PAD, len(text))
                if status != K.OK:
                    return give_up(f"bail: {K.REASONS[status]} (line {first_line + reader.rows})")
                carry = b""
                at = nl + 1
        if at < len(piece):
            last = piece.rfind(b"\n", at, len(piece) - len(_PAD))  # lines with 16 bytes after them
            if last >= 0:
                status = reader.feed(memoryview(piece)[at:], last + 1 - at)
                if status != K.OK:
                    return give_up(f"bail: {K.REASONS[status]} (line {first_line + reader.rows})")
                at = last + 1
            carry = piece[at:]
        piece = next(pieces, None)
        at = 0
        if piece is not None:
            kept.append(piece)
    if carry:  # the last lines; a newline after the last one if it has none (the same line to polars)
        text = carry if carry.endswith(b"\n") else carry + b"\n"
        status = reader.feed(text + _PAD, len(text))
        if status != K.OK:
            return give_up(f"bail: {K.REASONS[status]} (line {first_line + reader.rows})")
    frame = reader.frame(header, p, first_line)
    if isinstance(frame, str):
        return give_up(frame)
    # one score per file: its name (`frame` wrote it on every row)
    accession = frame.get_column("accession")[0]
    sf = S.ScoringFile(
        path=p, cid=cid, header=header, harmonised=harmonised, variants=frame, known_accessions=[accession]
    )
    return sf, "accepted"


class _Reader:
    """The compiled reader's output arrays, fed complete lines piece by piece."""

    def __init__(self, roles: np.ndarray, harmonised: bool, n: int, size: int) -> None:
        self.roles = roles
        self.harmonised = harmonised
        self.state = np.zeros(K.N_STATE, np.int64)
        # strings over 12 bytes, per text column (pages are touched only where written)
        self.data = np.empty((3, size + 8), np.uint8)
        # (row/which, offsets, text)
        self.hard: list[tuple[np.ndarray, np.ndarray, np.ndarray | bytes | memoryview]] = []
        self._alloc(max(n, 1))

    @property
    def rows(self) -> int:
        return int(self.state[K.S_ROWS])

    def _alloc(self, n: int) -> None:
        self.views = np.empty((4, n, 2), np.uint64)
        self.valid = np.empty((6, n), np.bool_)
        self.pos = np.empty(n, np.int64)
        self.num = np.empty((2, n), np.float64)
        self.hard_rows = np.empty((2 * n, 4), np.int64)

    def _grow(self, n: int) -> None:
        done, n_hard = self.rows, int(self.state[K.S_HARD])
        old = (self.views, self.valid, self.pos, self.num, self.hard_rows)
        self._alloc(n)
        self.views[:, :done] = old[0][:, :done]
        self.valid[:, :done] = old[1][:, :done]
        self.pos[:done] = old[2][:done]
        self.num[:, :done] = old[3][:, :done]
        self.hard_rows[:n_hard] = old[4][:n_hard]

    def feed(self, text: bytes | memoryview, end: int) -> int:
        """Read the lines text[:end] (each with its newline); `text` goes on for 16 bytes or more."""
        buf = np.frombuffer(text, dtype=np.uint8)
        assert len(buf) >= end + len(_PAD)
        state = self.state
        used = int(state[[K.S_EA_DATA, K.S_OA_DATA, K.S_RSID_DATA]].max())
        if used + end >= 2**31:  # string views address their data with 32-bit offsets
            return K.TOO_LARGE
        if used + end + 8 > self.data.shape[1]:  # each text column gains at most `end` bytes
            data = np.empty((3, max(2 * self.data.shape[1], used + end + 8)), np.uint8)
            data[:, :used] = self.data[:, :used]
            self.data = data
        state[K.S_OFFSET] = 0
        state[K.S_HARD] = 0
        first = self.rows
        while True:
            status = K.parse_rows(
                buf, end, self.roles, self.harmonised, self.views, self.data, self.valid, self.pos, self.num,
                self.hard_rows, state,
            )  # fmt: skip
            if status != K.FULL:
                break
            done, offset = self.rows, int(state[K.S_OFFSET])
            rest = int((end - offset) * (done - first) / max(offset, 1) * 1.1)  # this text's rows still to come
            self._grow(max(done + rest + 1024, len(self.pos) * 3 // 2))
        n_hard = int(state[K.S_HARD])
        if status == K.OK and n_hard:  # their text, while `buf` is at hand
            hard = self.hard_rows[:n_hard]
            lengths = hard[:, 3] - hard[:, 2]
            offsets = np.zeros(n_hard + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            text = buf[np.repeat(hard[:, 2] - offsets[:-1], lengths) + np.arange(offsets[-1])]
            self.hard.append((hard[:, :2].copy(), offsets, text))
        return status

    def frame(self, header: ScoringFileHeader, p: Path, first_line: int) -> pl.DataFrame | str:
        """The parsed frame (the schema and values of the polars path), or why the polars path must decide."""
        n = self.rows
        state = self.state
        if n == 0:
            return "bail: no rows"
        if self.harmonised and state[K.S_UNLOCATED] == n:  # an error of the polars path
            return f"bail: {K.REASONS[K.ALL_UNLOCATED]}"
        num = self.num
        if self.hard:  # floats outside the exact fast path: cast by polars, as the polars path does
            where = np.concatenate([h[0] for h in self.hard])
            texts = [cast(pl.Series, pl.from_arrow(_large_strings(offsets, t))) for _, offsets, t in self.hard]
            values = pl.concat(texts).cast(pl.Float64, strict=False).to_numpy()
            if not np.isfinite(values).all():  # null, nan or inf: an error of the polars path
                return "bail: weight or allele frequency not a finite number"
            num[where[:, 1], where[:, 0]] = values
        views, valid = self.views, self.valid
        data = [self.data[q, : state[s]].copy() for q, s in ((0, K.S_EA_DATA), (1, K.S_OA_DATA), (2, K.S_RSID_DATA))]
        name = header.accession if header.accession != "unnamed" else S.stem(p)
        unscorable = _constant(None, n, pl.String)
        if state[K.S_UNLOCATED]:
            reason = (S.Unscorable.NO_HARMONISED_POSITION if self.harmonised else S.Unscorable.NO_POSITION).value
            located = pl.Series(valid[K.VALID_CHROM, :n] & valid[K.VALID_POS, :n])
            unscorable = unscorable.zip_with(located, _constant(reason, n, pl.String))
        no_float = _constant(None, n, pl.Float64)
        columns = {
            "accession": _constant(name, n, pl.String),
            "row_nr": pl.Series(np.arange(n, dtype=np.int64)),
            "line": pl.Series(np.arange(first_line, first_line + n, dtype=np.int64)),
            "rsID": _strings(views[K.V_RSID], data[K.V_RSID], valid[K.VALID_RSID], n),
            "chr_name": _strings(views[K.V_CHROM], None, valid[K.VALID_CHROM], n),
            "chr_position": _numbers(self.pos, valid[K.VALID_POS], n, pa.int64()),
            "effect_allele": _strings(views[K.V_EA], data[K.V_EA], None, n),
            "other_allele": _strings(views[K.V_OA], data[K.V_OA], valid[K.VALID_OA], n),
            "effect_weight": pl.Series(num[K.NUM_WEIGHT, :n]),
            "effect_type": _constant(S.EffectType.ADDITIVE.value, n, pl.String),
            "dosage_0_weight": no_float,
            "dosage_1_weight": no_float,
            "dosage_2_weight": no_float,
            "allelefrequency_effect": _numbers(num[K.NUM_AF], valid[K.VALID_AF], n, pa.float64()),
            "unscorable": unscorable,
        }
        return pl.DataFrame([s.alias(k) for k, s in columns.items()])


def _constant(value: str | None, n: int, dtype: type[pl.DataType]) -> pl.Series:
    return pl.Series([value], dtype=dtype).new_from_index(0, n)


def _large_strings(offsets: np.ndarray, text: np.ndarray | bytes | memoryview) -> pa.Array:
    return pa.Array.from_buffers(pa.large_string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _bitmap(valid: np.ndarray | None, n: int) -> tuple[pa.Buffer | None, int]:
    """Arrow validity bitmap and null count of the first n flags (None: no nulls)."""
    if valid is None:
        return None, 0
    nulls = n - int(np.count_nonzero(valid[:n]))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid[:n], bitorder="little")), nulls


def _strings(views: np.ndarray, data: np.ndarray | None, valid: np.ndarray | None, n: int) -> pl.Series:
    """A String series from Arrow string views (n × 2 uint64), taken by polars without a copy."""
    bitmap, nulls = _bitmap(valid, n)
    data_buf = pa.py_buffer(data if data is not None and len(data) else b"")
    arr = pa.Array.from_buffers(pa.string_view(), n, [bitmap, pa.py_buffer(views[:n]), data_buf], null_count=nulls)
    return pl.Series(pl.from_arrow(arr))


def _numbers(values: np.ndarray, valid: np.ndarray, n: int, dtype: pa.DataType) -> pl.Series:
    bitmap, nulls = _bitmap(valid, n)
    arr = pa.Array.from_buffers(dtype, n, [bitmap, pa.py_buffer(values[:n])], null_count=nulls)
    return pl.Series(pl.from_arrow(arr))
