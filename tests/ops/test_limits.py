"""Limits that hold (issue 14, item 5): `PRSGAZER_MEMORY_LIMIT` is the process's, not each batch's.

Four batches asked for at once in one process (four MCP requests, four tasks of a local run) used to
run side by side, each planned for the whole limit (4 at 1 GB peaked at 2.5 GB). Now they share the
process's one `MemoryBudget` (kept by the operations layer, passed explicitly to the engine): each
holds the working budget while it computes, the others wait, and the numbers are those of a batch
run alone.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import polars as pl
import pytest


def test_a_budget_is_held_by_one_batch_at_a_time() -> None:
    from prsgazer.engine.scoring import MemoryBudget

    budget = MemoryBudget("1GB")
    assert budget.limit == 1_000_000_000
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def batch() -> None:
        with budget.reserve() as planned:
            assert planned == budget.limit  # each batch plans with the whole limit, one at a time
            with lock:
                inside.append(1)
                most[0] = max(most[0], len(inside))
            time.sleep(0.05)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=batch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and budget.waits >= 1


def test_concurrent_batches_in_one_process_share_one_memory_limit(synth_panel, tmp_path: Path) -> None:
    """The reproduction: four `distributions` requests at once, each with its own scoring files, at a
    1 GB limit. Their compute windows must not overlap (one budget), and their numbers must equal
    the same batches run one after the other."""
    from prsgazer.ops.distributions import distributions_for_files
    from prsgazer.ops.params import ScoreParams, Tuning

    info, files = synth_panel
    tuning = Tuning.from_settings(memory_limit="1GB")
    windows: dict[int, list[float]] = {}
    results: dict[int, pl.DataFrame] = {}
    errors: list[BaseException] = []

    def one(k: int) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            windows.setdefault(k, []).append(time.perf_counter())

        try:
            run = distributions_for_files(info.prefix, [files[k]], ScoreParams(), tuning, progress=progress,
                                          out_dir=tmp_path / f"d{k}")  # fmt: skip
            results[k] = run.batch.table()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    spans = sorted((min(w), max(w)) for w in windows.values())
    assert len(spans) == 4
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"two batches computed at once: {spans}"
    from prsgazer.ops.runtime import memory_budget

    assert memory_budget("1GB").waits >= 1
    # the same numbers as each batch alone (here: against a fresh cache, one at a time)
    alone = Tuning.from_settings(memory_limit="1GB", cache_dir=tmp_path / "alone-cache")
    for k in range(4):
        again = distributions_for_files(info.prefix, [files[k]], ScoreParams(), alone, out_dir=tmp_path / f"a{k}")
        assert again.batch.table().equals(results[k])


@pytest.mark.parametrize("limit", ["1GB", "1000MB"])
def test_one_budget_per_limit_per_process(limit: str) -> None:
    from prsgazer.ops.runtime import memory_budget

    assert memory_budget(limit) is memory_budget("1GB") and memory_budget("2GB") is not memory_budget("1GB")
