"""Versions derived from the code itself, so a cached result can never outlive the code that made it.

`source_version(*parts)` hashes the bytes of the engine's Python sources (all of them, or the named
subpackages/modules), so any change to them gives a new version: derived caches (parsed scoring
files, batch results, panel tables) and stored results (through `ops`) are keyed by it. No version
string has to be bumped by hand. See docs/architecture.md ("Versions").
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

_ENGINE = Path(__file__).resolve().parent


def source_digest(root: Path, parts: tuple[str, ...] = ()) -> str:
    """sha256 (hex) over the relative paths and bytes of every `*.py` under `root` (or the named
    parts of it: subpackage folders or module stems), in a fixed order."""
    files: list[Path] = []
    if parts:
        for part in parts:
            folder, module = root / part, root / f"{part}.py"
            if folder.is_dir():
                files += folder.rglob("*.py")
            elif module.is_file():
                files.append(module)
            else:
                raise ValueError(f"no engine part {part!r} under {root}")
    else:
        files = list(root.rglob("*.py"))
    h = hashlib.sha256()
    for f in sorted(set(files), key=lambda p: p.relative_to(root).as_posix()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


@functools.cache
def source_version(*parts: str) -> str:
    """A short version of the engine's sources (all, or `parts` such as "scorefile", "common")."""
    return source_digest(_ENGINE, parts)[:16]
