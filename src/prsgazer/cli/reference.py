"""`prsgazer reference …`: synthesize, list, download, distributions. See docs/reference.md ("Command line").

Front door only: panel names are resolved here (a plink2 prefix, a panel installed under
PRSGAZER_PANELS_DIR, or a `reference_panel` asset in the store), then the engine does the work.
Exit codes: 0 success, 2 bad input (or every score failed), 1 internal error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from prsgazer.config import get_settings
from prsgazer.errors import InputError

app = typer.Typer(help="Reference panels: synthesize, list, download, score distributions.", no_args_is_help=True)


# --------------------------------------------------------------------------------------------------
# panel names


def resolve_panel(name: str | Path, *, build: str | None = None) -> Path:
    """A plink2 prefix for PANEL: a path, an installed panel (`NAME` or `NAME:BUILD`), or a store asset."""
    from prsgazer.ops.panels import panel_prefix_for
    from prsgazer.storage import default_store

    return panel_prefix_for(default_store(), name, build=build)


# --------------------------------------------------------------------------------------------------
# commands


@app.command("synthesize")
def synthesize(
    samples: Annotated[int, typer.Option("--samples", "-n", help="Panel individuals (≥ 5).")],
    variants: Annotated[
        int, typer.Option("--variants", "-m", help="Biallelic SNPs in all (the covered sites count among them).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory (default: installed under PANELS_DIR/NAME).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same arguments → same bytes).")] = 42,
    build: Annotated[
        str | None,
        typer.Option("--build", help="GRCh37 or GRCh38 coordinates (default: the covered files' build, else GRCh38)."),
    ] = None,
    holdout: Annotated[
        int, typer.Option("--holdout", help="Extra people, same variants, written to NAME_holdout.* (people to score).")
    ] = 0,
    name: Annotated[str | None, typer.Option("--name", help="Panel name (file stem and registered name).")] = None,
    register: Annotated[bool, typer.Option("--register", help="Also store it as a reference_panel asset.")] = False,
    cover: Annotated[
        list[Path] | None,
        typer.Option(
            "--cover",
            "-c",
            help="Scoring file whose variants the panel must hold (repeatable): SNPs are placed at its positions "
            "with its alleles, so it matches the panel.",
        ),
    ] = None,
) -> None:
    """Simulate a panel with 5 superpopulations (msprime, out-of-Africa model) and print its prefix."""
    from prsgazer.cli import err
    from prsgazer.cli.render import progress_bar
    from prsgazer.synthetic.simulate import cover_sites, synthesize_panel

    sites = None
    if cover:
        found = cover_sites(cover, seed=seed)
        if build is not None and found.genome_build is not None and build != found.genome_build:
            raise InputError(
                f"the files to cover are in {found.genome_build}, not {build}", field="--build",
                hint=f"drop --build, or cover the files harmonised to {build}",
            )  # fmt: skip
        build = build or found.genome_build
        sites = found.sites
        err.print(f"covering {sites.height} sites of {len(cover)} scoring file(s)"
                  + "".join(f"; {n}" for n in found.notes), highlight=False, soft_wrap=True)  # fmt: skip
    build = build or "GRCh38"
    stem = name or f"synthetic_{samples}x{variants}_s{seed}"
    install = out is None
    directory = get_settings().panels_path / stem if out is None else Path(out)
    with progress_bar(f"{samples} samples × {variants} variants") as progress:
        info = synthesize_panel(directory / stem, samples, variants, seed=seed, genome_build=build, n_holdout=holdout,
                                cover=sites, progress=progress)  # fmt: skip
    if install:
        from prsgazer.fileio import write_text

        write_text(
            directory / ".installed.json",
            json.dumps({"name": stem, "source": "prsgazer reference synthesize", "prefixes": {stem: build}}, indent=2),
        )
    if register:
        from prsgazer.ops.panels import register_panel
        from prsgazer.storage import default_store

        asset = register_panel(default_store(), info.prefix, stem, build)
        err.print(f"stored as reference_panel {asset.cid}", highlight=False)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info.superpopulations.items()))
    err.print(f"{info.n_samples} samples ({counts}) × {info.n_variants} variants, {build}", highlight=False)
    if info.holdout_prefix:
        err.print(f"holdout: {info.holdout_prefix} ({info.n_holdout} people)", highlight=False)
    typer.echo(str(info.prefix))


@app.command("list")
def list_panels(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Known panels (the PGS Catalog reference packs) and the panels installed or stored here."""
    from rich.table import Table

    from prsgazer.cli import out, print_json
    from prsgazer.ops.panels import available_panels
    from prsgazer.storage import default_store

    rows = [r.model_dump() for r in available_panels(default_store())]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "kind", "build", "samples", "where", title=f"{len(rows)} panel(s)")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["build"], str(r["samples"] or ""), r["where"])
    out.print(table)


@app.command("download")
def download(
    name: Annotated[str, typer.Argument(help="A known panel (see `prsgazer reference list`).")],
    dest: Annotated[Path | None, typer.Option("--dest", help="Install directory (default PANELS_DIR).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Override PRSGAZER_REFERENCE_BASE_URL.")] = None,
    keep_archive: Annotated[bool, typer.Option("--keep-archive", help="Keep the .tar.zst after extraction.")] = False,
) -> None:
    """Download, verify and install a PGS Catalog reference pack (resumable; prints the directory)."""
    from prsgazer.catalog.reference_packs import download_panel
    from prsgazer.cli import err
    from prsgazer.cli.render import progress_bar

    settings = get_settings()
    with progress_bar(name, transfer=True) as progress:
        path = download_panel(
            name, dest or settings.panels_path, base_url=base_url or settings.reference_base_url,
            keep_archive=keep_archive, progress=progress,
        )  # fmt: skip
    info = json.loads((path / ".installed.json").read_text())
    err.print(f"installed {name}: {', '.join(info.get('prefixes', {}))}", highlight=False)
    typer.echo(str(path))


@app.command("distributions")
def distributions(
    panel: Annotated[str, typer.Argument(help="plink2 prefix with SuperPop in the .psam, or a panel name.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="DIST.tsv: one row per (score, superpopulation, ALL); - for stdout.")
    ],
    scorefile: Annotated[
        list[Path] | None, typer.Option("--scorefile", "-s", help="Scoring file (repeatable).")
    ] = None,
    pgs_id: Annotated[list[str] | None, typer.Option("--pgs-id", help="PGS Catalog id (repeatable).")] = None,
    build: Annotated[str | None, typer.Option("--build", help="Panel build for --pgs-id / NAME:BUILD.")] = None,
    min_overlap: Annotated[float | None, typer.Option("--min-overlap", help="Minimum matched fraction.")] = None,
    keep_ambiguous: Annotated[
        bool, typer.Option("--keep-ambiguous", help="Keep strand-ambiguous (A/T, C/G) matches.")
    ] = False,
    keep_multiallelic: Annotated[
        bool, typer.Option("--keep-multiallelic", help="Keep matches at multi-allelic sites.")
    ] = False,
    memory_limit: Annotated[
        str | None, typer.Option("--memory-limit", help="e.g. 2GB (PRSGAZER_MEMORY_LIMIT).")
    ] = None,
    results_dir: Annotated[Path | None, typer.Option("--results-dir", help="Per-score batch results.")] = None,
    dist_dir: Annotated[Path | None, typer.Option("--dist-dir", help="Distribution parquet files.")] = None,
    store: Annotated[bool, typer.Option("--store/--no-store", help="Store Distribution assets.")] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Scoring files per pass over the panel; a killed run keeps the "
                     "passes it finished and, run again, scores only the rest."),
    ] = 500,
) -> None:
    """Score the panel with the scores (one pass per --batch-size files) and write per-superpopulation
    distributions."""
    from prsgazer.cli import err
    from prsgazer.cli.render import progress_bar
    from prsgazer.engine.genotypes import genotype_files
    from prsgazer.engine.scoring.run import write_tsv
    from prsgazer.fileio import check_output
    from prsgazer.ops.distributions import distributions_for_files
    from prsgazer.ops.params import ScoreParams, Tuning

    if not scorefile and not pgs_id:
        raise InputError("give at least one --scorefile or --pgs-id", field="--scorefile")
    params = ScoreParams.create(
        min_overlap=min_overlap, keep_ambiguous=keep_ambiguous, keep_multiallelic=keep_multiallelic
    )
    tuning = Tuning.from_settings(memory_limit=memory_limit)
    prefix = resolve_panel(panel, build=build)
    inputs = [*genotype_files(prefix), *(scorefile or [])]
    check_output(out, inputs=inputs, field="--out")  # a bad --out fails before the pass, not after it
    files = list(scorefile or [])
    if pgs_id:  # harmonised files in the panel's build unless --build says otherwise
        from prsgazer.cli.score import _resolve_pgs_ids

        files += _resolve_pgs_ids(list(pgs_id), build or _panel_build(prefix))
    with progress_bar(f"{prefix.name}") as progress:
        run = distributions_for_files(prefix, files, params, tuning, out_dir=dist_dir, progress=progress,
                                      batch_size=batch_size)  # fmt: skip
    result = run.batch
    rows: list[pl.DataFrame] = []
    for fd in run.scores:
        o, dist = fd.outcome, fd.distribution
        if dist is None:
            err.print(f"[red]{o.accession}: FAILED[/red] {o.reason}", highlight=False, soft_wrap=True)
            rows.append(pl.DataFrame({"pgs_id": [o.accession], "superpopulation": ["ALL"], "status": ["failed"],
                                      "reason": [o.reason]}))  # fmt: skip
            continue
        failed = [c.name for c in dist.checks if not c.passed]
        if failed:
            err.print(f"[yellow]{o.accession}: checks failed: {', '.join(failed)}[/yellow]", highlight=False)
        rows.append(
            dist.stats.with_columns(
                pl.lit(o.accession).alias("pgs_id"),
                pl.lit(o.summary.n_matched if o.summary else None).alias("n_variants_matched"),
                pl.lit(dist.checks_passed).alias("checks_passed"),
                pl.lit(o.status).alias("status"),
                pl.lit(None, dtype=pl.String).alias("reason"),
            )
        )
    if result.n_failed == result.n_total:
        raise InputError(
            "no score passed matching: " + "; ".join(f"{o.accession}: {o.reason}" for o in result.outcomes),
            file=str(prefix),
            hint="check the panel's build against the scoring files, or lower --min-overlap",
        )
    if store:
        _store_distributions(prefix, files, params, tuning, build)
    table = pl.concat(rows, how="diagonal_relaxed")
    first = ["pgs_id", "superpopulation", "n", "mean", "std", "p5", "p50", "p95"]
    rest = [c for c in table.columns if c not in first]
    write_tsv(table.select(first + rest), out, inputs=inputs, field="--out")
    err.print(
        f"{result.n_total} score(s): {result.n_ok} computed, {result.n_cached} cached, {result.n_failed} failed; "
        f"{run.n_samples} samples, {result.n_union_variants} variants in {result.n_chunks} chunk(s); wrote {out}",
        highlight=False,
        soft_wrap=True,
    )


def _panel_build(prefix: Path) -> str | None:
    from prsgazer.engine.reference import open_panel

    p = open_panel(prefix)
    try:
        return p.build.build
    finally:
        p.close()


def _store_distributions(prefix: Path, files: list[Path], params: Any, tuning: Any, build: str | None) -> None:
    """Store the panel, the scoring files, the reference scores and the distributions exactly as the
    `reference_batch` and `aggregate_distributions` tasks store them."""
    from prsgazer.cli import err
    from prsgazer.ops.distributions import distributions_stored, reference_scores_stored
    from prsgazer.ops.panels import stored_panel
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.storage import default_store

    st = default_store()
    ref = stored_panel(st, str(prefix), build or "")
    assert ref is not None
    sfs = [ingest_scorefile(st, f) for f in files]
    scores = reference_scores_stored(st, ref, sfs, params, tuning=tuning)
    for d in distributions_stored(st, ref, scores):
        err.print(f"stored distribution {d.cid} ({d.pgs_id})", highlight=False, soft_wrap=True)
