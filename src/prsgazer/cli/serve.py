"""`prsgazer serve [--http] [--host H] [--port N]`: the MCP server. See docs/mcp.md.

stdio by default (what Claude Desktop starts); `--http` serves streamable HTTP and prints its URL
first. The bearer token comes from `PRSGAZER_MCP_TOKEN` only (never the command line, which other
users of the machine can read).
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer


def serve(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str | None, typer.Option(help="HTTP interface (default PRSGAZER_MCP_HOST, 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="HTTP port (default PRSGAZER_MCP_PORT; 0: any free).")
    ] = None,
) -> None:
    """Run the MCP server: tools to upload genotypes, find scores, run workflows and explain results."""
    # before fastmcp is imported: no update checks or telemetry from a tool server
    os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prsgazer.server import serve_http, serve_stdio

    try:
        if http:
            asyncio.run(serve_http(host, port))
        else:
            if host is not None or port is not None:
                raise typer.BadParameter("--host and --port need --http")
            asyncio.run(serve_stdio())
    except KeyboardInterrupt:
        pass
