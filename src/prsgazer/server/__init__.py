"""prsgazer as a tool server for LLM agents (MCP, FastMCP). See docs/mcp.md.

`build_server()` returns the FastMCP server; `prsgazer serve [--http]` runs it. Tools are generic over
the registry (every task and workflow, assets bound from the store by CID or key/value filters), plus
storage, bundles, catalog search and plain-language explanation of results.
"""

from prsgazer.server.app import build_server, serve_http, serve_stdio, server_config

__all__ = ["build_server", "serve_http", "serve_stdio", "server_config"]
