"""The package's logger: loguru, imported when a record is first logged.

Importing loguru takes 20-30 ms (it imports asyncio) and adding its sink 8 ms more: a command that logs
nothing (a person's `prsgazer score`, say) should pay neither. Modules write
`from prsgazer.logs import logger` and use it as loguru's logger; `configure` sets the level and format
of the one stderr sink whether or not loguru has been imported yet.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from loguru import Logger

#: How the CLI and the server print a record on stderr.
FORMAT = "{level}: {message}"


class _Deferred:
    """Every attribute is loguru's logger's, looked up (and loguru imported) on first use."""

    def __getattr__(self, name: str) -> Any:
        from loguru import logger as real

        return getattr(real, name)


logger = cast("Logger", _Deferred())


def configure(level: str, fmt: str = FORMAT) -> None:
    """Send records at `level` and above to stderr in `fmt`, nothing else. Before loguru is imported,
    through its own start-up settings (`LOGURU_LEVEL`, `LOGURU_FORMAT`: the stderr sink it adds when
    imported is then this one); after, by replacing its sinks."""
    if "loguru" not in sys.modules:
        os.environ["LOGURU_LEVEL"] = level
        os.environ["LOGURU_FORMAT"] = fmt
        return
    from loguru import logger as real

    real.remove()
    real.add(sys.stderr, level=level, format=fmt)
