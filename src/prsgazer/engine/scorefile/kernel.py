"""Compiled (numba) reader of the common scoring-file layout; `scorefile.fast` feeds it (after `engine.compiled.start`).

`parse_rows` reads the data rows of a file in the common layout (rsID, positions, alleles,
effect_weight, allelefrequency_effect, hm_rsID / hm_inferOtherAllele and ignored columns) in one
pass over the bytes, 8 at a time where it can, and writes the output columns directly: numbers as
numpy arrays, strings as Arrow string views (16 bytes a row; strings of at most 12 bytes inline,
longer ones in a data buffer), which polars takes without a copy. It never decides an error: on
anything unusual (a blank line, a space in a used field, an allele that is not A/C/G/T, a position
that is not a plain positive integer, an unknown chromosome name, a row the polars path would
reject, ...) it returns a nonzero status ("bail") and the caller runs the polars parser, which
produces the same frame or the exact error.

Floats: a weight whose text is a plain decimal with at most 18 digits, mantissa m ≤ 2**53 and
decimal exponent |e| ≤ 22 (after dropping trailing zeros) is m·10**e or m/10**-e in doubles, both
exact, so one correctly rounded operation (Clinger's fast path) — the double polars' correctly
rounded parser returns. Other decimal texts (17-digit weights, say) are listed as "hard" and cast by
polars afterwards.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

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

# Output: views[V_*] (uint32 string views of the text columns; strings longer than 12 bytes in data[V_*]),
# valid[VALID_*], num[NUM_*]; state[S_*] the reader's position and counters (in and out: a call that
# runs out of rows returns FULL, and continues where it stopped when called again with larger arrays).
V_EA, V_OA, V_RSID, V_CHROM = 0, 1, 2, 3
VALID_OA, VALID_RSID, VALID_CHROM, VALID_POS, VALID_AF = 1, 2, 3, 4, 5  # (0: unused)
NUM_WEIGHT, NUM_AF = 0, 1
S_OFFSET, S_ROWS, S_EA_DATA, S_OA_DATA, S_RSID_DATA, S_HARD, S_UNLOCATED = 0, 1, 2, 3, 4, 5, 6
N_STATE = 7

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
TOO_LARGE = 15  # text columns past the 32-bit offsets of string views
FULL = 99  # not a bail: the output arrays are full
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
    TOO_LARGE: "file too large for the compiled reader",
}

#: Canonical chromosome names, indexed by the chromosome codes of `parse_rows` (1..22, X, Y, XY, MT).
CHROM_NAMES = (*[str(k) for k in range(1, 23)], "X", "Y", "XY", "MT")


def _inline_views(names: tuple[str, ...]) -> np.ndarray:
    """Arrow string views (2 uint64 words) of short (≤ 12 byte) ASCII strings: length, bytes zero padded."""
    views = np.zeros((len(names), 16), np.uint8)
    for k, name in enumerate(names):
        raw = name.encode("ascii")
        assert len(raw) <= 12
        views[k, 4 : 4 + len(raw)] = np.frombuffer(raw, np.uint8)
    views[:, 0] = [len(n) for n in names]
    return views.view("<u8").astype(np.uint64)


_CHROM_VIEWS = _inline_views(CHROM_NAMES)
_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)  # exact doubles
_MAX_EXACT = 1 << 53
_ACGT = np.isin(np.arange(256), list(b"ACGTacgt")).astype(np.uint8)  # 1 for A, C, G, T in either case


@intrinsic
def _load8(typingctx, arr, idx):
    """The 8 bytes arr[idx:idx + 8] as one little-endian uint64 (unaligned); needs idx + 8 ≤ len(arr)."""

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return types.uint64(arr, types.intp), codegen


@intrinsic
def _store8(typingctx, arr, idx, value):
    """arr[idx:idx + 8] = the 8 bytes of `value` (unaligned); needs idx + 8 ≤ len(arr)."""

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(args[2], ptr, align=1)
        return context.get_dummy_value()

    return types.none(arr, types.intp, types.uint64), codegen


@intrinsic
def _ctz(typingctx, x):
    """Trailing zero bits of a nonzero uint64."""

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(types.uint64), codegen


_LOW_BYTES = np.uint64(0x2020202020202020)
_HIGH_BITS = np.uint64(0x8080808080808080)
_UPPER = np.uint64(0xDFDFDFDFDFDFDFDF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(inline="always", cache=True)
def _digits(buf, j, e, mant):  # pragma: no cover - compiled
    """The decimal digits from buf[j] (up to e) appended to `mant`: (next index, mant, digits read)."""
    n = 0
    while j < e:
        d = np.int64(buf[j]) - 48
        if d < 0 or d > 9:
            break
        mant = mant * 10 + d
        n += 1
        j += 1
    return j, mant, n


# Over 80 lines on purpose: split into inline="always" helpers (issue #12) it read rows 1.5-2x slower, as
# numba still increfs/decrefs every array a helper takes, per call (atomically), even when it inlines it.
@njit(nogil=True, cache=True, error_model="numpy")
def parse_rows(buf, L, roles, harmonised, views, data, valid, pos, num, hard, state):  # pragma: no cover - compiled
    """Parse the data rows buf[:L], whole lines (each ends with a newline, the last too), with 16 more
    bytes of `buf` readable after them (8-byte loads may look past L); `roles[k]` is column k's role.

    Writes, row by row from state[S_ROWS], up to n_max = len(pos) rows: views[V_*, row] the Arrow
    string views (2 uint64 words) of effect allele, other allele, rsID and chromosome (strings longer
    than 12 bytes appended to data[V_*], which has 8 bytes of slack); valid[VALID_*, row]; pos[row]
    (0: null); num[NUM_WEIGHT|NUM_AF, row]; and hard[k] = (row, NUM_WEIGHT or NUM_AF, start, end) for
    floats polars must cast (len(hard) ≥ 2·n_max). Returns OK, FULL (call again with larger arrays),
    or the bail reason, with state[S_ROWS] the 0-based row where it was found.

    One function without helper calls: numba reference-counts the arrays it passes to a helper
    (atomically, per call), which tripled the run time; one function also compiles faster. Fields
    are scanned 8 bytes at a time.
    """
    ncols = roles.shape[0]
    n_max = pos.shape[0]
    pow10 = _POW10
    chrom_views = _CHROM_VIEWS
    acgt = _ACGT
    col_of = np.full(N_ROLES, -1, np.int64)  # column of each role (-1: none)
    for c in range(ncols):
        if roles[c] != IGNORED:
            col_of[roles[c]] = c
    col_of[IGNORED] = -1
    start = np.empty(ncols, np.int64)  # this row's fields
    stop = np.empty(ncols, np.int64)
    blank = np.empty(ncols, np.bool_)  # a missing-value spelling (used columns only)
    dpos = np.empty(3, np.int64)
    cap = data.shape[1]
    flat = data.reshape(-1)
    dpos[V_EA] = state[S_EA_DATA]
    dpos[V_OA] = state[S_OA_DATA]
    dpos[V_RSID] = state[S_RSID_DATA]
    n_hard = state[S_HARD]
    n_unlocated = state[S_UNLOCATED]
    row = state[S_ROWS]
    i = state[S_OFFSET]
    line_start = i
    status = OK
    while i < L:
        if row == n_max:
            status = FULL
            break
        b = buf[i]
        if b == 10 or (b == 13 and buf[i + 1] == 10):
            status = BLANK_LINE
            break
        line_start = i
        # --- split the line into fields
        c = 0
        while True:
            s = i
            while True:  # 8 bytes at a time: the first byte below 0x20 (tab, newline) or above 0x7f
                # numba's stub keeps the typing context that @intrinsic drops from the call
                x: np.uint64 = _load8(buf, i)  # type: ignore[call-arg]
                t = ((x - _LOW_BYTES) & ~x | x) & _HIGH_BITS
                if t != 0:
                    i += _ctz(t) >> 3
                    break
                i += 8
            b = buf[i]  # (i < L: every line ends with a newline)
            if b == 13 and buf[i + 1] == 10:
                b = 10  # \r\n ends the line as \n does
            elif b != 9 and b != 10:
                status = CONTROL_BYTE if b < 128 else NON_ASCII
                break
            start[c] = s
            stop[c] = i
            if roles[c] != IGNORED:  # the missing-value spellings: '', '.', na, nan, none, null (any case)
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
                        b2 = buf[s + 2] | 32
                        b3 = buf[s + 3] | 32
                        m = (b1 == 111 and b2 == 110 and b3 == 101) or (b1 == 117 and b2 == 108 and b3 == 108)
                blank[c] = m
            c += 1
            if b == 9:
                i += 1
                if c == ncols:
                    status = EXTRA_FIELD
                    break
                continue
            i += 1 if buf[i] == 10 else 2  # past \n or \r\n
            break
        if status != OK:
            break
        nf = c  # fields on this line; the columns after them are missing
        # --- text: effect allele, other allele (else hm_inferOtherAllele), rsID (else hm_rsID)
        has_rsid = False
        for q in range(3):
            if q == V_EA:
                k = col_of[EFFECT_ALLELE]
            elif q == V_OA:
                k = col_of[OTHER_ALLELE]
                if k < 0 or k >= nf or blank[k]:
                    k = col_of[INFER_OTHER]
            else:
                k = col_of[RSID]
                if k < 0 or k >= nf or blank[k]:
                    k = col_of[HM_RSID]
            s = 0
            n = 0
            if k >= 0 and k < nf and not blank[k]:
                s = start[k]
                n = stop[k] - s
            elif q == V_EA:
                status = NO_EFFECT_ALLELE
                break
            allele = q != V_RSID
            bad = 0  # alleles: bytes other than A/C/G/T; rsID: spaces
            slash = False
            if allele:
                for j in range(s, s + n):
                    bad += 1 - acgt[buf[j]]
                    slash |= buf[j] == 47
            else:
                for j in range(s, s + n):
                    bad += buf[j] == 32
            if q == V_OA and slash:  # several possible other alleles ("A/G"): unknown
                n = 0
            elif bad != 0:
                status = BAD_EFFECT_ALLELE if q == V_EA else BAD_OTHER_ALLELE if q == V_OA else BAD_TEXT
                break
            if q != V_EA:
                valid[q, row] = n > 0
            if q == V_RSID:
                has_rsid = n > 0
            mask = _UPPER if allele else _ALL  # alleles are upper-cased (all letters once checked)
            # the Arrow string view: length, then ≤ 12 bytes inline, else a 4-byte prefix, buffer 0, offset
            lo = _load8(buf, s) & mask
            hi = _load8(buf, s + 8) & mask
            if n <= 12:
                if n < 8:
                    lo &= (np.uint64(1) << np.uint64(8 * n)) - np.uint64(1)
                    hi = np.uint64(0)
                else:
                    hi &= (np.uint64(1) << np.uint64(8 * (n - 8))) - np.uint64(1)
                views[q, row, 0] = np.uint64(n) | (lo << np.uint64(32))
                views[q, row, 1] = (lo >> np.uint64(32)) | (hi << np.uint64(32))
            else:
                o = dpos[q]
                base = q * cap + o
                for j in range(0, n, 8):
                    _store8(flat, base + j, _load8(buf, s + j) & mask)
                dpos[q] = o + n
                views[q, row, 0] = np.uint64(n) | (lo << np.uint64(32))
                views[q, row, 1] = np.uint64(o) << np.uint64(32)
        if status != OK:
            break
        # --- numbers: weight (required), allele frequency
        for which in range(2):
            k = col_of[WEIGHT if which == NUM_WEIGHT else ALLELE_FREQ]
            missing = k < 0 or k >= nf or blank[k]
            num[which, row] = 0.0
            if which == NUM_AF:
                valid[VALID_AF, row] = not missing
            if missing:
                if which == NUM_WEIGHT:
                    status = NO_WEIGHT
                    break
                continue
            # [+-] digits [. digits] [e [+-] digits]: mantissa (≤ 18 digits, leading zeros counted)
            s = start[k]
            e = stop[k]
            j = s
            neg = buf[j] == 45
            if neg or buf[j] == 43:
                j += 1
            j, mant, nd = _digits(buf, j, e, np.int64(0))
            frac = 0
            if j < e and buf[j] == 46:
                j, mant, frac = _digits(buf, j + 1, e, mant)
            nd += frac
            exp10 = -frac
            ok = nd > 0
            if ok and j < e and (buf[j] | 32) == 101:  # e, E
                j += 1
                eneg = j < e and buf[j] == 45
                if j < e and (buf[j] == 45 or buf[j] == 43):
                    j += 1
                ev = 0
                ok = False
                while j < e:
                    d = np.int64(buf[j]) - 48
                    if d < 0 or d > 9:
                        break
                    ok = True
                    if ev < 100000:
                        ev = ev * 10 + d
                    j += 1
                exp10 += -ev if eneg else ev
            if not ok or j != e:
                status = BAD_NUMBER
                break
            exact = nd <= 18
            v = 0.0
            if exact and mant != 0:
                if mant > _MAX_EXACT or exp10 < -22 or exp10 > 22:
                    while mant % 10 == 0:  # trailing zeros
                        mant //= 10
                        exp10 += 1
                    exact = mant <= _MAX_EXACT and -22 <= exp10 <= 22
                if exact:  # Clinger: both exact doubles, so one correctly rounded operation
                    v = float(mant)
                    v = v * pow10[exp10] if exp10 >= 0 else v / pow10[-exp10]
            if exact:
                num[which, row] = -v if neg else v
            else:  # outside the exact fast path: polars casts it
                hard[n_hard, 0] = row
                hard[n_hard, 1] = which
                hard[n_hard, 2] = s
                hard[n_hard, 3] = e
                n_hard += 1
        if status != OK:
            break
        # --- chromosome: any case, optional chr prefix, aliases 23 X, 24 Y, 25 XY, 26 MT, M MT
        code = -1
        k = col_of[CHROM]
        if k >= 0 and k < nf and not blank[k]:
            s = start[k]
            e = stop[k]
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
                b0 = buf[s]
                b1 = buf[s + 1]
                if 49 <= b0 <= 57 and 48 <= b1 <= 57:
                    v2 = (b0 - 48) * 10 + (b1 - 48)
                    code = v2 - 1 if v2 <= 26 else -1  # 23..26: X, Y, XY, MT in CHROM_NAMES order
                else:
                    b0 = b0 & 0xDF
                    b1 = b1 & 0xDF
                    code = 24 if b0 == 88 and b1 == 89 else 25 if b0 == 77 and b1 == 84 else -1  # XY MT
            if code < 0:
                status = BAD_CHROM
                break
        # --- position: '+' and leading zeros allowed (as polars casts), at most 18 digits, ≥ 1
        p = 0
        k = col_of[POS]
        if k >= 0 and k < nf and not blank[k]:
            s = start[k]
            e = stop[k]
            j = s + 1 if buf[s] == 43 else s
            ok = j < e and e - j <= 18
            while j < e:
                d = np.int64(buf[j]) - 48
                if d < 0 or d > 9:
                    ok = False
                    break
                p = p * 10 + d
                j += 1
            if not ok or p < 1:
                status = BAD_POSITION
                break
        if code >= 0:
            views[V_CHROM, row, 0] = chrom_views[code, 0]
            views[V_CHROM, row, 1] = chrom_views[code, 1]
        else:
            views[V_CHROM, row, 0] = 0
            views[V_CHROM, row, 1] = 0
        valid[VALID_CHROM, row] = code >= 0
        valid[VALID_POS, row] = p > 0
        pos[row] = p
        if code < 0 or p == 0:
            if not harmonised and not has_rsid:
                status = UNLOCATED
                break
            n_unlocated += 1
        row += 1
    state[S_OFFSET] = i if status == OK or status == FULL else line_start
    state[S_ROWS] = row
    state[S_EA_DATA] = dpos[V_EA]
    state[S_OA_DATA] = dpos[V_OA]
    state[S_RSID_DATA] = dpos[V_RSID]
    state[S_HARD] = n_hard
    state[S_UNLOCATED] = n_unlocated
    return status
