"""Compiled (numba) loops of the batch scorer. See docs/reference.md ("Batch scoring").

Entries are sorted by (score, union position); `start[k]:stop[k]` are score k's entries inside the
current chunk, whose genotype rows are `upos[j] - lo`. Each score's accumulator row is written by
one thread only (parallel over scores), so no two threads touch the same memory.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from prsgazer.engine import compiled


@njit(cache=True)
def _noop():  # pragma: no cover - compiled
    return 0


def load(*, wide_vectors: bool = True) -> None:
    """Set numba up (`compiled.start`) and start its code generator (about 0.3 s once per process,
    holding the GIL): a run calls this on a helper thread while it reads its inputs, before the
    kernels are needed."""
    compiled.start(wide_vectors=wide_vectors)
    _noop()


@njit(nogil=True, cache=True)
def order_by_score(score, upos, s, order):  # pragma: no cover - compiled
    """Fill `order` with the entries' indices stably sorted by score (a counting sort); returns whether
    every score's `upos` are ascending in that order (ties allowed)."""
    start = np.zeros(s + 1, dtype=np.int64)
    for i in range(score.shape[0]):
        start[score[i] + 1] += 1
    for k in range(s):
        start[k + 1] += start[k]
    last = np.full(s, -1, dtype=np.int64)
    ascending = True
    for i in range(score.shape[0]):
        k = score[i]
        order[start[k]] = i
        start[k] += 1
        u = upos[i]
        if u < last[k]:
            ascending = False
        last[k] = u
    return ascending


@njit(nogil=True, cache=True)
def permute(order, a, b, c, d):  # pragma: no cover - compiled
    """a[:] = a[order], and the same for b, c and d, in place (each cycle of the permutation followed
    once): no second copy of the arrays, as gathering them would make."""
    n = order.shape[0]
    done = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if done[i]:
            continue
        ta, tb, tc, td = a[i], b[i], c[i], d[i]
        j = i
        while True:
            done[j] = True
            k = order[j]
            if k == i:
                a[j], b[j], c[j], d[j] = ta, tb, tc, td
                break
            a[j], b[j], c[j], d[j] = a[k], b[k], c[k], d[k]
            j = k


@njit(nogil=True, cache=True)
def ref_constants(score, w, is_alt, s):  # pragma: no cover - compiled
    """Per score, over its entries whose effect allele is REF: Σ 2·w and Σ 2 (their value and dosage at
    ALT count 0), added in entry order as `np.bincount(score, weights=…)` adds them."""
    total = np.zeros(s)
    count = np.zeros(s)
    for j in range(score.shape[0]):
        if not is_alt[j]:
            k = score[j]
            total[k] += 2.0 * w[j]
            count[k] += 2.0
    return total, count


@njit(nogil=True, cache=True)
def advance(cur, end, upos, hi):  # pragma: no cover - compiled
    """Per score: the first entry at or after union position `hi` (binary search in its sorted range).
    Serial: a few binary searches per score cost less than starting threads (a parallel loop here took
    12 ms a chunk on a busy 2-core machine)."""
    s = cur.shape[0]
    stop = np.empty_like(cur)
    for k in range(s):
        a = cur[k]
        b = end[k]
        while a < b:
            mid = (a + b) // 2
            if upos[mid] < hi:
                a = mid + 1
            else:
                b = mid
        stop[k] = a
    return stop


@njit(parallel=True, nogil=True, cache=True, fastmath={"contract"})
def sparse_accumulate(g, lo, sel, start, stop, upos, vals, out):  # pragma: no cover - compiled
    """out[k, :] += vals[j] * g[upos[j] - lo, :] for every entry j of every selected score k.

    Eight entries per pass over the accumulator row, added one after the other into a register (the
    row's loads and stores, not the genotypes, bound this loop; measured 1.5x faster than 4 per pass).
    Multiply-adds are fused (`contract`: one rounding per term instead of two, 1.1x faster); the
    order of the additions is unchanged."""
    n = g.shape[1]
    for t in prange(sel.shape[0]):
        k = sel[t]
        o = out[k]
        j = start[k]
        b = stop[k]
        while j + 8 <= b:
            g0 = g[upos[j + 0] - lo]
            w0 = vals[j + 0]
            g1 = g[upos[j + 1] - lo]
            w1 = vals[j + 1]
            g2 = g[upos[j + 2] - lo]
            w2 = vals[j + 2]
            g3 = g[upos[j + 3] - lo]
            w3 = vals[j + 3]
            g4 = g[upos[j + 4] - lo]
            w4 = vals[j + 4]
            g5 = g[upos[j + 5] - lo]
            w5 = vals[j + 5]
            g6 = g[upos[j + 6] - lo]
            w6 = vals[j + 6]
            g7 = g[upos[j + 7] - lo]
            w7 = vals[j + 7]
            for i in range(n):
                x = o[i]
                x += w0 * np.float64(g0[i])
                x += w1 * np.float64(g1[i])
                x += w2 * np.float64(g2[i])
                x += w3 * np.float64(g3[i])
                x += w4 * np.float64(g4[i])
                x += w5 * np.float64(g5[i])
                x += w6 * np.float64(g6[i])
                x += w7 * np.float64(g7[i])
                o[i] = x
            j += 8
        while j < b:
            gr = g[upos[j] - lo]
            wj = vals[j]
            for i in range(n):
                o[i] += wj * np.float64(gr[i])
            j += 1


@njit(parallel=True, nogil=True, cache=True, fastmath={"contract"})
def sparse_accumulate2(g, lo, sel, start, stop, upos, vals, uvals, out, uout):  # pragma: no cover - compiled
    """`sparse_accumulate` of two value arrays over the same entries in one pass: out[k] += vals[j]·g
    and uout[k] += uvals[j]·g (the weighted sum and the named-allele dosage sum). Each genotype row is
    read once for both (1.7x faster than two passes at 20,000 samples); each accumulator sees the same
    operations in the same order as in `sparse_accumulate`, so the sums are bit for bit the same."""
    n = g.shape[1]
    for t in prange(sel.shape[0]):
        k = sel[t]
        o = out[k]
        u = uout[k]
        j = start[k]
        b = stop[k]
        while j + 8 <= b:
            g0 = g[upos[j + 0] - lo]
            g1 = g[upos[j + 1] - lo]
            g2 = g[upos[j + 2] - lo]
            g3 = g[upos[j + 3] - lo]
            g4 = g[upos[j + 4] - lo]
            g5 = g[upos[j + 5] - lo]
            g6 = g[upos[j + 6] - lo]
            g7 = g[upos[j + 7] - lo]
            w0, w1, w2, w3 = vals[j + 0], vals[j + 1], vals[j + 2], vals[j + 3]
            w4, w5, w6, w7 = vals[j + 4], vals[j + 5], vals[j + 6], vals[j + 7]
            v0, v1, v2, v3 = uvals[j + 0], uvals[j + 1], uvals[j + 2], uvals[j + 3]
            v4, v5, v6, v7 = uvals[j + 4], uvals[j + 5], uvals[j + 6], uvals[j + 7]
            for i in range(n):
                d0 = np.float64(g0[i])
                d1 = np.float64(g1[i])
                d2 = np.float64(g2[i])
                d3 = np.float64(g3[i])
                d4 = np.float64(g4[i])
                d5 = np.float64(g5[i])
                d6 = np.float64(g6[i])
                d7 = np.float64(g7[i])
                x = o[i]
                x += w0 * d0
                x += w1 * d1
                x += w2 * d2
                x += w3 * d3
                x += w4 * d4
                x += w5 * d5
                x += w6 * d6
                x += w7 * d7
                o[i] = x
                y = u[i]
                y += v0 * d0
                y += v1 * d1
                y += v2 * d2
                y += v3 * d3
                y += v4 * d4
                y += v5 * d5
                y += v6 * d6
                y += v7 * d7
                u[i] = y
            j += 8
        while j < b:
            gr = g[upos[j] - lo]
            wj = vals[j]
            vj = uvals[j]
            for i in range(n):
                d = np.float64(gr[i])
                o[i] += wj * d
                u[i] += vj * d
            j += 1


@njit(nogil=True, cache=True)
def fill_block(block, lo, sel, start, stop, upos, vals):  # pragma: no cover - compiled
    """Dense weight block (chunk rows × selected scores) of this chunk's entries."""
    for t in range(sel.shape[0]):
        k = sel[t]
        for j in range(start[k], stop[k]):
            block[upos[j] - lo, t] += vals[j]


@njit(parallel=True, nogil=True, cache=True)
def missing_correction(
    lo, start, stop, upos, w, is_alt, p_alt, mptr, msample, sum_out, dos_out, has_dos, n_missing, n_imputed
):  # pragma: no cover - compiled
    """A missing call was counted as ALT count 0 (value f0 = 0 or 2w): make it the imputed value
    2·p_effect·w when the ALT frequency is known (else 0), drop it from the dosage sum, count it."""
    s = start.shape[0]
    for k in prange(s):
        for j in range(start[k], stop[k]):
            r = upos[j] - lo
            a = mptr[r]
            b = mptr[r + 1]
            if a == b:
                continue
            p = p_alt[r]
            ok = not np.isnan(p)
            wj = w[j]
            if is_alt[j]:
                f0 = 0.0
                u0 = 0.0
                pe = p
            else:
                f0 = 2.0 * wj
                u0 = 2.0
                pe = 1.0 - p
            corr = (2.0 * pe * wj if ok else 0.0) - f0
            for q in range(a, b):
                i = msample[q]
                sum_out[k, i] += corr
                if has_dos:
                    dos_out[k, i] -= u0
                n_missing[k, i] += 1
                if ok:
                    n_imputed[k, i] += 1


@njit(nogil=True, cache=True)
def _missing(g, founders, alt_sum):  # pragma: no cover - compiled
    """A chunk's missing calls (g < 0), row by row: row pointers, samples (ascending within a row), each
    set to 0 in place; and per row the founders' ALT sum (into `alt_sum`, zeros of the sum's type) and
    non-missing calls."""
    m, n = g.shape
    ptr = np.zeros(m + 1, dtype=np.int64)
    n_ok = np.zeros(m, dtype=np.int64)
    for r in range(m):
        row = g[r]
        c = 0
        s = alt_sum[r]
        ok = 0
        for i in range(n):
            x = row[i]
            if x < 0:
                c += 1
            elif founders[i]:
                s += x
                ok += 1
        ptr[r + 1] = ptr[r] + c
        alt_sum[r] = s
        n_ok[r] = ok
    msample = np.empty(ptr[m], dtype=np.int64)
    for r in range(m):
        q = ptr[r]
        if q == ptr[r + 1]:
            continue
        row = g[r]
        for i in range(n):
            if row[i] < 0:
                msample[q] = i
                q += 1
                row[i] = 0
    return ptr, msample, alt_sum, n_ok


@njit(nogil=True, cache=True)
def missing_calls(g, founders):  # pragma: no cover - compiled
    """A chunk of ALT counts' missing calls: row pointers, samples, founders' ALT count sums (int), calls."""
    return _missing(g, founders, np.zeros(g.shape[0], dtype=np.int64))


@njit(nogil=True, cache=True)
def missing_dosages(g, founders):  # pragma: no cover - compiled
    """`missing_calls` for a chunk of dosages (float): the founders' ALT dosage sums are floats."""
    return _missing(g, founders, np.zeros(g.shape[0], dtype=np.float64))
