"""`prsgazer run NAME [--local|--remote] --ARG VALUE…` and `prsgazer tasks`: any registered task or workflow.

See docs/workflows.md. Arguments are the task's parameters (`--pgs-ids PGS1 --pgs-ids PGS2` or
`--pgs-ids PGS1,PGS2` for lists; an asset parameter takes a CID or `key=value,key=value` filters).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from prsgazer.cli import err, out, print_json
from prsgazer.errors import InputError


def parse_run_args(words: list[str]) -> dict[str, Any]:
    """`--name value` / `--name=value` words → inputs; a repeated name collects a list."""
    inputs: dict[str, Any] = {}
    i = 0
    while i < len(words):
        w = words[i]
        if not w.startswith("--") or len(w) < 3:
            raise InputError(f"expected --NAME VALUE, got {w!r}", field=w)
        name, eq, value = w[2:].partition("=")
        if not eq:
            if i + 1 >= len(words) or words[i + 1].startswith("--"):
                value = "true"  # a bare flag
            else:
                i += 1
                value = words[i]
        key = name.replace("-", "_")
        parsed: Any = value
        if "=" in value and not value.startswith(("{", "[")):
            # key=value,key=value → filters for an asset parameter
            parsed = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
        elif value.startswith(("{", "[")):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc}", field=f"--{name}") from None
        if key in inputs:
            prev = inputs[key]
            inputs[key] = [*prev, parsed] if isinstance(prev, list) else [prev, parsed]
        else:
            inputs[key] = parsed
        i += 1
    return inputs


def tasks(
    category: Annotated[str | None, typer.Option(help="Only this category (module name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the tasks and workflows `prsgazer run` (and the MCP server) can run."""
    from prsgazer import registry

    entries = [e for e in registry.entries().values() if category in (None, e.category)]
    if as_json:
        print_json([e.as_dict() for e in entries])
        return
    table = Table("name", "kind", "parameters", "output", "summary")
    for e in entries:
        params = ", ".join(f"{p.name}{'' if p.required else '?'}: {p.type}" for p in e.params)
        table.add_row(e.name, e.kind, params, e.output, e.summary)
    out.print(table)


def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Task or workflow name (see `prsgazer tasks`).")],
    remote: Annotated[
        bool, typer.Option("--remote/--local", help="Run on the Flyte cluster of .flyte/config.yaml, or here.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Run a registered task or workflow through Flyte (locally by default) and print its outputs."""
    from prsgazer import runner

    inputs = parse_run_args(list(ctx.args))
    mode = "remote" if remote else "local"
    with err.status(f"running {name} ({mode})…", spinner="dots"):
        outcome = asyncio.run(runner.run(name, inputs, mode=mode))
    if as_json:
        typer.echo(outcome.model_dump_json(indent=2))
        return
    from prsgazer.cli.render import render_outcome

    render_outcome(outcome)
