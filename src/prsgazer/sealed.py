"""Sealed files: derived-cache entries that carry the CID of their bytes in a sidecar, checked on read.
See docs/architecture.md ("Derived caches").

A derived cache entry (a parsed scoring file, a normalised VCF, a panel's site table, a batch result,
a FASTA index, a catalog response) is re-creatable from its source, so it is only worth reading when
its bytes are exactly the bytes that were written. `seal(path)` writes `<path>.cid`: one line per file
of the entry, `<cid> <name>`, the entry's own file first, then companions that exist (a normalised
VCF's `.blocks.parquet`, a batch manifest's per-score results). `verify(path)` re-hashes the files
and returns the entry's CID when every one matches; anything else — no seal, a seal naming other
bytes, a missing or unlisted companion, an unreadable file — discards the entry (files and seal)
with a warning and returns None, so the caller rebuilds it. A flipped byte can therefore make a
cache slower, never make a result wrong.

Hashing is sha2-256 at streaming speed (about 0.7 GB/s a core here); a reader that reads the whole
entry anyway (`read_verified_bytes`) hashes the bytes it already holds.

Pure and neutral (the standard library, `prsgazer.cid`, `prsgazer.fileio` and loguru): paths in, CIDs
out; the engine and the data layer both use it. Files are written through `prsgazer.fileio` (temp
file, rename; caches are not fsynced).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from prsgazer.cid import cid_of_bytes, cid_of_file, is_cid
from prsgazer.fileio import Output, write_bytes
from prsgazer.fileio import publish as fileio_publish
from prsgazer.logs import logger

#: Suffix of the seal beside an entry: `<entry>.cid`.
SEAL_SUFFIX = ".cid"


def seal_path(path: Path) -> Path:
    """Where the seal of `path` lives."""
    return path.with_name(path.name + SEAL_SUFFIX)


def _atomic_write(path: Path, data: bytes) -> None:
    write_bytes(path, data, durable=False)  # a cache: atomic, not fsynced


class SealedOutput:
    """Where `sealed_output` lets the caller write (`path`, a temp file) and, once the block ended, the
    CID of what was written (`cid`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cid: str | None = None


@contextlib.contextmanager
def sealed_output(path: str | Path, *, inputs: tuple[str | Path, ...] = ()) -> Iterator[SealedOutput]:
    """A temp file to write an entry to (`prsgazer.fileio`); when the block ends the seal is written, then
    the entry is renamed into place (seal first: see `publish`). Discarded if the block raises."""
    final = Path(path)
    out = Output(final, inputs=inputs, durable=False)
    got = SealedOutput(out.temp_path())
    try:
        yield got
        got.cid = cid_of_file(got.path)
        _atomic_write(seal_path(final), f"{got.cid} {final.name}\n".encode())
    except BaseException:
        out.discard()
        raise
    out.commit()


def seal(path: str | Path, *companions: str | Path, cid: str | None = None) -> str:
    """Write the seal of the entry at `path` (and of those `companions` that exist); returns its CID.

    `cid`: the entry's CID when the caller computed it while writing (saves reading it back).
    """
    p = Path(path)
    main = cid or cid_of_file(p)
    lines = [f"{main} {p.name}"]
    for c in companions:
        cp = Path(c)
        if cp.exists():
            lines.append(f"{cid_of_file(cp)} {cp.name}")
    _atomic_write(seal_path(p), ("\n".join(lines) + "\n").encode())
    return main


def publish(tmp: str | Path, final: str | Path, *companions: tuple[str | Path, str | Path]) -> str:
    """Seal a finished temp file as `final`, then rename it (and each (temp, final) companion) into
    place; returns its CID. The seal goes first, so a process killed in between leaves a seal without
    its entry (a miss, swept on the next read), never an unsealed entry."""
    t, f = Path(tmp), Path(final)
    main = cid_of_file(t)
    lines = [f"{main} {f.name}"]
    lines += [f"{cid_of_file(ct)} {Path(cf).name}" for ct, cf in companions if Path(ct).exists()]
    for ct, cf in companions:
        if not Path(ct).exists():
            with contextlib.suppress(OSError):
                Path(cf).unlink()  # a companion the new entry does not have must not stay from an old one
    _atomic_write(seal_path(f), ("\n".join(lines) + "\n").encode())
    for ct, cf in companions:
        if Path(ct).exists():
            fileio_publish(ct, cf, durable=False)
    fileio_publish(t, f, durable=False)
    return main


def read_seal(path: Path) -> dict[str, str] | None:
    """The seal of `path` as file name → CID; None when there is none or it is malformed."""
    try:
        text = seal_path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    out: dict[str, str] = {}
    for line in text.splitlines():
        cid, _, name = line.partition(" ")
        if not is_cid(cid) or not name or "/" in name or name in out:
            return None
        out[name] = cid
    if not out or next(iter(out)) != path.name:
        return None
    return out


def discard(path: str | Path, *companions: str | Path) -> None:
    """Remove an entry, its companions and its seal (absent files are fine)."""
    p = Path(path)
    for f in (p, *map(Path, companions), seal_path(p)):
        with contextlib.suppress(OSError):
            f.unlink()


def _reject(path: Path, companions: tuple[str | Path, ...], what: str, why: str) -> None:
    logger.warning("{} {} {}: discarded, it will be rebuilt from its source", what, path, why)
    discard(path, *companions)


def verify(path: str | Path, *companions: str | Path, what: str = "cache entry") -> str | None:
    """The entry's CID when its files hash to its seal; otherwise None, with the entry discarded.

    A missing entry is a plain miss (None, nothing logged). `companions` are the files that may belong
    to the entry: each must be listed in the seal exactly when it exists.
    """
    p = Path(path)
    if not p.exists():
        if seal_path(p).exists():
            discard(p, *companions)  # a seal without its entry: a leftover
        return None
    sealed = read_seal(p)
    if sealed is None:
        _reject(p, companions, what, "has no valid seal (unsealed, truncated or damaged seal)")
        return None
    try:
        if cid_of_file(p) != sealed[p.name]:
            _reject(p, companions, what, "does not match its seal (its bytes changed)")
            return None
        for c in map(Path, companions):
            want = sealed.get(c.name)
            if c.exists() != (want is not None) or (want is not None and cid_of_file(c) != want):
                _reject(p, companions, what, f"has a companion {c.name} that does not match its seal")
                return None
    except OSError as exc:
        _reject(p, companions, what, f"cannot be read ({exc})")
        return None
    return sealed[p.name]


def write_sealed_bytes(path: str | Path, data: bytes, companions: Sequence[tuple[str | Path, str]] = ()) -> str:
    """Write `data` to `path` atomically, sealed (seal first, then the entry: see `publish`); returns its CID.

    `companions`: (path, CID) of files already written beside `path` that belong to the entry (a batch
    manifest's results): listed in the seal with the CIDs the caller computed from the bytes it wrote,
    so the seal describes the whole entry (`verify(path, *companions)` checks them against these)."""
    p = Path(path)
    cid = cid_of_bytes(data)  # hashed as held: the written file is not read back
    lines = [f"{cid} {p.name}", *(f"{c} {Path(cp).name}" for cp, c in companions)]
    _atomic_write(seal_path(p), ("\n".join(lines) + "\n").encode())
    _atomic_write(p, data)
    return cid


def read_verified_bytes(path: str | Path, *, what: str = "cache entry") -> bytes | None:
    """The bytes of a sealed entry when they match its seal (hashed once, as read); else None, discarded."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        if seal_path(p).exists():
            discard(p)
        return None
    except OSError as exc:
        _reject(p, (), what, f"cannot be read ({exc})")
        return None
    sealed = read_seal(p)
    if sealed is None:
        _reject(p, (), what, "has no valid seal (unsealed, truncated or damaged seal)")
        return None
    if cid_of_bytes(data) != sealed[p.name]:
        _reject(p, (), what, "does not match its seal (its bytes changed)")
        return None
    return data
