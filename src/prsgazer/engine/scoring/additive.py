"""Additive scores as sparse sums over variant chunks: the compiled loops of `_kernels` driven chunk by
chunk. Shared by batch scoring (`engine.batch`) and the cohort path of `engine.score.score_chunks`.
See docs/reference.md ("Batch scoring").

An additive entry (variant v, score k, weight w, effect allele ALT or REF) contributes f0 + step·g for
ALT count g: f0 = 0 and step = w for an ALT effect allele, f0 = 2w and step = −w for REF (and 0 + g or
2 − g to the named-allele dosage sum). Σ f0 is a constant per score; Σ step·g is accumulated per score
over the rows of its variants (sparse), or, for many scores covering most variants, as a BLAS product
(dense). A missing call first counts as g = 0, then `_kernels.missing_correction` replaces f0 by the
mean-imputed value 2·p·w (or 0 when no frequency is known) and counts it, as plink2 does.

With `dosages=True` the chunks are float32 ALT dosages (`GenotypeSource.read_dosages`) and the same
kernels run on them (numba compiles them for each type); the int8 path is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from prsgazer.engine.genotypes.freq import founder_frequency
from prsgazer.engine.genotypes.source import GenotypeSource

ProgressFn = Callable[[str, int, int], None]


class Totals:
    """Per (score, sample) accumulators, shape (n_scores, n_samples)."""

    def __init__(self, s: int, n: int, dosage: bool) -> None:
        self.sum = np.zeros((s, n))
        self.dosage = np.zeros((s, n)) if dosage else None
        self.n_missing = np.zeros((s, n), dtype=np.int32)
        self.n_imputed = np.zeros((s, n), dtype=np.int32)


class Entries(NamedTuple):
    """Additive entries sorted by (score, union position), ready for `accumulate`."""

    s: int  # number of scores
    union: np.ndarray  # source rows with at least one entry, sorted
    upos: np.ndarray  # entry → position in `union`
    score: np.ndarray
    w: np.ndarray
    is_alt: np.ndarray
    ptr: np.ndarray  # score k's entries are ptr[k]:ptr[k + 1]
    dense: np.ndarray  # scores multiplied with BLAS
    sparse: np.ndarray  # scores summed by the sparse kernel, in a thread-balanced order


def prepare(
    n_rows: int, entries: list[np.ndarray], s: int, *, dense_fraction: float = 0.5, dense_min_scores: int = 32,
    in_place: bool = False,
) -> Entries:  # fmt: skip
    """Sort `entries` = [source row, score index, weight, effect allele is ALT] for `accumulate`.

    The list is taken over (emptied) so each array is freed once its sorted copy exists; with
    `in_place`, the arrays are reordered in place instead (`kernels.permute`: no second copy; the caller
    must not use them again). In place pays when each score's entries lie close together, as a batch's
    do (a file's entries are one group's): 14.2M entries in 0.41 s against 1.55 s for the gathers. On
    entries interleaved across the whole array (a cohort's plan) it follows long cycles at random: 1M
    entries in 0.16 s against 0.03 s. Scores
    covering more than `dense_fraction` of the union of variants use BLAS, when there are at least
    `dense_min_scores` of them (converting a chunk to float64 pays off only for many columns)."""
    from prsgazer.engine.scoring import kernels as K

    vidx, score, w, is_alt = entries
    entries.clear()
    # union of variants, each entry's position in it (int32 below 2^31 union variants: half the
    # bytes), entries sorted by (score, union position)
    present = np.zeros(n_rows, dtype=bool)
    present[vidx] = True
    union = np.flatnonzero(present)
    rank = np.cumsum(present, dtype=np.int32 if len(union) < 2**31 else np.int64) - 1
    upos = rank[vidx]
    del present, rank, vidx
    order = entry_order(score, upos, s)
    if in_place:  # the peak is the entries and their order, not the entries twice (14.2M entries: ~110 MiB)
        score, w, is_alt = np.ascontiguousarray(score), np.ascontiguousarray(w), np.ascontiguousarray(is_alt)
        K.permute(order, upos, score, w, is_alt)
    else:
        upos = upos[order]
        score = score[order]
        w = w[order]
        is_alt = is_alt[order]
    del order
    counts = np.bincount(score, minlength=s)
    ptr = np.zeros(s + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(counts)
    is_dense = counts > dense_fraction * max(len(union), 1)
    if is_dense.sum() < dense_min_scores:
        is_dense[:] = False
    dense = np.flatnonzero(is_dense).astype(np.int64)
    sparse = _balanced(np.flatnonzero(~is_dense).astype(np.int64), counts)
    return Entries(s, union, upos, score, w, is_alt, ptr, dense, sparse)


def accumulate(
    source: GenotypeSource, e: Entries, *, chunk_variants: int, dosage_sum: bool, impute: bool,
    founders: np.ndarray | None, ref_alt_freq: np.ndarray | None = None, progress: ProgressFn | None = None,
    dosages: bool = False,
) -> tuple[Totals, int]:  # fmt: skip
    """Σ over entries of f0 + step·g per (score, sample), reading `chunk_variants` union rows at a time
    (the next chunk is read on a helper thread while the current one is summed). Returns the totals
    and the number of chunks.

    `founders`: the samples whose calls give the ALT frequency for imputing a missing call (None: no
    target frequencies); `ref_alt_freq` (per source row, NaN = unknown) is used before them.
    `dosages`: read ALT dosages (float32) instead of hard calls."""
    from prsgazer.engine.scoring import kernels as K

    n, s = source.n_samples, e.s
    upos, score, w, is_alt = e.upos, e.score, e.w, e.is_alt
    # the value per ALT copy: w, or -w for a REF effect allele (one array, no temporaries: on 14.2M
    # entries the np.where forms here took 300 MiB more at the batch's peak)
    step = w.copy()
    np.negative(step, out=step, where=~is_alt)
    t = Totals(s, n, dosage_sum)
    # constant parts: Σ f0 per score (the value at ALT count 0 of every entry: 2w for a REF effect allele)
    ref_sum, ref_count = K.ref_constants(score, w, is_alt, s)
    t.sum += ref_sum[:, None]
    ustep = None
    if dosage_sum:
        assert t.dosage is not None
        ustep = np.where(is_alt, 1.0, -1.0)
        t.dosage += ref_count[:, None]
    union = e.union
    bounds = [(lo, min(lo + chunk_variants, len(union))) for lo in range(0, len(union), chunk_variants)]
    cur = e.ptr[:-1].copy()
    end = e.ptr[1:].copy()
    # two chunk buffers, reused: one is scored while the next chunk is read into the other
    rows = min(chunk_variants, len(union))
    read_into = getattr(source, "read_dosages_into" if dosages else "read_into", None)
    kind = np.float32 if dosages else np.int8
    buffers = [np.empty((rows, n), dtype=kind) for _ in range(min(2, len(bounds)))] if read_into else []

    def load(k: int) -> tuple[np.ndarray, int | None]:
        """Chunk k and, when the reader counted them, its missing calls."""
        lo, hi = bounds[k]
        if read_into is not None:
            buf = buffers[k % 2][: hi - lo]
            if dosages:  # read_dosages_into fills the buffer and may count the missing values
                return buf, read_into(union[lo:hi], buf)
            return read_into(union[lo:hi], buf), None
        if dosages:
            return source.read_dosages(union[lo:hi]), None  # a new array: ours to change
        return source.read(union[lo:hi]), None

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, 0) if bounds else None
        for k, (lo, hi) in enumerate(bounds):
            assert pending is not None
            g, n_missing = pending.result()
            if k + 1 < len(bounds):
                pending = pool.submit(load, k + 1)
            missing = None
            # the reader's count, else a SIMD scan (panels rarely have missing calls)
            if (n_missing > 0) if n_missing is not None else (g.size and int(g.min()) < 0):
                if read_into is None and not dosages:
                    g = g.copy()  # the source's array: not ours to change
                missing = _take_missing(g, founders, impute)  # and set them to ALT count 0 in g
            g0 = g
            start = cur.copy()
            stop = K.advance(cur, end, upos, hi)
            if len(e.dense):
                _dense_product(g0, lo, hi, e.dense, start, stop, upos, step, t.sum)
                if ustep is not None:
                    assert t.dosage is not None
                    _dense_product(g0, lo, hi, e.dense, start, stop, upos, ustep, t.dosage)
            if len(e.sparse):
                if ustep is not None:  # both sums in one pass over the rows
                    assert t.dosage is not None
                    K.sparse_accumulate2(g0, lo, e.sparse, start, stop, upos, step, ustep, t.sum, t.dosage)
                else:
                    K.sparse_accumulate(g0, lo, e.sparse, start, stop, upos, step, t.sum)
            if missing is not None:
                mptr, msample, p_target = missing
                p_alt = np.full(hi - lo, np.nan)
                if impute:
                    if ref_alt_freq is not None:
                        p_alt = ref_alt_freq[union[lo:hi]].astype(np.float64)
                    if p_target is not None:  # the target's frequency where the reference has none
                        p_alt = np.where(np.isnan(p_alt), p_target, p_alt)
                K.missing_correction(
                    lo, start, stop, upos, w, is_alt, p_alt, mptr, msample, t.sum,
                    t.dosage if t.dosage is not None else t.sum, t.dosage is not None, t.n_missing, t.n_imputed,
                )  # fmt: skip
            cur = stop
            if progress:
                progress("score", k + 1, len(bounds))
    return t, len(bounds)


def entry_order(score: np.ndarray, upos: np.ndarray, s: int) -> np.ndarray:
    """Order of entries by (score, union position), ties in their given order: a stable counting sort
    on the score (`kernels.order_by_score`: int32 indices below 2^31 entries, no key or check copies;
    `prepare` on 14.2M entries: 0.56 s and +120-173 MiB at its peak, against 0.74 s and +229-278 MiB
    with numpy's radix argsort, its int16 key and the gathered copies it checked), which also
    tells whether each score's positions came out ascending (the matcher yields a group's rows by
    position, and a large file's slices in position order); a full lexsort only when they did not."""
    from prsgazer.engine.scoring import kernels as K

    order = np.empty(len(score), dtype=np.int32 if len(score) < 2**31 else np.int64)
    if not K.order_by_score(score, upos, s, order):
        return np.lexsort((upos, score))
    return order


def _balanced(sel: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Order scores so numba's static split of the loop gives every thread the same work: sorted by
    size, dealt round-robin, thread t's share placed in the t-th block."""
    import numba

    t = max(1, numba.get_num_threads())
    by_size = sel[np.argsort(-counts[sel], kind="stable")]
    return np.concatenate([by_size[k::t] for k in range(t)]) if len(sel) else sel


def _dense_product(
    g0: np.ndarray, lo: int, hi: int, dense: np.ndarray, start: np.ndarray, stop: np.ndarray,
    upos: np.ndarray, vals: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    from prsgazer.engine.scoring import kernels as K

    block = np.zeros((hi - lo, len(dense)))
    K.fill_block(block, lo, dense, start, stop, upos, vals)
    gd = g0.astype(np.float64)
    out[dense] += (gd.T @ block).T


def _take_missing(
    g: np.ndarray, founders: np.ndarray | None, impute: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The chunk's missing calls, row by row: (row pointers, samples, ALT frequency over the founders'
    non-missing calls or NaN, None without founders), each missing call set to ALT count 0 in `g`.
    Missing calls count as 0 in the sums, then `missing_correction` imputes them (plink2's rule)."""
    from prsgazer.engine.scoring import kernels as K

    fnd = founders if founders is not None else np.zeros(g.shape[1], dtype=bool)
    ptr, msample, alt_sum, n_ok = (K.missing_calls if g.dtype == np.int8 else K.missing_dosages)(g, fnd)
    p_target = None
    if founders is not None and impute:
        p_target = founder_frequency(alt_sum, n_ok)
    return ptr, msample, p_target
