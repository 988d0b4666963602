"""`prsgazer storage …`: put, ls, get, rm, lineage, check, gc, types, push, pull, remote. See docs/storage.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prsgazer.cli import out, parse_keyvalues, print_json
from prsgazer.errors import PrsgazerError

app = typer.Typer(
    help="The content-addressed asset store (PRSGAZER_HOME, and the remote of PRSGAZER_REMOTE).",
    no_args_is_help=True,
)


def _store():
    from prsgazer.storage import default_store

    return default_store()


def _asset_row(a) -> dict[str, Any]:
    return {
        "cid": a.cid,
        "asset": a.asset_key,
        "filename": a.filename,
        **a.to_keyvalues(),
        **a.extra,
    }


@app.command("put")
def storage_put(
    file: Annotated[Path, typer.Argument(help="The file to store.")],
    keyvalues: Annotated[
        list[str] | None, typer.Argument(help="key=value fields of the asset (checked against the file).")
    ] = None,
    asset: Annotated[
        str | None,
        typer.Option("--asset", "-a", help="Asset type (see `prsgazer storage types`); detected when left out."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored record as JSON.")] = False,
) -> None:
    """Store FILE as an asset with what it says about itself; prints its CID. Same bytes → same CID."""
    from prsgazer.cli import err
    from prsgazer.ops.describe import store_file

    stored, detected = store_file(_store(), file, asset, **parse_keyvalues(keyvalues))
    for note in detected.notes:
        err.print(f"detected: {note}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(_asset_row(stored))
    else:
        typer.echo(stored.cid)


#: Fields `storage ls` shows (when set), in this order: what tells assets apart at a glance.
KEY_FIELDS = ("sample_id", "pgs_id", "panel", "trait", "genome_build", "n_samples", "n_variants", "status",
              "superpopulation", "sheet", "catalog_release")  # fmt: skip


def _short(value: Any, n: int = 40) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= n else text[: n - 1] + "…"


@app.command("ls")
def storage_ls(
    filters: Annotated[
        list[str] | None,
        typer.Argument(help="key=value filters; repeat a key for any-of."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every record in full as JSON.")] = False,
    cids: Annotated[bool, typer.Option("--cids", help="Print only the CIDs, one a line (for scripts).")] = False,
) -> None:
    """List stored assets matching every filter: a compact table (all fields with --json)."""
    found = _store().query(**parse_keyvalues(filters))
    if as_json:
        print_json([_asset_row(a) for a in found])
        return
    if cids:
        for a in found:
            typer.echo(a.cid)
        return
    table = Table("cid", "asset", "filename", "fields", "created", title=f"{len(found)} asset(s)", title_justify="left")
    for a in found:
        kv = a.to_keyvalues()
        shown = " ".join(f"{k}={_short(kv[k])}" for k in KEY_FIELDS if kv.get(k) not in (None, "", []))
        table.add_row(a.cid, a.asset_key, a.filename, shown, str(a.extra.get("created") or "")[:19])
    out.print(table)


@app.command("get")
def storage_get(
    cid: Annotated[str, typer.Argument(help="CID of the asset.")],
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Copy to this file or directory (default: in the store); - writes the bytes to standard output.",
        ),
    ] = None,
    companions: Annotated[bool, typer.Option(help="Also materialize companion files beside it.")] = True,
) -> None:
    """Copy an asset (verified against its CID) out of the store and print the copy's path.

    The copy is yours to edit: it shares nothing with the stored bytes (a reflink or a plain copy)."""
    store = _store()
    if out_path is not None and not out_path.is_dir() and not str(out_path).endswith("/"):
        got = store.download(cid, out_path, companions=companions and str(out_path) != "-")
    else:
        got = store.export(cid, out_path, companions=companions)
    if str(out_path) != "-":  # with -, standard output carries the asset's bytes only
        typer.echo(str(got.path))


@app.command("rm")
def storage_rm(
    cids: Annotated[list[str], typer.Argument(help="CIDs to delete.")],
    force: Annotated[bool, typer.Option(help="Delete even if another asset needs it as a companion.")] = False,
) -> None:
    """Delete assets (record and bytes)."""
    store = _store()
    for cid in cids:
        store.delete(cid, force=force)
        typer.echo(f"deleted {cid}")


@app.command("lineage")
def storage_lineage(
    cid: Annotated[str, typer.Argument(help="CID of the asset.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole lineage graph as JSON.")] = False,
) -> None:
    """Show what an asset was made from (via *_cid fields) and what was made from it: a compact table."""
    lin = _store().lineage(cid)
    if as_json:
        typer.echo(lin.model_dump_json(indent=2))
        return
    table = Table("", "asset", "filename", "via", "cid", title=f"lineage of {cid}", title_justify="left")

    def add(n: Any, depth: int) -> None:
        mark = "  " * (depth - 1) + "└ " if depth else ""
        if n.missing:
            table.add_row(mark + "made from" if depth else "", "[red](not in store)[/red]", "", n.via or "", n.cid)
        else:
            table.add_row(mark + ("made from" if depth else "this"), n.asset, n.filename, n.via or "", n.cid)
        for p in n.parents:
            add(p, depth + 1)

    add(lin.root, 0)
    for c in lin.children:
        table.add_row("used by", c.asset, c.filename, c.via or "", c.cid)
    out.print(table)


@app.command("check")
def storage_check(
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Rebuild the metadata file from the journal (and the blobs), keeping the old one beside it.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-hash every blob and compare the records with the journal; exit 1 if any blob is corrupt or
    missing or a record was lost (corrupt blobs are moved aside). `--rebuild` recovers lost records."""
    store = _store()
    if rebuild:
        done = store.rebuild()
        if as_json:
            print_json(done.model_dump())
        else:
            typer.echo(f"rebuilt {store.meta_path}: {done.records} record(s) ({done.from_journal} from the journal)")
            if done.previous:
                typer.echo(f"the previous file is kept as {done.previous}")
            if done.bad_journal_lines:
                typer.echo(f"skipped {len(done.bad_journal_lines)} damaged journal line(s): {done.bad_journal_lines}")
            if done.missing:
                typer.echo(f"{len(done.missing)} record(s) without their bytes (re-upload the files, or "
                           "`prsgazer storage rm` them):" + "".join(f"\n  {c}" for c in done.missing))  # fmt: skip
            if done.orphans:
                typer.echo(f"{len(done.orphans)} blob(s) without a record (store the original files again to "
                           "describe them, or remove them with `prsgazer storage gc`):"
                           + "".join(f"\n  {c}" for c in done.orphans))  # fmt: skip
            if getattr(store, "remote", None) is not None:
                typer.echo("a remote is configured: run `prsgazer storage push --all` to send it the recovered records")
        return
    report = store.check()
    if as_json:
        print_json(report)
    else:
        for k, v in report.items():
            typer.echo(f"{k}: {len(v)}" + ("".join(f"\n  {c}" for c in v) if k != "ok" else ""))
        if report.get("lost"):
            typer.echo("records were lost from the metadata file: recover them with `prsgazer storage check --rebuild`")
    if report["corrupt"] or report["missing"] or report.get("lost"):
        raise typer.Exit(1)


@app.command("gc")
def storage_gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed, and the bytes.")] = False,
    min_age_hours: Annotated[
        float, typer.Option("--min-age-hours", min=0.0, help="Leave run folders and temp files younger than this.")
    ] = 24.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove what nothing needs: blobs without a record, temp files, run folders older than a day."""
    from prsgazer.config import get_settings
    from prsgazer.storage.maintenance import collect_garbage

    age = min_age_hours * 3600
    store = _store()
    report = collect_garbage(store, get_settings().cache_dir, dry_run=dry_run, min_age=age, blob_grace=min(age, 3600))
    if as_json:
        print_json({**report.model_dump(), "total_bytes": report.total_bytes})
        return
    verb = "would remove" if dry_run else "removed"
    for item in report.items:
        typer.echo(f"{verb} {item.kind}: {item.path} ({_bytes(item.bytes)})")
    summary = ", ".join(f"{n} {kind}(s) {_bytes(b)}" for kind, (n, b) in report.by_kind().items()) or "nothing"
    typer.echo(f"{verb}: {summary}; total {_bytes(report.total_bytes)}")
    if not dry_run:
        typer.echo(f"journal compacted: {_bytes(report.journal_bytes_before)} → {_bytes(report.journal_bytes_after)}")


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"


@app.command("types")
def storage_types(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """List asset types and their fields."""
    from prsgazer.assets import asset_class, asset_keys

    described = [asset_class(k).describe() for k in asset_keys()]
    if as_json:
        print_json(described)
        return
    table = Table("asset", "fields", "description")
    for d in described:
        table.add_row(d["asset"], ", ".join(f"{k}: {t}" for k, t in d["fields"].items()), d["doc"])
    out.print(table)


def _filename(store, cid: str) -> str:
    from prsgazer.storage.store import local_only

    try:
        with local_only():
            return store.record(cid).get("filename") or ""
    except PrsgazerError:  # a name is only decoration in a report line
        return ""


@app.command("push")
def storage_push(
    cids: Annotated[list[str] | None, typer.Argument(help="CIDs to push (default: every pending change).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Push every local asset.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Re-upload blobs the remote already has (repairs a corrupt copy).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what moved as JSON.")] = False,
) -> None:
    """Send local assets (blobs and records) to the remote; prints what moved."""
    store = _store()
    report = store.push(cids, all=all_, force=force)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    typer.echo(
        f"pushed to {report.remote}: {len(report.blobs_uploaded)} blob(s) uploaded, "
        f"{len(report.blobs_present)} already there, {len(report.records)} record(s) written, "
        f"{len(report.deleted)} deleted"
    )
    for cid in report.blobs_uploaded:
        typer.echo(f"  blob    {cid}  {_filename(store, cid)}  uploaded")
    for cid in report.blobs_present:
        typer.echo(f"  blob    {cid}  {_filename(store, cid)}  already on the remote")
    for cid in report.records:
        typer.echo(f"  record  {cid}  {_filename(store, cid)}")
    for cid in report.deleted:
        typer.echo(f"  deleted {cid}")


@app.command("pull")
def storage_pull(
    cids: Annotated[
        list[str] | None, typer.Argument(help="CIDs to fetch with their companions (default: refresh records).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Refresh records and download every blob.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what moved as JSON.")] = False,
) -> None:
    """Fetch records and verified blobs from the remote into the local store; prints what moved."""
    store = _store()
    report = store.pull(cids, all=all_)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    if report.sync is not None:
        s = report.sync
        typer.echo(
            f"records from {report.remote}: {s.listed} listed, {len(s.added)} new, "
            f"{len(s.updated)} updated, {len(s.removed)} removed"
        )
        for label, items in (("new", s.added), ("updated", s.updated), ("removed", s.removed)):
            for cid in items:
                typer.echo(f"  record  {cid}  {label}")
    if report.records:
        typer.echo(f"records from {report.remote}: {len(report.records)} fetched")
    if report.blobs_downloaded or report.blobs_present or cids or all_:
        typer.echo(
            f"blobs from {report.remote}: {len(report.blobs_downloaded)} downloaded and verified, "
            f"{len(report.blobs_present)} already local"
        )
    for cid in report.blobs_downloaded:
        typer.echo(f"  blob    {cid}  {_filename(store, cid)}  downloaded")


@app.command("remote")
def storage_remote(as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False) -> None:
    """Show the configured remote, when its records were last synced, and what is pending."""
    status = _store().remote_status()
    if as_json:
        print_json(status)
        return
    typer.echo(status["describe"])
    typer.echo(f"push on write: {status['push_on_write']}   records TTL: {status['ttl']}s")
    synced = status["synced_at"]
    if synced:
        from datetime import UTC, datetime

        typer.echo(f"last sync: {datetime.fromtimestamp(synced, UTC).isoformat(timespec='seconds')}")
    else:
        typer.echo("last sync: never")
    typer.echo(f"records mirrored: {status['seen']}   pending: {len(status['pending'])}")
    for cid, op in status["pending"].items():
        typer.echo(f"  {op:6}  {cid}")
