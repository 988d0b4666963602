"""prsgazer: polygenic risk scores, exact against plink2, for agents, pipelines and notebooks.

Layers and their pages: docs/architecture.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("prsgazer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
