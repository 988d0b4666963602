"""prsgazer: polygenic risk scores, exact against plink2, for agents, pipelines and notebooks.

Layers and their pages: docs/architecture.md.
"""

# The package's version, written here only (pyproject.toml reads it: `[tool.hatch.version]`); a plain
# string, so importing prsgazer does not import importlib.metadata (~50 ms of every CLI start).
__version__ = "0.1.0"

__all__ = ["__version__"]
