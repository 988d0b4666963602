"""`prsgazer run NAME [--local|--remote] --ARG VALUE…` and `prsgazer tasks`: any registered task or workflow.

See docs/workflows.md. Arguments are the task's parameters (`--pgs-ids PGS1 --pgs-ids PGS2` or
`--pgs-ids PGS1,PGS2` for lists; an asset parameter takes a CID or `key=value,key=value` filters).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

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
    name: Annotated[
        str | None, typer.Argument(help="Task or workflow name (see `prsgazer tasks`); its own --ARG VALUE follow.")
    ] = None,
    remote: Annotated[
        bool, typer.Option("--remote/--local", help="Run on the Flyte cluster of .flyte/config.yaml, or here.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    show_help: Annotated[
        bool, typer.Option("--help", "-h", help="Show this help, or with NAME the task's or workflow's own parameters.")
    ] = False,
) -> None:
    """Run a registered task or workflow through Flyte (locally by default) and print its outputs.

    Its own parameters follow the name as --NAME VALUE; `prsgazer run NAME --help` lists them.

    Lists: --pgs-ids A,B or --pgs-ids A --pgs-ids B. Flags: --FLAG is true, --no-FLAG false.

    An asset parameter takes a CID or key=value,key=value filters.
    """
    from prsgazer import registry, runner

    if show_help or name is None:
        if name is None:
            typer.echo(ctx.get_help())
        else:
            print_params(registry.get(name))
        return
    entry = registry.get(name)
    inputs = _flags_off(entry, parse_run_args(list(ctx.args)))
    mode: Literal["local", "remote"] = "remote" if remote else "local"
    with err.status(f"running {name} ({mode})…", spinner="dots"):
        outcome = asyncio.run(runner.run(name, inputs, mode=mode))
    if as_json:
        typer.echo(outcome.model_dump_json(indent=2))
        return
    from prsgazer.cli.render import render_outcome

    render_outcome(outcome)


def _flags_off(entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """`--no-ancestry` → ancestry=false for a bool parameter (a parameter really named no_… is left alone)."""
    bools = {p.name for p in entry.params if p.type == "bool"}
    out = {}
    for k, v in inputs.items():
        if k.startswith("no_") and k[3:] in bools and k not in bools and v == "true":
            out[k[3:]] = "false"
        else:
            out[k] = v
    return out


def print_params(entry: Any) -> None:
    """A task's or workflow's own parameters as `prsgazer run` takes them: flag, type, default, meaning."""
    head = f"Usage: prsgazer run {entry.name} [--local|--remote] [--json]"
    req = [f"--{p.name.replace('_', '-')} {_value(p)}" for p in entry.params if p.required]
    out.print(" ".join([head, *req, "[OPTIONS]"]), highlight=False, markup=False)
    out.print(f"\n{entry.description.split(chr(10) * 2)[0]}\n", highlight=False, markup=False)
    table = Table("parameter", "value", "default", "meaning", title=f"{entry.kind} {entry.name}: parameters",
                  title_justify="left")  # fmt: skip
    for p in entry.params:
        flag = f"--{p.name.replace('_', '-')}"
        if p.type == "bool":
            flag = f"{flag} / --no-{p.name.replace('_', '-')}"
        default = "(required)" if p.required else ("" if p.default in (None, "", []) else str(p.default))
        if p.type == "bool" and not p.required:
            default = flag.split(" / ")[0] if p.default else flag.split(" / ")[1]
        table.add_row(flag, _value(p), default, p.description, end_section=False)
    out.print(table)
    out.print(f"Output: {entry.output}. Lists: --x A,B or --x A --x B; assets: a CID or key=value,key=value.",
              highlight=False, markup=False)  # fmt: skip


def _value(p: Any) -> str:
    """What a parameter's value looks like on the command line."""
    kind = p.type.removesuffix(" | None")
    if kind == "bool":
        return ""
    if p.asset:
        return "CID|key=value,…" + (" (several: CID,CID,…)" if p.is_list else "")
    if kind.startswith("list["):
        item = kind[5:-1]
        one = {"str": "TEXT", "int": "INT", "float": "NUMBER"}.get(item, item.upper())
        return f"{one},{one},…"
    return {"str": "TEXT", "int": "INT", "float": "NUMBER"}.get(kind, kind.upper())
