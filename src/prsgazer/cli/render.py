"""What the CLI shows people: progress bars of long steps, run outcomes (tables for scores and
reports, JSON for the rest). See README.md.

Progress bars go to stderr and only when it is a terminal (piped or redirected, nothing is drawn);
`progress_bar` yields the `progress(stage, done, total)` callback the long operations take.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.table import Table

from prsgazer.cli import err, out

ProgressFn = Callable[[str, int, "int | None"], None]


@contextmanager
def progress_bar(description: str, *, transfer: bool = False) -> Iterator[ProgressFn]:
    """A progress bar per stage while the block runs; `progress(stage, done, total)` moves it.

    `transfer`: counts are bytes (shown as sizes and a speed). Nothing is drawn when stderr is not a
    terminal, and the bars vanish when the block ends (the command's own summary follows).
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    counts = (DownloadColumn(), TransferSpeedColumn()) if transfer else (MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(TextColumn("{task.description}"), BarColumn(), *counts, console=err, transient=True,
                  disable=not err.is_terminal) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{description}: {stage}" if stage else description, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


@contextmanager
def steps(description: str, n: int) -> Iterator[Callable[[str], None]]:
    """A bar over `n` steps of unknown length each: `step(name)` marks the start of the next one (a
    spinner and the elapsed time show life meanwhile). Nothing is drawn when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:  # fmt: skip
        task = bar.add_task(description, total=n)
        count = -1

        def step(name: str) -> None:
            nonlocal count
            count += 1
            bar.update(task, completed=count, description=f"{description}: {name}")

        yield step
        bar.update(task, completed=n)


def render_outcome(outcome: Any) -> None:
    data = outcome.outputs
    err.print(f"{outcome.name} ({outcome.kind}, {outcome.mode}) finished in {outcome.duration_s:.2f} s")
    if isinstance(data, dict) and data.get("asset") == "prs_report" and data.get("cid"):
        _render_report(data["cid"])
    elif isinstance(data, dict) and "results" in data and "n_ok" in data:
        _render_scores(data)
    else:
        out.print_json(json.dumps(data, default=str))


def _render_scores(data: dict[str, Any]) -> None:
    table = Table("pgs_id", "status", "matched", "overlap", "result CID", title="scores")
    for r in data["results"]:
        overlap = r.get("overlap")
        table.add_row(
            r.get("pgs_id", ""),
            r.get("status", ""),
            f"{r.get('n_matched', 0)}/{r.get('n_variants', 0)}",
            f"{overlap:.3f}" if isinstance(overlap, float) else "N/A",
            r.get("cid", ""),
        )
    out.print(table)
    for f in data.get("failures", []):
        out.print(f"[red]failed[/red] {f['pgs_id']} at {f['step']}: {f['error']}", highlight=False)
    out.print(
        f"total {data['n_total']}, ok {data['n_ok']}, failed {data['n_failed']}, cached {data['n_cached']}",
        highlight=False,
    )


def _render_report(cid: str) -> None:
    """A PrsReport as the demo prints it (the JSON is `prsgazer run … --json` or the stored asset)."""
    from pathlib import Path

    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    doc = Report.model_validate_json(Path(default_store().fetch(cid).path).read_text())  # type: ignore[arg-type]
    out.print(doc.text(), highlight=False, markup=False, soft_wrap=True)
    err.print(f"report {cid}; lineage: prsgazer storage lineage {cid}", highlight=False, soft_wrap=True)
