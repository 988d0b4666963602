"""`prsgazer bundle list|fetch`: named sets of assets (demo data, reference sets). See docs/storage.md."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from prsgazer.cli import err, out, print_json

app = typer.Typer(help="Named asset bundles (the demo data, reference sets).", no_args_is_help=True)


@app.command("list")
def bundle_list(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """List the bundles this installation knows."""
    from prsgazer.bundles import list_bundles

    bundles = list_bundles()
    if as_json:
        print_json([b.summary() for b in bundles])
        return
    table = Table("name", "assets", "description")
    for b in bundles:
        table.add_row(b.name, ", ".join(a.role for a in b.assets) or "(generated)", b.description)
    out.print(table)


@app.command("fetch")
def bundle_fetch(
    name: Annotated[str, typer.Argument(help="Bundle name (see `prsgazer bundle list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the assets by role as JSON.")] = False,
) -> None:
    """Make a bundle's assets available in the store (from the store, its remote, or its generator)."""
    from prsgazer.bundles import fetch_bundle

    with err.status(f"fetching bundle {name}…", spinner="dots"):
        got = fetch_bundle(name)
    if as_json:
        typer.echo(got.model_dump_json(indent=2))
        return
    table = Table("role", "asset", "cid", title=f"bundle {name} ({got.source}, {got.seconds:.1f} s)")
    for role, a in got.assets.items():
        table.add_row(role, a["asset"], a["cid"])
    out.print(table)
    for note in got.notes:
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
