"""`prsgazer catalog …`: search, traits, info, download, metadata. See docs/catalog.md.

Front door only: every command calls `prsgazer.catalog` and prints a table or JSON.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from prsgazer.cli import err, out, print_json
from prsgazer.cli.render import progress_bar

app = typer.Typer(
    help="The PGS Catalog: find scores by trait, inspect them, download scoring files.", no_args_is_help=True
)
metadata_app = typer.Typer(help="Bulk catalog metadata stored locally (enables offline search).", no_args_is_help=True)
app.add_typer(metadata_app, name="metadata")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fmt_quality(hit: Any) -> str:
    if hit.quality_value is None:
        return "-"
    return f"{hit.quality_metric} {hit.quality_value:.3f} ({hit.quality_label})"


@app.command("search")
def catalog_search(
    text: Annotated[list[str], typer.Argument(help="Words to find in trait, EFO label/id, score name, publication.")],
    build: Annotated[str | None, typer.Option(help="Only scores with a file in this build.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most results shown.")] = 20,
    min_variants: Annotated[int | None, typer.Option(help="At least this many variants.")] = None,
    max_variants: Annotated[int | None, typer.Option(help="At most this many variants.")] = None,
    ancestry: Annotated[
        str | None, typer.Option(help="Developed or evaluated in this ancestry (EUR, AFR, EAS, SAS, AMR).")
    ] = None,
    has_performance: Annotated[
        bool | None,
        typer.Option("--has-performance/--no-performance", help="Only scores with / without evaluations."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search scores in the local metadata (offline; run `catalog metadata pull` once first)."""
    from prsgazer.catalog import load_metadata, search_scores

    tables = load_metadata()
    hits = search_scores(
        tables,
        " ".join(text),
        build=build,
        min_variants=min_variants,
        max_variants=max_variants,
        ancestry=ancestry,
        has_performance=has_performance,
        limit=limit,
    )
    if as_json:
        print_json([h.model_dump() for h in hits])
        return
    table = Table(
        "pgs_id",
        "name",
        "trait",
        "variants",
        "quality",
        "evaluated in",
        "publication",
        title=f"{len(hits)} score(s) · catalog release {tables.release}",
    )
    for h in hits:
        who = f"{h.evaluation_n:,} {'/'.join(h.evaluation_ancestry)}" if h.evaluation_n else "-"
        pub = f"{h.first_author or ''} {h.year or ''}".strip() or (h.pgp_id or "-")
        table.add_row(
            h.pgs_id,
            h.pgs_name or "",
            h.trait_reported or "",
            f"{h.n_variants:,}" if h.n_variants is not None else "?",
            _fmt_quality(h),
            who,
            pub,
        )
    out.print(table)


@app.command("traits")
def catalog_traits(
    text: Annotated[list[str], typer.Argument(help="Trait words or an ontology id (EFO_0000305).")],
    online: Annotated[bool, typer.Option(help="Ask the REST API instead of the local metadata.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Most traits shown.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Find traits (ontology terms) and how many scores each has."""
    from prsgazer.catalog import CatalogClient, load_metadata, search_traits_local

    term = " ".join(text)
    if online:

        async def run() -> list[dict[str, Any]]:
            async with CatalogClient() as c:
                found = await c.search_traits(term, max_results=limit)
            return [
                {
                    "efo_id": t.id,
                    "label": t.label,
                    "n_scores": len(t.associated_pgs_ids),
                    "n_child_scores": len(t.child_associated_pgs_ids),
                }
                for t in found
            ]

        rows = asyncio.run(run())
    else:
        rows = [h.model_dump() for h in search_traits_local(load_metadata(), term, limit=limit)]
    if as_json:
        print_json(rows)
        return
    table = Table("efo_id", "label", "scores", title=f"{len(rows)} trait(s)")
    for r in rows:
        table.add_row(r["efo_id"], r["label"], str(r["n_scores"]))
    out.print(table)


@app.command("info")
def catalog_info(
    pgs_id: Annotated[str, typer.Argument(help="A score id, e.g. PGS000001.")],
    ancestry: Annotated[str, typer.Option(help="Ancestry the best evaluation is chosen for.")] = "European",
    as_json: JsonOpt = False,
) -> None:
    """A score's catalog record: trait, files, publication and evaluations with quality labels."""
    from prsgazer.catalog.info import score_info

    info = asyncio.run(score_info(pgs_id, ancestry=ancestry))
    if info.source != "PGS Catalog REST API":
        from prsgazer.cli import err

        err.print(f"[yellow]offline:[/yellow] from the {info.source}", highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(info.model_dump_json(indent=2))
        return
    traits = ", ".join(f"{t['label']} ({t['id']})" for t in info.trait_efo)
    out.print(f"[bold]{info.pgs_id}[/bold] {info.name or ''} — {info.trait_reported or ''}", highlight=False)
    for label, value in (
        ("mapped traits", traits),
        ("variants", f"{info.variants_number:,}" if info.variants_number is not None else "?"),
        ("published build", info.genome_build),
        ("weight type", info.weight_type),
        ("method", info.method_name),
        ("publication", info.publication),
        ("released", info.date_release),
    ):
        out.print(f"  {label}: {value or '-'}", highlight=False)
    for kind, url in info.files.items():
        out.print(f"  file ({kind}): {url}", highlight=False)
    if not info.evaluations:
        out.print("  no evaluations in the catalog")
        return
    table = Table("ppm_id", "sample set", "n", "ancestry", "quality", "effect sizes", title="evaluations")
    for e in info.evaluations:
        mark = " *" if info.best is not None and e.ppm_id == info.best.ppm_id else ""
        table.add_row(
            e.ppm_id + mark,
            e.pss_id or "-",
            f"{e.n_individuals:,}",
            ", ".join(f"{k} {v:.0%}" for k, v in e.ancestry.items()) or "-",
            e.quality.text if e.quality else "-",
            "; ".join(x.text for x in e.effects) or "-",
        )
    out.print(table)
    out.print("  * best evaluation for the chosen ancestry (matched, has AUROC/C-index, larger)")


@app.command("download")
def catalog_download(
    pgs_ids: Annotated[list[str], typer.Argument(help="Score ids, e.g. PGS000001 PGS000002.")],
    build: Annotated[str | None, typer.Option(help="GRCh37 or GRCh38: the harmonised file in this build.")] = None,
    author_reported: Annotated[
        bool, typer.Option("--author-reported", help="The file as the authors published it.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Download even when the store already has it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Download verified scoring files into the store; prints one CID per score."""
    from prsgazer.catalog import download_scoring_files

    with progress_bar("downloading") as progress:
        results = asyncio.run(
            download_scoring_files(pgs_ids, build=build, author_reported=author_reported, force=force,
                                   progress=progress)
        )  # fmt: skip
    if as_json:
        print_json(
            [
                {
                    "pgs_id": r.pgs_id,
                    "build": r.build,
                    "cid": r.asset.cid,
                    "cached": r.cached,
                    "url": r.url,
                    **r.asset.to_keyvalues(),
                }
                for r in results
            ]
        )
        return
    for r in results:
        typer.echo(r.asset.cid)
        err.print(
            f"{r.pgs_id} {r.build or 'author-reported'}: {r.asset.n_variants} variants"
            + (" (already stored)" if r.cached else ""),
            highlight=False,
        )


def _print_pull(result: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    if result.skipped:
        typer.echo(f"release {result.release}: {result.reason}")
        return
    typer.echo(f"release {result.release} from {result.source}")
    for s in result.sheets:
        typer.echo(f"  {s.sheet}: {s.n_rows} rows  {s.cid}")


@metadata_app.command("pull")
def metadata_pull(
    force: Annotated[bool, typer.Option(help="Download even when metadata is already stored.")] = False,
    hf: Annotated[bool, typer.Option("--hf", help="Pull from the HuggingFace dataset mirror.")] = False,
    repo: Annotated[str | None, typer.Option(help="HF dataset repo (default PRSGAZER_CATALOG_HF_REPO).")] = None,
    release: Annotated[str | None, typer.Option(help="With --hf: this release instead of the latest.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Get the catalog's metadata sheets (no-op when already stored, unless --force)."""
    from prsgazer.catalog import pull_metadata, pull_metadata_from_hf

    if hf:
        with err.status("pulling metadata from HuggingFace…"):
            result = pull_metadata_from_hf(repo, release=release, force=force)
    else:
        with progress_bar("downloading") as progress:
            result = asyncio.run(pull_metadata(force=force, progress=progress))
    _print_pull(result, as_json)


@metadata_app.command("refresh")
def metadata_refresh(
    force: Annotated[bool, typer.Option(help="Download even when the release is unchanged.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Download the metadata again when the catalog has a newer release."""
    from prsgazer.catalog import refresh_metadata

    with err.status("checking the catalog release…"):
        result = asyncio.run(refresh_metadata(force=force))
    _print_pull(result, as_json)


@metadata_app.command("publish")
def metadata_publish(
    repo: Annotated[str | None, typer.Option(help="HF dataset repo (default PRSGAZER_CATALOG_HF_REPO).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload the stored metadata release to a HuggingFace dataset repo."""
    from prsgazer.catalog import publish_metadata

    with err.status("publishing metadata…"):
        done = publish_metadata(repo)
    if as_json:
        print_json(done)
    else:
        typer.echo(f"published release {done['release']} to hf://datasets/{done['repo']}")


@metadata_app.command("status")
def metadata_status_cmd(as_json: JsonOpt = False) -> None:
    """Which catalog release is stored, sheet by sheet."""
    from prsgazer.catalog import metadata_status

    status = metadata_status()
    if as_json:
        print_json(status)
        return
    if status["release"] is None:
        typer.echo("no catalog metadata stored (run `prsgazer catalog metadata pull`)")
        return
    typer.echo(f"release {status['release']}")
    for sheet, info in sorted(status["sheets"].items()):
        typer.echo(f"  {sheet}: {info['n_rows']} rows  {info['cid']}")
