"""The version of the code that computes results, derived from its bytes: `code_version()` hashes the
engine's and the operations layer's sources (`engine.version.source_digest`), so any change to them
— a fix, a new default, a new output column — gives new cache keys and no stale result is ever
returned after an upgrade. Nobody bumps it by hand. See docs/architecture.md ("Versions").
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from prsgazer import __version__
from prsgazer.engine.version import source_digest

_PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def code_version() -> str:
    """16 hex digits over the sources of `prsgazer/engine` and `prsgazer/ops`."""
    h = hashlib.sha256()
    for part in ("engine", "ops"):
        h.update(source_digest(_PACKAGE / part).encode())
    return h.hexdigest()[:16]


def provenance(params: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """What every output records: the prsgazer and code versions and the parameters that made it."""
    return {"prsgazer": __version__, "code_version": code_version(), "params": params or {}, **more}
