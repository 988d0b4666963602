"""Content-addressed storage of assets: local store, remotes, and the store that joins them.

See docs/storage.md.
"""

from __future__ import annotations

from prsgazer.cid import cid_of_bytes, cid_of_file, is_cid
from prsgazer.storage.local import Lineage, LineageNode, LocalStore
from prsgazer.storage.remote import FsspecRemote, HfRemote, Remote, remote_from_settings, remote_from_url
from prsgazer.storage.store import PullReport, PushReport, Store, SyncReport

_stores: dict[tuple[str, str, bool, float], Store] = {}


def default_store() -> Store:
    """The store at `PRSGAZER_HOME`, with the remote of `PRSGAZER_REMOTE` when set.

    One instance per (root, remote, push, ttl) and process. Without a remote it behaves exactly as a
    `LocalStore`.
    """
    from prsgazer.config import get_settings

    s = get_settings()
    key = (str(s.home), s.remote.strip(), s.remote_push, s.remote_ttl)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = Store(
            s.home,
            remote=remote_from_settings(s),
            push=s.remote_push,
            ttl=s.remote_ttl,
            verify_on_read=s.verify_on_read,
            lock_timeout=s.lock_timeout,
            reverify_after=s.reverify_seconds,
        )
    return store


__all__ = [
    "FsspecRemote",
    "HfRemote",
    "Lineage",
    "LineageNode",
    "LocalStore",
    "PullReport",
    "PushReport",
    "Remote",
    "Store",
    "SyncReport",
    "cid_of_bytes",
    "cid_of_file",
    "default_store",
    "is_cid",
    "remote_from_settings",
    "remote_from_url",
]
