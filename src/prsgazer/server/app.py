"""The FastMCP server: tools, the `prsgazer://config` resource, prompts, transports. See docs/mcp.md.

`build_server()` makes a server with every tool of `prsgazer.server.tools` (errors become tool errors
with the domain message, never a traceback), `serve_stdio()` / `serve_http()` run it. Nothing happens
at import: settings are read when the server is built, the store and Flyte on first use.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import json
import logging
import platform
import socket
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import ValidationError as PydanticValidationError

from prsgazer import __version__
from prsgazer.config import Settings, get_settings, is_loopback
from prsgazer.errors import InputError, PrsgazerError
from prsgazer.logs import logger
from prsgazer.server import safety, tools
from prsgazer.server.models import ServerConfig

INSTRUCTIONS = """\
prsgazer computes polygenic risk scores (PRS) from a person's genotypes (VCF) and explains them.
Typical chain: upload_file (the VCF, from an allowed directory: it reports the file's genome build and
samples) → search_scores (a trait, in that build) → list_panels (a reference panel of that build) →
run_workflow("prs_report", {"vcf_cid", "pgs_ids", "panel"}) → explain_result (the report's CID).
list_tasks shows every runnable task and workflow with its parameters; results carry CIDs to chain on,
and errors say which tool and arguments to use instead. A polygenic score is a relative position
against a reference group, never a diagnosis.
"""

READ_ONLY = {"read_only_hint": True, "destructive_hint": False, "open_world_hint": False}
WRITES = {"read_only_hint": False, "destructive_hint": False, "open_world_hint": False}

#: (tool, annotations)
TOOLS: list[tuple[Callable[..., Any], dict[str, bool]]] = [
    (tools.list_tasks, READ_ONLY),
    (tools.run_task, WRITES),
    (tools.run_workflow, WRITES),
    (tools.upload_file, WRITES),
    (tools.query_files, READ_ONLY),
    (tools.download_file, WRITES),
    (tools.delete_file, {"read_only_hint": False, "destructive_hint": True, "open_world_hint": False}),
    (tools.lineage, READ_ONLY),
    (tools.list_bundles, READ_ONLY),
    (tools.fetch_bundle, WRITES),
    (tools.list_panels, READ_ONLY),
    (tools.search_scores, {**READ_ONLY, "open_world_hint": True}),
    (tools.score_info, {**READ_ONLY, "open_world_hint": True}),
    (tools.explain_result, READ_ONLY),
]


#: Longest rendering of a failing call's arguments in the server log.
LOGGED_ARGS = 400


def _arguments(kwargs: dict[str, Any]) -> str:
    """A failing call's arguments for the log: JSON, without the context, cut to `LOGGED_ARGS` characters."""
    shown = {k: v for k, v in kwargs.items() if k != "ctx"}
    text = json.dumps(shown, default=str, ensure_ascii=False)
    return text if len(text) <= LOGGED_ARGS else text[: LOGGED_ARGS - 1] + "…"


def _validation_text(exc: PydanticValidationError) -> str:
    """`argument 'kind': Input should be 'task' or 'workflow' (got 'job')`, one clause per error."""
    parts = []
    for e in exc.errors(include_url=False):
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "call") or "arguments"
        got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
        parts.append(f"argument {where!r}: {e.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or str(exc)


class FailureLog(Middleware):
    """Every failing tool call, whatever failed — the arguments' types or the tool — is logged with its
    reason and arguments; wrong argument types come back as `<tool> bad input: argument 'x': …`."""

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        try:
            return await call_next(context)
        except FastMCPValidationError as exc:
            name, arguments = context.message.name, dict(context.message.arguments or {})
            cause = exc.__cause__
            reason = _validation_text(cause) if isinstance(cause, PydanticValidationError) else str(exc)
            message = f"{name} bad input: {reason}"
            logger.warning("tool {} | arguments {}", message, _arguments(arguments))
            raise ToolError(message, log_level=logging.WARNING) from None


def tool_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a tool; a prsgazer error becomes a ToolError with its message, anything else a short internal error.

    The client sees what was wrong and how to fix it, never a traceback. The server log records every
    failing call — the tool, its arguments and the same reason (a warning for bad input, an error when
    the operation failed; an internal error with its traceback).
    """

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except ToolError as exc:
            logger.warning("tool {} refused: {} | arguments {}", fn.__name__, exc, _arguments(kwargs))
            raise
        except PrsgazerError as exc:
            bad_input = isinstance(exc, InputError) or exc.exit_code == 2  # e.g. nothing computed, for the input
            kind = "bad input" if bad_input else "failed"
            message = f"{fn.__name__} {kind}: {exc}"
            logger.log("WARNING" if bad_input else "ERROR", "tool {} | arguments {}", message, _arguments(kwargs))
            level = logging.WARNING if bad_input else logging.ERROR
            raise ToolError(message, log_level=level) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence: say it is ours, not the caller's
            message = f"{fn.__name__} internal error: {type(exc).__name__}: {exc}"
            logger.opt(exception=exc).error("tool {} | arguments {}", message, _arguments(kwargs))
            raise ToolError(message) from None

    wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return wrapper


class BearerToken(TokenVerifier):
    """Accepts exactly one static bearer token (compared in constant time)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        if not token:
            raise InputError("the MCP bearer token is empty", field="PRSGAZER_MCP_TOKEN")
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token="***", client_id="prsgazer", scopes=[])
        return None


def _version_of(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def server_config(settings: Settings | None = None) -> ServerConfig:
    """What the `prsgazer://config` resource shows."""
    from prsgazer import registry
    from prsgazer.catalog.metadata import local_release
    from prsgazer.storage import default_store

    s = settings or get_settings()
    entries = registry.entries().values()
    store = default_store()
    return ServerConfig(
        storage_root=str(s.home),
        remote=store.remote_status()["describe"] if s.remote.strip() else "none (local store only)",
        allowed_upload_dirs=[str(d) for d in safety.allowed_dirs(s)],
        max_upload_bytes=s.mcp_max_upload_bytes,
        n_tasks=sum(e.kind == "task" for e in entries),
        n_workflows=sum(e.kind == "workflow" for e in entries),
        workflows=[e.name for e in entries if e.kind == "workflow"],
        tasks=[e.name for e in entries if e.kind == "task"],
        catalog_metadata_release=local_release(store),
        versions={
            "prsgazer": __version__,
            "fastmcp": _version_of("fastmcp"),
            "mcp": _version_of("mcp"),
            "flyte": _version_of("flyte"),
            "python": platform.python_version(),
        },
    )


def prs_prompt(trait: str, vcf_path: str = "", superpopulation: str = "") -> str:
    """The "compute and interpret my PRS for <trait>" prompt, naming the tools and workflows available."""
    from prsgazer import registry

    entries = registry.entries()
    report = entries.get("prs_report")
    genome = (
        f"1. Store my genotypes: upload_file(path={vcf_path!r}) and note the CID and the genome build it detected "
        "(query_files({'asset': 'vcf'}) shows VCFs already stored)."
        if vcf_path
        else "1. Find my genotypes: query_files({'asset': 'vcf'}); if none is stored, ask me for the VCF path "
        "and upload it with upload_file (it must be in an allowed directory, see the prsgazer://config resource)."
    )
    if report is not None:
        params = ", ".join(p.name for p in report.params)
        run = (
            "3. Pick a reference panel of my VCF's build: list_panels() (an installed one; its name is `panel`). "
            f"Run run_workflow('prs_report', inputs) with the VCF's CID as vcf_cid, the chosen PGS ids (or the "
            f"trait), the panel and my ancestry group (parameters: {params}); it places the score against the "
            "reference panel."
        )
    else:
        run = (
            "3. Run run_workflow('cohort_scores', {'vcf_cid': <CID>, 'pgs_ids': [<ids>]}); the PrsResult CIDs are "
            "in its outputs."
        )
    ancestry = (
        f"My genetic ancestry group is {superpopulation}."
        if superpopulation
        else "If my genetic ancestry group (EUR, AFR, EAS, SAS, AMR) is not stored with the VCF, ask me."
    )
    return f"""Please compute and interpret my polygenic risk score for {trait} with the prsgazer tools.

{genome}
2. Find scores: search_scores({trait!r}, build=<my VCF's build>) and pick one or two well-evaluated scores
   (prefer a good quality label and evaluation in my ancestry group); score_info(pgs_id) gives details.
{run}
4. Explain: explain_result(<result or report CID>, superpopulation=<my group>) and tell me, in plain words,
   where I stand, how many of the score's variants were found, whether the score was evaluated in people like
   me, and how well it predicts. Say clearly that this is not a diagnosis.

{ancestry}"""


def build_server(settings: Settings | None = None, *, token: str | None = None) -> FastMCP:
    """The prsgazer MCP server. `token`: require this bearer token (HTTP transport)."""
    settings = settings or get_settings()
    server = FastMCP(
        "prsgazer",
        instructions=INSTRUCTIONS,
        version=__version__,
        auth=BearerToken(token) if token else None,
        mask_error_details=True,
        on_duplicate="error",
        middleware=[FailureLog()],
    )
    for fn, hints in TOOLS:
        server.tool(tool_errors(fn), name=fn.__name__, annotations=hints)

    @server.resource("prsgazer://config", name="config", mime_type="application/json")
    def config() -> str:
        """Storage root and remote, upload directories and limit, task counts, versions."""
        return server_config().model_dump_json(indent=2)

    @server.prompt(name="compute_and_interpret_prs")
    def compute_and_interpret_prs(trait: str, vcf_path: str = "", superpopulation: str = "") -> str:
        """Compute and interpret my PRS for a trait: upload, find scores, run, explain."""
        return prs_prompt(trait, vcf_path, superpopulation)

    @server.prompt(name="explain_my_result")
    def explain_my_result(cid: str) -> str:
        """Explain a stored PRS result or report in plain language, with its limits."""
        return (
            f"Call explain_result({cid!r}) and explain the result to me in plain language: where I stand "
            "against the reference group, how complete the score was for my data (coverage), whether it was "
            "evaluated in people of my ancestry, how well it predicts, and that it is not a diagnosis."
        )

    return server


# -- transports ---------------------------------------------------------------------------------
def http_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/mcp"


def _prepare(settings: Settings) -> None:
    """Create the default upload directory inside the store root, so users find where to put files."""
    if not settings.mcp_allowed_dirs.strip():
        (settings.home / "inputs").mkdir(parents=True, exist_ok=True)


async def serve_stdio(settings: Settings | None = None) -> None:
    """Serve over stdin/stdout (what Claude Desktop starts)."""
    settings = settings or get_settings()
    _prepare(settings)
    server = build_server(settings)
    await server.run_stdio_async(show_banner=False)


async def serve_http(
    host: str | None = None,
    port: int | None = None,
    *,
    settings: Settings | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve streamable HTTP at `http://host:port/mcp`; the URL is announced before serving.

    Without a token (`PRSGAZER_MCP_TOKEN`) only a loopback host is allowed. Every request's `Host`
    must name the bound address (or localhost, or `PRSGAZER_MCP_ALLOWED_HOSTS`): anything else is
    421. A browser `Origin` other than the server's own, a loopback one, or
    `PRSGAZER_MCP_ALLOWED_ORIGINS` is 403. So a web page cannot reach the server through DNS
    rebinding, as the MCP specification requires.
    """
    s = settings or get_settings()
    host = host or s.mcp_host
    port = s.mcp_port if port is None else port
    token = s.mcp_token.get_secret_value() if s.mcp_token is not None else ""
    if not token and not is_loopback(host):
        raise InputError(
            f"refusing to serve on {host} without a bearer token",
            field="--host",
            hint="set PRSGAZER_MCP_TOKEN, or serve on 127.0.0.1",
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror})", field="--port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    url = http_url(host, bound_port)
    (announce or _print)(url + (" (bearer token required)" if token else ""))
    _prepare(s)
    server = build_server(s, token=token or None)
    try:
        await server.run_http_async(
            show_banner=False, transport="http", host=host, port=bound_port, sockets=[sock], log_level="warning",
            host_origin_protection=True, allowed_hosts=[host.strip("[]"), *_split(s.mcp_allowed_hosts)],
            allowed_origins=_split(s.mcp_allowed_origins) or None,
        )  # fmt: skip
    finally:
        sock.close()


def _split(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _print(url: str) -> None:
    print(f"prsgazer MCP server listening on {url}", flush=True)
    print("stop with Ctrl-C", file=sys.stderr, flush=True)
