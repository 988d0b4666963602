"""Rendering run outcomes for people: tables for scores and reports, JSON for the rest."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from prsgazer.cli import err, out


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
