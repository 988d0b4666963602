"""Scoring-file headers (PGS Catalog format 2.0 `#key=value`, OmicsPred, minimal custom). See docs/engine.md.

`read_header(path)` reads only the leading `#` lines, so it is cheap on multi-million-row files; it is
what the catalog uses to verify a download and what the scoring-file reader starts from.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from prsgazer.engine.common import normalize_build
from prsgazer.errors import InputError


class ScoringFileHeader(BaseModel):
    """The `#key=value` header of a scoring file. Unknown keys are kept in `extra`."""

    model_config = ConfigDict(populate_by_name=True)

    format_version: str | None = None
    pgs_id: str | None = None
    omicspred_id: str | None = None
    pgs_name: str | None = None
    trait_reported: str | None = None
    trait_mapped: str | None = None
    trait_efo: list[str] = Field(default_factory=list)
    trait_type: str | None = None
    measurement_tissue: str | None = None
    measurement_platform: str | None = None
    genome_build: str | None = Field(default=None, description="Author-reported build, normalized; None = NR.")
    genome_build_reported: str | None = None
    variants_number: int | None = None
    weight_type: str | None = None
    pgp_id: str | None = None
    citation: str | None = None
    license: str | None = None
    HmPOS_build: str | None = None
    HmPOS_date: str | None = None
    HmPOS_match_chr: dict[str, Any] | None = None
    HmPOS_match_pos: dict[str, Any] | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    #: Number of header lines (lines starting with '#'); the column line follows them.
    n_header_lines: int = 0

    @property
    def accession(self) -> str:
        """The score's id: pgs_id, else omicspred_id, else pgs_name, else 'unnamed'."""
        return self.pgs_id or self.omicspred_id or self.pgs_name or "unnamed"


def open_text(path: str | Path) -> IO[str]:
    """Open plain or gzip text (detected by magic bytes, not by name)."""
    p = Path(path)
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", newline="")
    return open(p, encoding="utf-8", newline="")


def _parse_json_field(value: str, path: Path, line: int, key: str) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        # Some published files double their quotes (`{""True"": null}`): undo that once.
        try:
            return json.loads(value.replace('""', '"'))
        except json.JSONDecodeError as exc:
            raise InputError(f"header value is not JSON: {value!r}", file=path, line=line, field=key) from exc


def parse_header_lines(lines: list[str], path: str | Path = "<text>") -> ScoringFileHeader:
    """Parse already-read `#` lines (1-based line numbers in errors follow their order)."""
    p = Path(path)
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    known = set(ScoringFileHeader.model_fields) - {"extra", "n_header_lines", "genome_build_reported"}
    for i, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text.startswith("#"):
            raise InputError("header line does not start with '#'", file=p, line=i)
        if text.startswith("##") or "=" not in text:
            continue  # section titles (`##SOURCE INFORMATION`) and banners
        key, value = text.lstrip("#").split("=", 1)
        key, value = key.strip(), value.strip()
        if key in ("HmPOS_match_chr", "HmPOS_match_pos"):
            values[key] = _parse_json_field(value, p, i, key)
        elif key == "genome_build" or key == "HmPOS_build":
            try:
                values[key] = normalize_build(value)
            except ValueError as exc:
                raise InputError(str(exc), file=p, line=i, field=key) from None
            if key == "genome_build":
                values["genome_build_reported"] = value
        elif key == "variants_number":
            try:
                values[key] = int(value) if value else None
            except ValueError:
                raise InputError(
                    f"variants_number must be an integer, got {value!r}", file=p, line=i, field=key
                ) from None
        elif key == "trait_efo":
            values[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key in known:
            values[key] = value or None
        else:
            extra[key] = value
    return ScoringFileHeader(**values, extra=extra, n_header_lines=len(lines))


def read_header(path: str | Path) -> ScoringFileHeader:
    """Read and parse the leading `#` lines of a scoring file (plain or gzip)."""
    p = Path(path)
    if not p.exists():
        raise InputError("scoring file does not exist", file=p)
    if p.is_dir():
        raise InputError("is a directory, not a scoring file", file=p)
    lines: list[str] = []
    try:
        with open_text(p) as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                lines.append(line.rstrip("\r\n"))
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"gzip data is truncated or corrupt ({exc})", file=p) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=p) from exc
    return parse_header_lines(lines, p)


_ACCESSION_RE = re.compile(r"^(PGS\d{6}|OPGS\d{6})$")


def is_catalog_accession(text: str) -> bool:
    """True for PGS Catalog (`PGS000001`) and OmicsPred (`OPGS000001`) score ids."""
    return bool(_ACCESSION_RE.match(text))
