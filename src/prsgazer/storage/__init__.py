"""Content-addressed storage of assets. See docs/storage.md."""

from __future__ import annotations

from prsgazer.storage.cid import cid_of_bytes, cid_of_file, is_cid
from prsgazer.storage.local import Lineage, LineageNode, LocalStore

_stores: dict[str, LocalStore] = {}


def default_store() -> LocalStore:
    """The store at `PRSGAZER_HOME` (one instance per root and process)."""
    from prsgazer.config import get_settings

    s = get_settings()
    key = str(s.home)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = LocalStore(s.home, verify_on_read=s.verify_on_read, lock_timeout=s.lock_timeout)
    return store


__all__ = [
    "Lineage",
    "LineageNode",
    "LocalStore",
    "cid_of_bytes",
    "cid_of_file",
    "default_store",
    "is_cid",
]
