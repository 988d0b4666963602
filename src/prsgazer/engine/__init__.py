"""The computation layer: pure functions on paths, polars frames and numpy arrays.

Knows nothing of storage, Flyte or MCP. See docs/engine.md.
"""
