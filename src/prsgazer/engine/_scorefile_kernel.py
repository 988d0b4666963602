"""Compiled (numba) happy path of the scoring-file parser. See `scorefile._fast_parse`.

`parse_rows` reads the data rows of a file in the common layout (rsID, chr_name, chr_position,
effect_allele, other_allele, effect_weight, hm_* and ignored columns) in one pass over the bytes and
writes the output columns directly: numbers as numpy arrays, strings as Arrow string views (16 bytes a
row; strings of at most 12 bytes inline, longer ones in a data buffer), which polars takes without a
copy. It never decides an error: on anything unusual (a blank line, a space in a used field, an
allele that is not A/C/G/T, a position that is not a plain positive integer, an unknown chromosome
name, a row the polars path would reject, ...) it returns a nonzero status ("bail") and the caller
runs the polars parser, which produces the same frame or the exact error.

Floats: a weight whose text is a plain decimal with at most 18 significant digits, mantissa m ≤ 2**53
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

# Output rows: views[V_*] (text columns; long strings in data[V_*], except chromosomes), valid[VALID_*],
# num[NUM_*], counts[C_*].
V_EA, V_OA, V_RSID, V_CHROM = 0, 1, 2, 3
VALID_OA, VALID_RSID, VALID_CHROM, VALID_POS, VALID_AF = 1, 2, 3, 4, 5  # (0: unused)
NUM_WEIGHT, NUM_AF = 0, 1
C_ROWS, C_EA_DATA, C_OA_DATA, C_RSID_DATA, C_HARD, C_UNLOCATED = 0, 1, 2, 3, 4, 5

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


@njit(nogil=True, cache=True)
def parse_rows(buf, roles, harmonised, views, data, valid, pos, num, hard, counts):  # pragma: no cover - compiled
    """Parse the data rows in `buf` (the bytes after the column line); `roles[k]` is column k's role.

    Writes, for the first n rows (n_max = len(pos) ≥ the number of lines): views[V_*, row] the Arrow
    string views of effect allele, other allele, rsID and chromosome (strings longer than 12 bytes in
    data[V_*] from offset 0); valid[VALID_*, row]; pos[row] (0: null); num[NUM_WEIGHT|NUM_AF, row];
    and hard[k] = (row, NUM_WEIGHT or NUM_AF, start, end) for floats polars must cast. counts[C_*]
    get n, the data lengths, the number of hard floats and of unlocated rows. Returns the status: OK,
    or the bail reason, with counts[C_ROWS] the 0-based row where it was found.

    One function without helper calls: numba passes arrays to helpers with reference counting
    (atomic, per call), which tripled the run time; one function also compiles faster.
    """
    ncols = roles.shape[0]
    L = buf.shape[0]
    n_max = pos.shape[0]
    pow10 = _POW10
    chrom_views = _CHROM_VIEWS
    span_s = np.empty(N_ROLES, np.int64)
    span_e = np.empty(N_ROLES, np.int64)
    missing = np.empty(N_ROLES, np.bool_)
    dpos = np.zeros(3, np.int64)  # data lengths of V_EA, V_OA, V_RSID
    used = np.zeros(N_ROLES, np.bool_)
    for c in range(ncols):
        used[roles[c]] = True
    n_hard = 0
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
        for r in range(N_ROLES):
            span_s[r] = -1
            missing[r] = True
        # --- split the line into fields; note where the used ones are
        c = 0
        while True:
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
                # the missing-value spellings: '', '.', na, nan, none, null (any case)
                n = i - s
                m = n == 0
                if n == 1:
                    m = buf[s] == 46
                elif n >= 2 and n <= 4 and (buf[s] | 32) == 110:
                    b1 = buf[s + 1] | 32
                    if n == 2:
                        m = b1 == 97
                    elif n == 3:
                        m = b1 == 97 and (buf[s + 2] | 32) == 110
                    else:
                        b2, b3 = buf[s + 2] | 32, buf[s + 3] | 32
                        m = (b1 == 111 and b2 == 110 and b3 == 101) or (b1 == 117 and b2 == 108 and b3 == 108)
                missing[r] = m
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
        # --- text: effect allele, other allele (else hm_inferOtherAllele), rsID (else hm_rsID)
        has_rsid = False
        for q in range(3):
            if q == V_EA:
                r = EFFECT_ALLELE
                if missing[r]:
                    status = NO_EFFECT_ALLELE
                    break
            elif q == V_OA:
                r = OTHER_ALLELE if not missing[OTHER_ALLELE] else INFER_OTHER
            else:
                r = RSID if not missing[RSID] else HM_RSID
            s = span_s[r]
            e = span_e[r]
            if missing[r]:
                s = 0
                e = 0
            bits = 0  # 1: not A/C/G/T, 2: a '/', 4: a space, control or non-ASCII byte
            for k in range(s, e):
                b = buf[k]
                u = b & 0xDF
                if u != 65 and u != 67 and u != 71 and u != 84:
                    bits |= 1
                    if b == 47:
                        bits |= 2
                    elif b <= 32 or b >= 127:
                        bits |= 4
            if bits & 4:
                status = BAD_TEXT
                break
            if q == V_EA and bits != 0:
                status = BAD_EFFECT_ALLELE
                break
            if q == V_OA and bits != 0:
                if bits & 2:  # several possible other alleles: unknown
                    s = 0
                    e = 0
                else:
                    status = BAD_OTHER_ALLELE
                    break
            if q != V_EA:
                valid[q, row] = e > s
            if q == V_RSID:
                has_rsid = e > s
            case = 0 if q == V_RSID else 32  # alleles are upper-cased
            # the Arrow string view: length, then ≤ 12 bytes inline, else prefix, buffer 0, offset
            n = e - s
            for k in range(4):
                views[q, row, k] = (n >> (8 * k)) & 0xFF
            if n <= 12:
                for k in range(12):
                    b = 0
                    if k < n:
                        b = buf[s + k]
                        if 97 <= b <= 122:
                            b -= case
                    views[q, row, 4 + k] = b
            else:
                o = dpos[q]
                for k in range(n):
                    b = buf[s + k]
                    if 97 <= b <= 122:
                        b -= case
                    data[q, o + k] = b
                    if k < 4:
                        views[q, row, 4 + k] = b
                for k in range(4):
                    views[q, row, 8 + k] = 0
                    views[q, row, 12 + k] = (o >> (8 * k)) & 0xFF
                dpos[q] = o + n
        if status != OK:
            break
        # --- numbers: weight (required), allele frequency
        for which in range(2):
            r = WEIGHT if which == NUM_WEIGHT else ALLELE_FREQ
            num[which, row] = 0.0
            if which == NUM_AF:
                valid[VALID_AF, row] = not missing[r]
            if missing[r]:
                if which == NUM_WEIGHT:
                    status = NO_WEIGHT
                    break
                continue
            # sign, digits (at most 18 significant) with one '.', exponent: m·10**exp10
            s = span_s[r]
            e = span_e[r]
            k = s
            neg = False
            if k < e and (buf[k] == 45 or buf[k] == 43):
                neg = buf[k] == 45
                k += 1
            mant = 0
            nd = 0
            exp10 = 0
            digits = False
            too_long = False
            dot = False
            while k < e:
                b = buf[k]
                if b == 46 and not dot:
                    dot = True
                    k += 1
                    continue
                if b < 48 or b > 57:
                    break
                digits = True
                d = b - 48
                if mant != 0 or d != 0:
                    if nd < 18:
                        mant = mant * 10 + d
                        nd += 1
                        if dot:
                            exp10 -= 1
                    else:
                        too_long = True
                        if not dot:
                            exp10 += 1
                elif dot:
                    exp10 -= 1
                k += 1
            ok = digits
            if ok and k < e and (buf[k] | 32) == 101:  # e, E
                k += 1
                eneg = False
                if k < e and (buf[k] == 45 or buf[k] == 43):
                    eneg = buf[k] == 45
                    k += 1
                ev = 0
                ok = False
                while k < e and 48 <= buf[k] <= 57:
                    ok = True
                    if ev < 100000:
                        ev = ev * 10 + (buf[k] - 48)
                    k += 1
                exp10 += -ev if eneg else ev
            if not ok or k != e:
                status = BAD_NUMBER
                break
            exact = not too_long
            v = 0.0
            if exact and mant != 0:
                while mant % 10 == 0:
                    mant //= 10
                    exp10 += 1
                exact = mant <= _MAX_EXACT and -22 <= exp10 <= 22
                if exact:
                    v = float(mant)
                    v = v * pow10[exp10] if exp10 >= 0 else v / pow10[-exp10]
            if exact:
                num[which, row] = -v if neg else v
            else:  # Clinger's fast path does not apply: polars casts it
                hard[n_hard, 0] = row
                hard[n_hard, 1] = which
                hard[n_hard, 2] = s
                hard[n_hard, 3] = e
                n_hard += 1
        if status != OK:
            break
        # --- chromosome: any case, optional chr prefix, aliases 23 X, 24 Y, 25 XY, 26 MT, M MT
        code = -1
        if not missing[CHROM]:
            s = span_s[CHROM]
            e = span_e[CHROM]
            if e - s >= 3 and (buf[s] | 32) == 99 and (buf[s + 1] | 32) == 104 and (buf[s + 2] | 32) == 114:
                s += 3
            n = e - s
            if n == 1:
                b = buf[s]
                if 49 <= b <= 57:
                    code = b - 49
                else:
                    b = b & 0xDF
                    code = 22 if b == 88 else 23 if b == 89 else 25 if b == 77 else -1  # X Y M
            elif n == 2:
                b0, b1 = buf[s], buf[s + 1]
                if 49 <= b0 <= 57 and 48 <= b1 <= 57:
                    v2 = (b0 - 48) * 10 + (b1 - 48)
                    code = v2 - 1 if v2 <= 26 else -1  # 23..26: X, Y, XY, MT in CHROM_NAMES order
                else:
                    b0, b1 = b0 & 0xDF, b1 & 0xDF
                    code = 24 if b0 == 88 and b1 == 89 else 25 if b0 == 77 and b1 == 84 else -1  # XY MT
            if code < 0:
                status = BAD_CHROM
                break
        # --- position: '+' and leading zeros allowed (as polars casts), at most 18 digits, ≥ 1
        p = 0
        if not missing[POS]:
            s = span_s[POS]
            e = span_e[POS]
            k = s + 1 if buf[s] == 43 else s
            nd = 0
            ok = k < e
            while k < e:
                b = buf[k]
                if b < 48 or b > 57:
                    ok = False
                    break
                if p != 0 or b != 48:
                    nd += 1
                    p = p * 10 + (b - 48)
                k += 1
            if not ok or nd > 18 or p < 1:
                status = BAD_POSITION
                break
        for k in range(16):
            views[V_CHROM, row, k] = chrom_views[code, k] if code >= 0 else 0
        valid[VALID_CHROM, row] = code >= 0
        valid[VALID_POS, row] = p > 0
        pos[row] = p
        if code < 0 or p == 0:
            if not harmonised and not has_rsid:
                status = UNLOCATED
                break
            n_unlocated += 1
        row += 1
    if status == OK and harmonised and n_unlocated == row:
        status = ALL_UNLOCATED
    counts[C_ROWS] = row
    counts[C_EA_DATA] = dpos[V_EA]
    counts[C_OA_DATA] = dpos[V_OA]
    counts[C_RSID_DATA] = dpos[V_RSID]
    counts[C_HARD] = n_hard
    counts[C_UNLOCATED] = n_unlocated
    return status
