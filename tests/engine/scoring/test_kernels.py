"""The batch scorer's compiled loops against numpy: `advance` is a per-score searchsorted, and the fused
`sparse_accumulate2` gives bit for bit what two `sparse_accumulate` passes give (hard calls and
dosages), which are the numpy sums to rounding. And numba's set-up lets OpenMP threads sleep."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from prsgazer.engine.scoring import kernels as K
from prsgazer.engine.scoring.additive import prepare


def entries(rng: np.random.Generator, m: int, sizes: list[int]):  # type: ignore[no-untyped-def]
    vidx = np.concatenate([np.sort(rng.choice(m, k, replace=False)) for k in sizes])
    score = np.repeat(np.arange(len(sizes)), sizes)
    w = rng.normal(0, 0.1, len(vidx))
    is_alt = rng.random(len(vidx)) < 0.5
    return prepare(m, [vidx, score, w, is_alt], len(sizes))


def test_advance_is_searchsorted() -> None:
    rng = np.random.default_rng(3)
    e = entries(rng, 500, [1, 7, 64, 300, 499])
    cur = e.ptr[:-1].copy()
    for hi in (0, 1, 100, 250, 499, 500):
        stop = K.advance(cur, e.ptr[1:].copy(), e.upos, hi)
        want = [a + np.searchsorted(e.upos[a:b], hi) for a, b in zip(e.ptr[:-1], e.ptr[1:], strict=True)]
        assert stop.tolist() == want
        cur = stop


@pytest.mark.parametrize("kind", [np.int8, np.float32])
def test_fused_pass_is_two_passes_bit_for_bit(kind: type) -> None:
    rng = np.random.default_rng(11)
    m, n = 400, 333  # sample count not a multiple of any vector width
    e = entries(rng, m, [3, 8, 13, 97, 250, 399])  # tails of 0..7 entries after the groups of 8
    if kind is np.int8:
        g = rng.integers(0, 3, (len(e.union), n)).astype(np.int8)
    else:
        g = (np.round(rng.random((len(e.union), n)) * 2 * 16384) / 16384).astype(np.float32)
    step = np.where(e.is_alt, e.w, -e.w)
    ustep = np.where(e.is_alt, 1.0, -1.0)
    a_sum, a_dos = np.full((e.s, n), 0.25), np.full((e.s, n), 2.0)
    b_sum, b_dos = a_sum.copy(), a_dos.copy()
    cur = e.ptr[:-1].copy()
    for lo in range(0, len(e.union), 150):  # chunk by chunk, as `accumulate` drives them
        hi = min(lo + 150, len(e.union))
        stop = K.advance(cur, e.ptr[1:].copy(), e.upos, hi)
        chunk = np.ascontiguousarray(g[lo:hi])
        K.sparse_accumulate(chunk, lo, e.sparse, cur, stop, e.upos, step, a_sum)
        K.sparse_accumulate(chunk, lo, e.sparse, cur, stop, e.upos, ustep, a_dos)
        K.sparse_accumulate2(chunk, lo, e.sparse, cur, stop, e.upos, step, ustep, b_sum, b_dos)
        cur = stop
    assert np.array_equal(a_sum, b_sum) and np.array_equal(a_dos, b_dos)
    for k in range(e.s):
        sel = slice(e.ptr[k], e.ptr[k + 1])
        rows = g[e.upos[sel]].astype(np.float64)
        np.testing.assert_allclose(b_sum[k], 0.25 + step[sel] @ rows, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b_dos[k], 2.0 + ustep[sel] @ rows, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("preset", "want"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_start_lets_openmp_threads_sleep_unless_told_otherwise(preset: str | None, want: str) -> None:
    """`compiled.start` asks libgomp for passive waiting before numba's first parallel loop; a policy the
    user set stays. (A fresh interpreter: the setting is the process's.)"""
    code = (
        "import os\nfrom prsgazer.engine import compiled\nfrom prsgazer.engine.scoring import kernels\n"
        "assert 'OMP_WAIT_POLICY' not in os.environ or os.environ['OMP_WAIT_POLICY'] == 'ACTIVE'\n"
        "kernels.load()\nprint(os.environ['OMP_WAIT_POLICY'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == want


def test_start_checks_scipy_blas_without_importing_scipy_linalg() -> None:
    """`compiled.start` lets numba find scipy's BLAS without running `scipy.linalg`'s __init__ (a third
    of numba's first load), from several threads at once; numba's BLAS-backed code, compiled code and a
    later ordinary `import scipy.linalg` all work as usual. (A fresh interpreter: imports are the process's.)"""
    code = """
import sys, threading
import numpy as np
from prsgazer.engine import compiled
errors = []
def go():
    try:
        compiled.start()
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=go) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
from prsgazer.engine.scoring import kernels
kernels.load()  # numba's first cache load: its registries, and their BLAS check
assert 'scipy.linalg' not in sys.modules and 'scipy.linalg.cython_blas' not in sys.modules
from numba.np import arraymath
assert arraymath._HAVE_BLAS
import numba
@numba.njit
def prod(a, b):
    return np.dot(a, b)
a = np.arange(6.0).reshape(2, 3)
assert (prod(a, a.T) == a @ a.T).all()
import scipy.linalg, scipy.linalg.cython_blas
assert scipy.linalg.cython_blas.__pyx_capi__
assert np.allclose(scipy.linalg.eigh(np.diag([2.0, 1.0]))[0], [1.0, 2.0])
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("local", [False, True])
def test_permute_in_place_is_gathering(local: bool) -> None:
    """`permute` reorders four arrays of different types in place as `a[order]` would (a random
    permutation, and one that only reorders within blocks, as a batch's entries are)."""
    rng = np.random.default_rng(5)
    n = 10_000
    if local:
        order = np.concatenate([lo + rng.permutation(100) for lo in range(0, n, 100)]).astype(np.int32)
    else:
        order = rng.permutation(n).astype(np.int32)
    arrays = [rng.integers(0, 9, n).astype(np.int32), rng.integers(0, 500, n), rng.normal(size=n), rng.random(n) < 0.5]
    want = [a[order] for a in arrays]
    K.permute(order, *arrays)
    for got, exp in zip(arrays, want, strict=True):
        assert got.dtype == exp.dtype and np.array_equal(got, exp)


@pytest.mark.parametrize("in_place", [False, True])
def test_prepare_sorts_entries_by_score_then_position(in_place: bool) -> None:
    """`prepare`'s entries (gathered, or reordered in place) are those of a stable lexsort on (score,
    union position)."""
    rng = np.random.default_rng(9)
    m, k = 300, 2_000
    vidx = rng.integers(0, m, k)
    score = rng.integers(0, 6, k)
    w = rng.normal(size=k)
    is_alt = rng.random(k) < 0.5
    union = np.unique(vidx)
    upos = np.searchsorted(union, vidx)
    order = np.lexsort((upos, score))
    want = (upos[order], score[order], w[order], is_alt[order])
    given = [vidx.copy(), score.copy(), w.copy(), is_alt.copy()]
    e = prepare(m, given, 6, in_place=in_place)
    assert given == []  # taken over
    assert np.array_equal(e.union, union)
    for got, exp in zip((e.upos, e.score, e.w, e.is_alt), want, strict=True):
        assert np.array_equal(got, exp)


def test_ref_constants_are_the_bincounts_bit_for_bit() -> None:
    rng = np.random.default_rng(12)
    k, s = 50_000, 37
    score = rng.integers(0, s, k)
    w = rng.normal(0, 0.3, k)
    is_alt = rng.random(k) < 0.5
    total, count = K.ref_constants(score, w, is_alt, s)
    assert np.array_equal(total, np.bincount(score, weights=np.where(is_alt, 0.0, 2.0 * w), minlength=s))
    assert np.array_equal(count, np.bincount(score, weights=np.where(is_alt, 0.0, 2.0), minlength=s))
