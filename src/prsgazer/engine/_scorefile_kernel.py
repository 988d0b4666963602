"""Compiled (numba) happy path of the scoring-file parser. See `scorefile._fast_parse`.

`parse_rows` reads the data rows of a file in the common layout (rsID, chr_name, chr_position,
effect_allele, other_allele, effect_weight, hm_* and ignored columns) in one pass over the bytes and
writes the output columns directly: numbers as numpy arrays, strings as Arrow string views (16 bytes a
row; strings of at most 12 bytes inline, longer ones in a data buffer), which polars takes without a
copy. It never decides an error: on anything unusual (a blank line, a space in a used field, an
allele that is not A/C/G/T, a position that is not a plain positive integer, an unknown chromosome
name, a row the polars path would reject, ...) it returns a nonzero status ("bail") and the caller
runs the polars parser, which produces the same frame or the exact error.

Floats: a weight whose text is a plain decimal with at most 19 significant digits, mantissa m ≤ 2**53
and decimal exponent |e| ≤ 22 is m·10**e or m/10**-e in doubles, correctly rounded (Clinger's fast
path), which is what polars' correctly rounded parser returns. Other texts (17-digit weights, say)
are listed as "hard" and cast by polars afterwards.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Column roles (`roles[k]` for the k-th column of the file).
IGNORED = 0
RSID = 1
HM_RSID = 2
CHROM = 3
POS = 4
EFFECT_ALLELE = 5
OTHER_ALLELE = 6
INFER_OTHER = 7
WEIGHT = 8
ALLELE_FREQ = 9
N_ROLES = 10

# Bail reasons (status codes); 0 is success.
OK = 0
BLANK_LINE = 1
CONTROL_BYTE = 2
NON_ASCII = 3
EXTRA_FIELD = 4
BAD_TEXT = 5  # space or other byte not allowed in a used field
NO_EFFECT_ALLELE = 6
BAD_EFFECT_ALLELE = 7
BAD_OTHER_ALLELE = 8
NO_WEIGHT = 9
BAD_NUMBER = 10
BAD_CHROM = 11
BAD_POSITION = 12
UNLOCATED = 13  # non-harmonised row with neither a position nor an rsID
ALL_UNLOCATED = 14  # harmonised file where no row has a position
REASONS = {
    BLANK_LINE: "blank line",
    CONTROL_BYTE: "control byte",
    NON_ASCII: "non-ASCII byte",
    EXTRA_FIELD: "more fields than columns",
    BAD_TEXT: "space or unexpected byte in a used field",
    NO_EFFECT_ALLELE: "missing effect allele",
    BAD_EFFECT_ALLELE: "effect allele not A/C/G/T",
    BAD_OTHER_ALLELE: "other allele not A/C/G/T",
    NO_WEIGHT: "missing weight",
    BAD_NUMBER: "number the fast path does not read",
    BAD_CHROM: "chromosome name not canonical",
    BAD_POSITION: "position not a plain positive integer",
    UNLOCATED: "row without position and rsID",
    ALL_UNLOCATED: "no row has a harmonised position",
}

#: Canonical chromosome names, indexed by the chromosome codes of `parse_rows` (1..22, X, Y, XY, MT).
CHROM_NAMES = (*[str(k) for k in range(1, 23)], "X", "Y", "XY", "MT")


def _inline_views(names: tuple[str, ...]) -> np.ndarray:
    """Arrow string views of short (≤ 12 byte) ASCII strings: length, then the bytes, zero padded."""
    views = np.zeros((len(names), 16), np.uint8)
    for k, name in enumerate(names):
        raw = name.encode("ascii")
        assert len(raw) <= 12
        views[k, :4] = np.frombuffer(np.uint32(len(raw)).tobytes(), np.uint8)
        views[k, 4 : 4 + len(raw)] = np.frombuffer(raw, np.uint8)
    return views


_CHROM_VIEWS = _inline_views(CHROM_NAMES)
_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)  # exact doubles
_MAX_EXACT = 1 << 53


@njit(inline="always", cache=True)
def _lower(b):
    """ASCII letters to lower case (other bytes unchanged except 0x40..0x5f; used only for comparisons)."""
    return b | 0x20


@njit(cache=True)
def _is_missing(buf, s, e):
    """'', na, nan, none, null or '.' in any case: the parser's missing-value spellings."""
    n = e - s
    if n == 0:
        return True
    if n == 1:
        return buf[s] == 46  # '.'
    if n == 2:
        return _lower(buf[s]) == 110 and _lower(buf[s + 1]) == 97  # na
    if n == 3:
        return _lower(buf[s]) == 110 and _lower(buf[s + 1]) == 97 and _lower(buf[s + 2]) == 110  # nan
    if n == 4:
        a, b, c, d = _lower(buf[s]), _lower(buf[s + 1]), _lower(buf[s + 2]), _lower(buf[s + 3])
        if a != 110:
            return False
        return (b == 111 and c == 110 and d == 101) or (b == 117 and c == 108 and d == 108)  # none, null
    return False


@njit(cache=True)
def parse_float(buf, s, e, pow10):
    """(status, value) of the decimal text buf[s:e]: 0 exact, 1 valid syntax but not exact here
    ("hard": let polars cast it), 2 not a decimal number."""
    i = s
    neg = False
    if i < e and (buf[i] == 45 or buf[i] == 43):  # '-' '+'
        neg = buf[i] == 45
        i += 1
    m = np.int64(0)
    nd = 0  # significant digits in m
    exp10 = 0
    digits = False
    hard = False
    while i < e:
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            break
        digits = True
        if m != 0 or d != 0:
            if nd < 19:
                m = m * 10 + d
                nd += 1
            else:
                hard = True
                exp10 += 1
        i += 1
    if i < e and buf[i] == 46:  # '.'
        i += 1
        while i < e:
            d = np.int64(buf[i]) - 48
            if d < 0 or d > 9:
                break
            digits = True
            if m != 0 or d != 0:
                if nd < 19:
                    m = m * 10 + d
                    nd += 1
                    exp10 -= 1
                else:
                    hard = True
            else:
                exp10 -= 1
            i += 1
    if not digits:
        return 2, 0.0
    if i < e and (buf[i] | 0x20) == 101:  # 'e' 'E'
        i += 1
        eneg = False
        if i < e and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        ev = 0
        edigits = False
        while i < e:
            d = np.int64(buf[i]) - 48
            if d < 0 or d > 9:
                break
            edigits = True
            if ev < 100000:
                ev = ev * 10 + d
            i += 1
        if not edigits:
            return 2, 0.0
        exp10 += -ev if eneg else ev
    if i != e:
        return 2, 0.0
    if hard:
        return 1, 0.0
    if m == 0:
        return 0, -0.0 if neg else 0.0
    while m % 10 == 0:
        m //= 10
        exp10 += 1
    if m > _MAX_EXACT or exp10 > 22 or exp10 < -22:
        return 1, 0.0
    v = float(m)
    if exp10 >= 0:
        v = v * pow10[exp10]
    else:
        v = v / pow10[-exp10]
    return 0, -v if neg else v


@njit(cache=True)
def _chrom_code(buf, s, e):
    """Index into CHROM_NAMES of a chromosome name (any case, optional chr prefix, 23..26 and M
    aliases), or -1 when it is not a canonical name."""
    n = e - s
    if n >= 3 and _lower(buf[s]) == 99 and _lower(buf[s + 1]) == 104 and _lower(buf[s + 2]) == 114:  # chr
        s += 3
        n -= 3
    if n == 1:
        b = buf[s]
        d = np.int64(b) - 48
        if 1 <= d <= 9:
            return d - 1
        b = b & 0xDF  # upper case
        if b == 88:  # X
            return 22
        if b == 89:  # Y
            return 23
        if b == 77:  # M
            return 25
        return -1
    if n == 2:
        a, b = buf[s], buf[s + 1]
        d1, d2 = np.int64(a) - 48, np.int64(b) - 48
        if 1 <= d1 <= 9 and 0 <= d2 <= 9:
            v = d1 * 10 + d2
            if v <= 22:
                return v - 1
            if v <= 26:
                return v - 1  # 23 X, 24 Y, 25 XY, 26 MT: the same order as CHROM_NAMES
            return -1
        a, b = a & 0xDF, b & 0xDF
        if a == 88 and b == 89:  # XY
            return 24
        if a == 77 and b == 84:  # MT
            return 25
        return -1
    return -1


@njit(cache=True)
def _position(buf, s, e):
    """A plain positive integer ('+' and leading zeros allowed, as polars casts), or -1."""
    i = s
    if i < e and buf[i] == 43:
        i += 1
    if i == e:
        return -1
    v = np.int64(0)
    nd = 0
    while i < e:
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            return -1
        if v != 0 or d != 0:
            nd += 1
            if nd > 18:
                return -1
            v = v * 10 + d
        i += 1
    return v if v >= 1 else -1


@njit(cache=True)
def _put_view(views, row, buf, s, e, upper, data, dpos):
    """Write buf[s:e] (upper-cased when `upper`) as the Arrow string view of `row`; returns the new
    end of `data` (strings longer than 12 bytes are appended there)."""
    n = e - s
    views[row, 0] = n & 0xFF
    views[row, 1] = (n >> 8) & 0xFF
    views[row, 2] = (n >> 16) & 0xFF
    views[row, 3] = (n >> 24) & 0xFF
    if n <= 12:
        for k in range(12):
            if k < n:
                b = buf[s + k]
                if upper and 97 <= b <= 122:
                    b -= 32
                views[row, 4 + k] = b
            else:
                views[row, 4 + k] = 0
        return dpos
    for k in range(n):
        b = buf[s + k]
        if upper and 97 <= b <= 122:
            b -= 32
        data[dpos + k] = b
        if k < 4:
            views[row, 4 + k] = b
    for k in range(4):  # buffer index 0
        views[row, 8 + k] = 0
    views[row, 12] = dpos & 0xFF
    views[row, 13] = (dpos >> 8) & 0xFF
    views[row, 14] = (dpos >> 16) & 0xFF
    views[row, 15] = (dpos >> 24) & 0xFF
    return dpos + n


@njit(cache=True)
def _null_view(views, row):
    for k in range(16):
        views[row, k] = 0


@njit(cache=True)
def _acgt(buf, s, e):
    """All bytes are A, C, G or T in any case."""
    for i in range(s, e):
        b = buf[i] & 0xDF
        if b != 65 and b != 67 and b != 71 and b != 84:
            return False
    return True


@njit(cache=True)
def _printable(buf, s, e):
    """No space or control byte (bytes 0x21..0x7e only)."""
    for i in range(s, e):
        b = buf[i]
        if b <= 32 or b >= 127:
            return False
    return True


@njit(cache=True)
def _has_slash(buf, s, e):
    for i in range(s, e):
        if buf[i] == 47:
            return True
    return False


@njit(nogil=True, cache=True)
def parse_rows(buf, roles, harmonised, n_max):  # pragma: no cover - compiled
    """Parse the data rows in `buf` (bytes after the column line) with column `roles`.

    Returns (status, n, rs_views, rs_data, rs_valid, ch_views, chrom, pos, ea_views, ea_data,
    oa_views, oa_data, oa_valid, weight, af, af_valid, hard, n_unlocated), arrays of n_max rows of
    which the first n are filled: `chrom` is the CHROM_NAMES code (-1 null), `pos` 0 when null;
    `hard` rows (row, 0 weight / 1 allele frequency, start, end) are floats polars must cast. A
    nonzero status is the bail reason and n the 0-based row where it was found.
    """
    ncols = roles.shape[0]
    L = buf.shape[0]
    has_rsid = False
    has_hm_rsid = False
    has_chrom = False
    has_oa = False
    has_infer = False
    has_af = False
    for c in range(ncols):
        r = roles[c]
        has_rsid |= r == RSID
        has_hm_rsid |= r == HM_RSID
        has_chrom |= r == CHROM
        has_oa |= r == OTHER_ALLELE
        has_infer |= r == INFER_OTHER
        has_af |= r == ALLELE_FREQ
    pow10 = _POW10
    rs_views = np.empty((n_max, 16), np.uint8)
    ch_views = np.empty((n_max, 16), np.uint8)
    ea_views = np.empty((n_max, 16), np.uint8)
    oa_views = np.empty((n_max, 16), np.uint8)
    rs_data = np.empty(L, np.uint8)
    ea_data = np.empty(L, np.uint8)
    oa_data = np.empty(L, np.uint8)
    rs_valid = np.empty(n_max, np.bool_)
    oa_valid = np.empty(n_max, np.bool_)
    af_valid = np.empty(n_max, np.bool_)
    chrom = np.empty(n_max, np.int8)
    pos = np.empty(n_max, np.int64)
    weight = np.empty(n_max, np.float64)
    af = np.empty(n_max, np.float64)
    hard = np.empty((16, 4), np.int64)
    n_hard = 0
    rs_pos = 0
    ea_pos = 0
    oa_pos = 0
    span_s = np.empty(N_ROLES, np.int64)
    span_e = np.empty(N_ROLES, np.int64)
    n_unlocated = 0
    row = 0
    i = 0
    status = OK
    while i < L:
        if row >= n_max:  # cannot happen: n_max counts the lines
            status = EXTRA_FIELD
            break
        b = buf[i]
        if b == 10 or (b == 13 and (i + 1 == L or buf[i + 1] == 10)):
            status = BLANK_LINE
            break
        for k in range(N_ROLES):
            span_s[k] = -1
            span_e[k] = -1
        c = 0
        while True:  # fields of the line
            s = i
            while i < L:
                b = buf[i]
                if b < 32:
                    if b == 9 or b == 10:
                        break
                    if b == 13 and (i + 1 == L or buf[i + 1] == 10):
                        break
                    status = CONTROL_BYTE
                    break
                if b >= 128:
                    status = NON_ASCII
                    break
                i += 1
            if status != OK:
                break
            r = roles[c]
            if r != IGNORED:
                span_s[r] = s
                span_e[r] = i
            if i >= L:
                break
            b = buf[i]
            if b != 9:  # end of line: \n or \r\n
                i += 2 if b == 13 and i + 1 < L else 1
                break
            i += 1
            c += 1
            if c == ncols:
                status = EXTRA_FIELD
                break
        if status != OK:
            break
        # effect allele
        s, e = span_s[EFFECT_ALLELE], span_e[EFFECT_ALLELE]
        if s < 0 or _is_missing(buf, s, e):
            status = NO_EFFECT_ALLELE
            break
        if not _acgt(buf, s, e):
            status = BAD_EFFECT_ALLELE
            break
        ea_pos = _put_view(ea_views, row, buf, s, e, True, ea_data, ea_pos)
        # other allele: other_allele, else (harmonised) hm_inferOtherAllele; any text with '/' is null
        s, e = -1, -1
        if has_oa:
            s, e = span_s[OTHER_ALLELE], span_e[OTHER_ALLELE]
            if s >= 0 and _is_missing(buf, s, e):
                s = -1
        if s < 0 and has_infer:
            s, e = span_s[INFER_OTHER], span_e[INFER_OTHER]
            if s >= 0 and _is_missing(buf, s, e):
                s = -1
        if s >= 0:
            if not _printable(buf, s, e):
                status = BAD_TEXT
                break
            if _has_slash(buf, s, e):
                s = -1
            elif not _acgt(buf, s, e):
                status = BAD_OTHER_ALLELE
                break
        if s >= 0:
            oa_pos = _put_view(oa_views, row, buf, s, e, True, oa_data, oa_pos)
            oa_valid[row] = True
        else:
            _null_view(oa_views, row)
            oa_valid[row] = False
        # rsID, else hm_rsID
        s, e = -1, -1
        if has_rsid:
            s, e = span_s[RSID], span_e[RSID]
            if s >= 0 and _is_missing(buf, s, e):
                s = -1
        if s < 0 and has_hm_rsid:
            s, e = span_s[HM_RSID], span_e[HM_RSID]
            if s >= 0 and _is_missing(buf, s, e):
                s = -1
        if s >= 0:
            if not _printable(buf, s, e):
                status = BAD_TEXT
                break
            rs_pos = _put_view(rs_views, row, buf, s, e, False, rs_data, rs_pos)
            rs_valid[row] = True
        else:
            _null_view(rs_views, row)
            rs_valid[row] = False
        # weight
        s, e = span_s[WEIGHT], span_e[WEIGHT]
        if s < 0 or _is_missing(buf, s, e):
            status = NO_WEIGHT
            break
        st, v = parse_float(buf, s, e, pow10)
        if st == 2:
            status = BAD_NUMBER
            break
        weight[row] = v
        if st == 1:
            if n_hard == hard.shape[0]:
                hard = np.concatenate((hard, np.empty_like(hard)))
            hard[n_hard, 0] = row
            hard[n_hard, 1] = 0
            hard[n_hard, 2] = s
            hard[n_hard, 3] = e
            n_hard += 1
        # allele frequency
        af_valid[row] = False
        af[row] = 0.0
        if has_af:
            s, e = span_s[ALLELE_FREQ], span_e[ALLELE_FREQ]
            if s >= 0 and not _is_missing(buf, s, e):
                st, v = parse_float(buf, s, e, pow10)
                if st == 2:
                    status = BAD_NUMBER
                    break
                af[row] = v
                af_valid[row] = True
                if st == 1:
                    if n_hard == hard.shape[0]:
                        hard = np.concatenate((hard, np.empty_like(hard)))
                    hard[n_hard, 0] = row
                    hard[n_hard, 1] = 1
                    hard[n_hard, 2] = s
                    hard[n_hard, 3] = e
                    n_hard += 1
        # position
        code = -1
        p = np.int64(0)
        if has_chrom:
            s, e = span_s[CHROM], span_e[CHROM]
            if s >= 0 and not _is_missing(buf, s, e):
                code = _chrom_code(buf, s, e)
                if code < 0:
                    status = BAD_CHROM
                    break
            s, e = span_s[POS], span_e[POS]
            if s >= 0 and not _is_missing(buf, s, e):
                p = _position(buf, s, e)
                if p < 0:
                    status = BAD_POSITION
                    break
        if code >= 0:
            ch_views[row, :] = _CHROM_VIEWS[code]
        else:
            _null_view(ch_views, row)
        chrom[row] = code
        pos[row] = p
        if code < 0 or p == 0:
            if not harmonised and not rs_valid[row]:
                status = UNLOCATED
                break
            n_unlocated += 1
        row += 1
    if status == OK and harmonised and n_unlocated == row:
        status = ALL_UNLOCATED
    return (
        status,
        row,
        rs_views,
        rs_data[:rs_pos],
        rs_valid,
        ch_views,
        chrom,
        pos,
        ea_views,
        ea_data[:ea_pos],
        oa_views,
        oa_data[:oa_pos],
        oa_valid,
        weight,
        af,
        af_valid,
        hard[:n_hard],
        n_unlocated,
    )


@njit(nogil=True, cache=True)
def gather_text(buf, hard):  # pragma: no cover - compiled
    """Arrow large-string buffers (offsets, data) of the fields buf[hard[k, 2]:hard[k, 3]]."""
    n = hard.shape[0]
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    for k in range(n):
        offsets[k + 1] = offsets[k] + hard[k, 3] - hard[k, 2]
    data = np.empty(offsets[n], np.uint8)
    for k in range(n):
        data[offsets[k] : offsets[k + 1]] = buf[hard[k, 2] : hard[k, 3]]
    return offsets, data
