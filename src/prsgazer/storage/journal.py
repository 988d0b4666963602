"""The metadata journal: an append-only, fsynced log of every record change, from which the records
can be rebuilt when `metadata.json` is lost or damaged. See docs/storage.md ("Journal and recovery").

`<root>/journal.jsonl` holds one JSON object per line: `{"op": "put", "cid": …, "record": {…}}` or
`{"op": "delete", "cid": …}`, plus `"sum"`: the first 16 hex digits of the sha256 of the line without
it, so a torn or damaged line is recognised and skipped (a torn last line is what a killed writer
leaves). Lines are appended under the store's metadata lock and fsynced *before* the metadata file
is replaced, so the journal is never behind the metadata. Replaying it in order gives the records.

`compact(records)` replaces the journal by one `put` per current record (temp file, fsync, rename):
`prsgazer storage gc` does that, so the journal stays about the size of the metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prsgazer.fileio import write_bytes

JOURNAL_NAME = "journal.jsonl"


def _line(entry: dict[str, Any]) -> bytes:
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    entry = {**entry, "sum": hashlib.sha256(body.encode()).hexdigest()[:16]}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _parse(raw: bytes) -> dict[str, Any] | None:
    """A journal line's entry when it is whole and its sum matches; else None."""
    try:
        entry = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(entry, dict):
        return None
    given = entry.pop("sum", None)
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if given != hashlib.sha256(body.encode()).hexdigest()[:16]:
        return None
    if entry.get("op") not in ("put", "delete") or not isinstance(entry.get("cid"), str):
        return None
    if entry["op"] == "put" and not isinstance(entry.get("record"), dict):
        return None
    return entry


@dataclass
class Replay:
    """The records a journal describes, and the lines it had to skip."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: int = 0
    bad_lines: list[int] = field(default_factory=list)


class Journal:
    """The append-only record log of one store (callers hold the store's metadata lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def append(self, puts: Iterable[Mapping[str, Any]], deletes: Iterable[str]) -> None:
        """Log record changes durably (one write, fsynced) before they reach the metadata file."""
        data = b"".join(
            [_line({"op": "put", "cid": r["cid"], "record": dict(r)}) for r in puts]
            + [_line({"op": "delete", "cid": c}) for c in deletes]
        )
        if not data:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not _ends_with_newline(fd):
                data = b"\n" + data  # a torn last line stays a line of its own (skipped on replay)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def replay(self) -> Replay:
        """The records after applying every whole line in order."""
        out = Replay()
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return out
        with fh:
            for n, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                out.lines += 1
                entry = _parse(raw)
                if entry is None:
                    out.bad_lines.append(n)
                elif entry["op"] == "put":
                    out.records[entry["cid"]] = entry["record"]
                else:
                    out.records.pop(entry["cid"], None)
        return out

    def compact(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Replace the journal by one line per current record; returns the bytes it now takes."""
        data = b"".join(_line({"op": "put", "cid": r["cid"], "record": dict(r)}) for r in records)
        write_bytes(self.path, data)  # temp, fsync, rename, fsync the directory (prsgazer.fileio)
        return len(data)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"
