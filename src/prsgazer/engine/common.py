"""The engine's shared vocabulary: chromosome names, genome builds, allele complements and the
missing-call code. Every engine subpackage may use it; it imports nothing from the engine.
See docs/engine.md.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

import numpy as np
import polars as pl
from isal import isal_zlib

_P = ParamSpec("_P")
_R = TypeVar("_R")


_malloc_trim: Callable[[int], int] | bool | None = False  # False: not looked up yet; None: not glibc


def release_free_memory() -> None:
    """Give the C heap's free pages back to the OS (glibc's `malloc_trim`; elsewhere nothing happens).

    numpy's arrays of a few MB come from the heap (glibc raises its mmap threshold, up to 32 MB, each
    time a larger array is freed), so a batch's matching temporaries and the entries it keeps share it:
    freed memory stays resident behind what is kept. At the end of batch1m's matching ~400 MB of the
    1.2 GiB resident were free heap. Called between matched groups: batch300k peak RSS 580-592 →
    531-553 MiB at the same wall time; batch1m 1,491 → 1,252-1,270 MiB for ~0.5 s (4 %) more."""
    global _malloc_trim
    if _malloc_trim is False:
        import ctypes

        try:
            fn = ctypes.CDLL(None).malloc_trim
        except (AttributeError, OSError):
            _malloc_trim = None
        else:
            fn.argtypes = [ctypes.c_size_t]
            fn.restype = ctypes.c_int
            _malloc_trim = fn
    if callable(_malloc_trim):
        _malloc_trim(0)


def one_blas_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `fn` with BLAS/LAPACK on one thread. OpenBLAS splits a product differently by thread count
    (and a call made while another thread is in BLAS runs on fewer threads), which changes the last
    bits of sums: outputs that are stored by content (their CID) must not depend on how many cores a
    machine has or on what else the process is doing."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def small_pages() -> None:
    """Stop numpy asking for 2 MB pages for new arrays (of 4 MB or more) in this process, unless the
    user set NUMPY_MADVISE_HUGEPAGE (numpy's own switch, read when numpy is imported).

    numpy marks large arrays MADV_HUGEPAGE. With the kernel's usual `defrag=madvise`, a fault in such
    an array compacts memory to find a free 2 MB block, then zeroes all of it. A batch makes and
    frees many large temporary arrays (14M matched entries and their sorted copies on bench_reference's
    case), so each one paid that again: on the 2-core bench VM, 20 % of the batch's samples were the
    kernel zeroing huge pages, and the warm batch took 12.8-13.7 s with them against 10.7-11.3 s
    without. Scores do not change: this only decides how the kernel backs memory. Called explicitly by
    the entry points that build such arrays (`scoring.batch.batch_score`), as `compiled.start` is."""
    import os

    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is not None:
        return
    from numpy._core import multiarray

    switch = getattr(multiarray, "_set_madvise_hugepage", None)  # not in numpy's type stubs
    if switch is not None:  # a numpy without it has nothing to turn off
        switch(False)


#: What a truncated or damaged gzip stream raises, whichever reader met it: zlib's, gzip's and isal's
#: errors (isal's stub declares an instance; it is the exception class) and a premature end.
GZIP_ERRORS: tuple[type[Exception], ...] = (
    EOFError, zlib.error, gzip.BadGzipFile, cast("type[Exception]", isal_zlib.error)
)  # fmt: skip

#: Missing-call code in genotype arrays (pgenlib's convention, so pgen reads need no conversion).
MISSING: int = -9

#: A DNA allele (after upper-casing).
DNA_ALLELE = r"^[ACGT]+$"

_BUILD_ALIASES = {
    "grch37": "GRCh37",
    "hg19": "GRCh37",
    "b37": "GRCh37",
    "grch38": "GRCh38",
    "hg38": "GRCh38",
    "b38": "GRCh38",
    "ncbi36": "NCBI36",
    "hg18": "NCBI36",
    "ncbi35": "NCBI35",
    "hg17": "NCBI35",
}
_NOT_REPORTED = {"", "nr", "na", "none", "null", "not reported", "unknown"}


def normalize_build(value: str | None) -> str | None:
    """`hg19`/`GRCh37`/`b37` → `GRCh37`, likewise for 38 and 36; `NR` and empty → None.

    Raises ValueError for anything else, so a typo is never taken for a build.
    """
    if value is None:
        return None
    text = value.strip()
    if text.lower() in _NOT_REPORTED:
        return None
    try:
        return _BUILD_ALIASES[text.lower()]
    except KeyError:
        raise ValueError(f"unknown genome build {value!r} (expected GRCh37/hg19, GRCh38/hg38 or NR)") from None


_CHROM_ALIASES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}


def chrom_expr(col: str | pl.Expr) -> pl.Expr:
    """Normalised chromosome names: no 'chr' prefix, upper case, 23→X, 24→Y, M→MT."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.str.to_uppercase().str.strip_prefix("CHR").replace(_CHROM_ALIASES)


def runs(col: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """(value of each run of equal values, run lengths); consecutive nulls are one run. polars' `rle`:
    on 3M scoring rows from 100 files, 8 ms against 37 ms comparing the column with its shift."""
    found = col.rle().struct.unnest()
    return found.get_column("value").alias(col.name), found.get_column("len").to_numpy()


def complement_expr(col: str) -> pl.Expr:
    """The strand complement of a DNA allele column (A↔T, C↔G); non-ACGT values unchanged."""
    c = pl.col(col)
    flipped = c.str.replace_many(["A", "C", "G", "T"], ["T", "G", "C", "A"])
    return pl.when(c.str.contains(DNA_ALLELE)).then(flipped).otherwise(c)
