"""Domain errors: every message says what was wrong, where, and how to fix it.

Exit codes (CLI contract, docs/architecture.md): 2 for bad input (`InputError` and its
subclasses), 1 for anything else.
"""

from __future__ import annotations

from pathlib import Path


class PrsgazerError(Exception):
    """Base of all prsgazer errors. `exit_code` is what the CLI returns."""

    exit_code: int = 1


class InputError(PrsgazerError):
    """Something the user gave us is wrong. Names the file, line and field when known."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        text = f"{': '.join([', '.join(where)])}: {self.reason}" if where else self.reason
        if self.hint:
            text += f" ({self.hint})"
        return text


class AssetError(InputError):
    """An asset key, field or value is not one the registry allows."""


class NotFoundError(InputError):
    """A CID, file or named thing does not exist."""


class OutputError(InputError):
    """An output path cannot be written as asked: a directory, the same file as an input, a socket or
    block device, or a place where no file can be created (see prsgazer.fileio)."""


class NothingComputedError(PrsgazerError):
    """A run finished but every score in it failed: the run as a whole failed. `reasons` holds each
    score's (pgs_id, step, reason). Exit code 2 when the inputs were at fault (a score did not match
    the genotypes, an id is not stored or not in the catalog), else 1."""

    def __init__(self, name: str, reasons: list[tuple[str, str, str]], *, input_fault: bool) -> None:
        self.reasons = reasons
        self.exit_code = 2 if input_fault else 1
        listed = "; ".join(f"{p} ({step}): {why}" for p, step, why in reasons) or "no score was computed"
        super().__init__(f"{name}: no score was computed — {listed}")


class StorageError(PrsgazerError):
    """The store could not complete an operation (I/O, lock, disk full)."""


class IntegrityError(StorageError):
    """Stored bytes no longer hash to their CID: the copy is corrupt and was not used."""


class CatalogError(PrsgazerError):
    """The PGS Catalog (REST API or file server) could not be reached or kept failing.

    Raised after retries are exhausted (connection errors, timeouts, 429 and 5xx responses), for an
    unexpected response, and for a download that stayed corrupt. Unknown ids are `NotFoundError`.
    Messages name the URL and say what to try (check the network, raise the retry settings, use
    local metadata offline).
    """

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        self.reason = message
        self.url = url
        self.hint = hint
        text = f"{url}: {message}" if url else message
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class UnreachableError(CatalogError):
    """A network service could not be reached at all (name resolution failed, connection refused):
    waiting does not help, so nothing is retried. Exit code 3: not bad input, not our bug."""

    exit_code = 3


class DownloadError(CatalogError):
    """A downloaded file failed verification (empty, truncated gzip, checksum, wrong header).

    `retryable` is True for damage in transit (a fresh download may succeed) and False when the
    server's file itself is not the one asked for (a wrong header: retrying cannot help).
    """

    def __init__(
        self, message: str, *, url: str | None = None, hint: str | None = None, retryable: bool = False
    ) -> None:
        self.retryable = retryable
        super().__init__(message, url=url, hint=hint)
