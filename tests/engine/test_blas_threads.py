"""`engine.common.blas_single_thread`: BLAS stays on one thread while any caller is inside, whatever
the order in which concurrent callers leave (the limit is process-wide)."""

from __future__ import annotations

import threading

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from prsgazer.engine.common import blas_single_thread


def _blas_threads() -> set[int]:
    assert np.ones(1) is not None  # numpy (and its BLAS) loaded
    return {int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"}


def test_one_thread_until_the_last_caller_leaves() -> None:
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        inside, leave = threading.Event(), threading.Event()
        seen: list[set[int]] = []

        def other() -> None:
            with blas_single_thread():
                inside.set()
                leave.wait(10)

        with blas_single_thread():
            t = threading.Thread(target=other)
            t.start()
            assert inside.wait(10)
        # this caller left first: the other one is still inside, so BLAS stays on one thread
        seen.append(_blas_threads())
        leave.set()
        t.join()
        assert seen == [{1}]
    # (the last one out restores the limit it found; OpenBLAS only takes a larger thread count when it is
    # set from the thread that started BLAS, so a restore made in a worker thread may leave it at one)
