"""`prsgazer demo`: the main job on the embedded demo data. See README.md and docs/workflows.md.

Fetches the `demo` bundle (from the store, its remote, or by regenerating it: a synthetic person's
VCF, a 5-superpopulation synthetic reference panel and four scoring files in PGS Catalog format),
runs the `prs_report` workflow through Flyte locally and prints the report. A second run finds every
step's output in the store and is a lookup.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from prsgazer.cli import err, out, print_json


def demo(
    superpopulation: Annotated[
        str, typer.Option("--superpopulation", help="Compare with this group (default: the demo person's, EUR).")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the PRS report workflow on the embedded demo data (synthetic person, panel and scores)."""
    import json

    from prsgazer import runner
    from prsgazer.bundles import fetch_bundle, load_bundle
    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    t0 = time.perf_counter()
    with err.status("demo data: fetching the demo bundle (generated on first use, ~10 s)…", spinner="dots"):
        got = fetch_bundle("demo")
    for note in got.notes:
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
    bundle = load_bundle("demo")
    gen = bundle.generator
    person = got.assets["person"]
    inputs = {
        "vcf_cid": person["cid"],
        "sample_id": person.get("sample_id", ""),
        "pgs_ids": [s["pgs_id"] for s in gen["scores"]],
        "panel": got.assets["panel"]["cid"],
        "superpopulation": superpopulation,
    }
    err.print(f"demo data ready ({got.source}, {got.seconds:.1f} s); running prs_report through Flyte (local)…")
    with err.status("prs_report: normalize → score → percentile → report…", spinner="dots"):
        outcome = asyncio.run(runner.run("prs_report", inputs, mode="local"))
    store = default_store()
    report_cid = outcome.outputs["cid"]
    doc = Report.model_validate_json(Path(store.fetch(report_cid).path).read_text())  # type: ignore[arg-type]
    if as_json:
        print_json(json.loads(doc.model_dump_json()) | {"report_cid": report_cid})
    else:
        out.print(doc.text(), highlight=False, markup=False, soft_wrap=True)
    cached = bool(outcome.outputs.get("metrics", {}).get("cached"))
    err.print(
        f"report {report_cid} ({'cached' if cached else 'computed'}) in {time.perf_counter() - t0:.1f} s; "
        f"lineage: prsgazer storage lineage {report_cid}",
        highlight=False,
        soft_wrap=True,
    )
