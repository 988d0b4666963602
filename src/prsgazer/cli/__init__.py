"""The `prsgazer` command line (Typer): the app, shared helpers and the entry point.

See docs/architecture.md ("CLI contract").

Front door only: parses arguments, calls storage / engine / workflows, prints tables or JSON.
Exit codes: 0 success, 2 bad input (the message names file, line and field), 1 internal error.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.exceptions import TyperException

from prsgazer import __version__
from prsgazer.errors import InputError, PrsgazerError

if TYPE_CHECKING:  # the modules `_register` imports by name (so that the import graph shows them)
    from prsgazer.cli import ancestry, bundle, catalog, demo, notebook, reference, run, score, serve, storage  # noqa: F401

app = typer.Typer(
    name="prsgazer",
    help="Polygenic risk scores: exact against plink2, fast, for agents, pipelines and notebooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prsgazer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """prsgazer command line."""


def parse_keyvalues(items: list[str] | None) -> dict[str, Any]:
    """`key=value` words into a dict; a repeated key collects a list (any-of in queries)."""
    kv: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(
                f"expected key=value, got {item!r}",
                field=item,
                hint="e.g. sample_id=NA12878",
            )
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise InputError(f"empty key in {item!r}", field=item)
        if key in kv:
            prev = kv[key]
            kv[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            kv[key] = value
    return kv


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


#: Every command and group, in the order `--help` lists them: name → (module under prsgazer/cli, attribute,
#: whether it is a Typer group). Only the module of the command being run is imported (`_register`): a
#: `prsgazer score` loads none of the other commands' dependencies (polars for `reference`, Flyte for `run`).
_COMMANDS: dict[str, tuple[str, str, bool]] = {
    "storage": ("storage", "app", True),
    "bundle": ("bundle", "app", True),
    "reference": ("reference", "app", True),
    "catalog": ("catalog", "app", True),
    "demo": ("demo", "demo", False),
    "score": ("score", "score", False),
    "ancestry": ("ancestry", "ancestry", False),
    "tasks": ("run", "tasks", False),
    "run": ("run", "run", False),
    "serve": ("serve", "serve", False),
    "notebook": ("notebook", "notebook", False),
}
#: Options of the root callback that come before a command name (none of them takes a value).
_ROOT_OPTIONS = ("--version", "--help")


def _command_named(argv: list[str]) -> str | None:
    """The command `argv` runs, when it names one of `_COMMANDS` (None: help, --version, a typo, nothing)."""
    for arg in argv:
        if arg in _ROOT_OPTIONS:
            continue
        return arg if arg in _COMMANDS else None
    return None


def _register(names: list[str] | None = None) -> None:
    """Attach commands and groups (each lives in its own module under prsgazer/cli/): `names`, or all of them.
    Idempotent; the app keeps `_COMMANDS`' order whatever was attached first."""
    import importlib

    have = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    for name in names if names is not None else list(_COMMANDS):
        if name in have:
            continue
        module, attr, group = _COMMANDS[name]
        target = getattr(importlib.import_module(f"prsgazer.cli.{module}"), attr)
        if group:
            app.add_typer(target, name=name)
        elif name == "run":
            app.command(name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                                "help_option_names": []})(target)  # its --help knows the task
        else:
            app.command(name)(target)
    rank = list(_COMMANDS).index
    app.registered_commands.sort(key=lambda c: rank(c.name or ""))
    app.registered_groups.sort(key=lambda g: rank(g.name or ""))


def configure_logging(level: str | None = None) -> None:
    """Send loguru records at `PRSGAZER_LOG_LEVEL` (or `level`) and above to stderr, nothing else."""
    from prsgazer import logs
    from prsgazer.config import get_settings

    logs.configure((level or get_settings().log_level).upper())


#: Width of output that goes to a file or a pipe: tables and long lines are never cut at 80 columns there.
PIPED_WIDTH = 4096


def configure_output() -> None:
    """Set up how the CLI prints: flags read as flags in help (`--json`, not `--json <bool>`), and output
    that is not a terminal is as wide as its content."""
    from typer.core import TyperOption

    if not getattr(TyperOption.display_type_rich, "_prsgazer", False):
        shown = TyperOption.display_type_rich

        def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
            return None if self.is_flag and self.metavar is None else shown(self, ctx)

        display_type_rich._prsgazer = True  # type: ignore[attr-defined]
        TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    for console in (out, err):
        if not console.is_terminal:  # a terminal keeps following its own size
            console.width = PIPED_WIDTH


def main(argv: list[str] | None = None) -> int:
    """Console entry point: load .env, run the app, map errors to exit codes."""
    from dotenv import load_dotenv

    load_dotenv()
    from prsgazer.config import reset_settings

    reset_settings()
    try:
        configure_logging()
        configure_output()
        args = sys.argv[1:] if argv is None else argv
        command = _command_named(args)
        if command is None and "--version" in args and "--help" not in args:
            _register([])  # the version is printed before any command is looked up: load none
        else:
            _register([command] if command is not None else None)
        # standalone_mode=False: click returns the code of `typer.Exit(n)` instead of raising it.
        rc = app(args=args, standalone_mode=False)
    except PrsgazerError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except TyperException as exc:  # usage errors (exit 2), with click's own message
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"error: {exc.format_message()}")
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 1
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: say it is ours, not the user's
        import traceback

        traceback.print_exc()
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}")
        return 1
    return rc if isinstance(rc, int) else 0


def entry() -> None:
    leave(main())


def leave(rc: int) -> NoReturn:
    """Exit with `rc` after everything a normal exit does for the outside world — non-daemon threads
    joined and thread pools shut down (`threading._shutdown`), exit handlers run (temp-folder
    finalizers, log sinks), standard streams flushed — but without the interpreter's teardown of every
    module and object, which frees memory the OS takes back anyway (~70 ms of a one-person score)."""
    import atexit
    import os
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # CPython: what Py_Finalize calls first
    if shutdown is None:  # another interpreter: the ordinary exit
        sys.exit(rc)
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or stream: what was left is lost
            if stream is sys.stdout and rc == 0:
                rc = 120  # as Python's own exit does when it cannot flush stdout
    os._exit(rc)


if __name__ == "__main__":
    entry()
