"""`prsgazer reference …`: synthesize, list, download, distributions. See docs/reference.md ("Command line").

Front door only: panel names are resolved here (a plink2 prefix, a panel installed under
PRSGAZER_PANELS_DIR, or a `reference_panel` asset in the store), then the engine does the work.
Exit codes: 0 success, 2 bad input (or every score failed), 1 internal error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from prsgazer.config import get_settings
from prsgazer.errors import InputError, NotFoundError

app = typer.Typer(help="Reference panels: synthesize, list, download, score distributions.", no_args_is_help=True)


# --------------------------------------------------------------------------------------------------
# panel names


def resolve_panel(name: str | Path, *, build: str | None = None) -> Path:
    """A plink2 prefix for PANEL: a path, an installed panel (`NAME` or `NAME:BUILD`), or a store asset."""
    from prsgazer.catalog.reference_packs import KNOWN_PANELS, installed_panels
    from prsgazer.engine.reference.panel import strip_ext

    text = str(name)
    base = strip_ext(Path(text))
    if Path(f"{base}.pgen").exists():
        return base
    settings = get_settings()
    installed = installed_panels(settings.panels_path)
    wanted = [f"{text}:{build}"] if build and ":" not in text else []
    for cand in [*wanted, text]:
        hits = [p for p in installed if p.name == cand]
        if len(hits) == 1:
            return Path(hits[0].prefix)
    several = [p.name for p in installed if p.name.split(":")[0] == text]
    if several:
        raise InputError(
            f"panel {text!r} has several builds: {', '.join(several)}", field="PANEL", hint="name one, e.g. NAME:GRCh38"
        )
    stored = _stored_panel(text)
    if stored is not None:
        return stored
    if text in KNOWN_PANELS:
        raise InputError(
            f"panel {text!r} is known but not installed", field="PANEL", hint=f"run: prsgazer reference download {text}"
        )
    raise InputError(
        "no such panel: not a plink2 prefix (.pgen/.pvar/.psam), an installed panel or a stored reference_panel",
        file=text,
        field="PANEL",
        hint="see: prsgazer reference list",
    )


def _stored_panel(name: str) -> Path | None:
    """The stored reference_panel of that name (or NAME:BUILD, or CID) as a plink2 prefix; None if not stored."""
    from prsgazer.storage import default_store
    from prsgazer.storage.plink import reference_panel_for

    store = default_store()
    try:
        asset = reference_panel_for(store, name)  # several with that name: an error listing them
    except NotFoundError:
        return None
    if asset is None:
        return None
    fetched = store.fetch(asset.cid)
    assert fetched.path is not None
    return Path(fetched.path).with_suffix("")


def _register(prefix: Path, name: str, build: str) -> str:
    """Store a panel as ReferencePanel with Pvar/Psam companions; returns the pgen's CID."""
    from prsgazer.engine.reference.panel import open_panel
    from prsgazer.storage import default_store

    store = default_store()
    panel = open_panel(prefix, cache_dir=get_settings().cache_dir)
    try:
        pvar = store.put(panel.pvar_path, "pvar", panel=name, genome_build=build, n_variants=panel.variants.height)
        psam = store.put(panel.psam_path, "psam", panel=name, n_samples=panel.n_samples)
        pgen = store.put(
            panel.path,
            "reference_panel",
            panel=name,
            genome_build=build,
            n_samples=panel.n_samples,
            n_variants=panel.variants.height,
            superpopulations=panel.superpopulations,
            pvar_cid=pvar.cid,
            psam_cid=psam.cid,
        )
    finally:
        panel.close()
    return pgen.cid


# --------------------------------------------------------------------------------------------------
# commands


@app.command("synthesize")
def synthesize(
    samples: Annotated[int, typer.Option("--samples", "-n", help="Panel individuals (≥ 5).")],
    variants: Annotated[int, typer.Option("--variants", "-m", help="Biallelic SNPs.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory (default: installed under PANELS_DIR/NAME).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same arguments → same bytes).")] = 42,
    build: Annotated[str, typer.Option("--build", help="GRCh37 or GRCh38 coordinates.")] = "GRCh38",
    holdout: Annotated[int, typer.Option("--holdout", help="Extra people written to NAME_holdout.*")] = 0,
    name: Annotated[str | None, typer.Option("--name", help="Panel name (file stem and registered name).")] = None,
    register: Annotated[bool, typer.Option("--register", help="Also store it as a reference_panel asset.")] = False,
) -> None:
    """Simulate a panel with 5 superpopulations (msprime, out-of-Africa model) and print its prefix."""
    from prsgazer.cli import err
    from prsgazer.synthetic.simulate import synthesize_panel

    stem = name or f"synthetic_{samples}x{variants}_s{seed}"
    install = out is None
    directory = get_settings().panels_path / stem if install else Path(out)  # type: ignore[arg-type]
    with err.status(f"simulating {samples} samples × {variants} variants…", spinner="dots"):
        info = synthesize_panel(directory / stem, samples, variants, seed=seed, genome_build=build, n_holdout=holdout)
    if install:
        from prsgazer.fileio import write_text

        write_text(
            directory / ".installed.json",
            json.dumps({"name": stem, "source": "prsgazer reference synthesize", "prefixes": {stem: build}}, indent=2),
        )
    if register:
        cid = _register(info.prefix, stem, build)
        err.print(f"stored as reference_panel {cid}", highlight=False)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info.superpopulations.items()))
    err.print(f"{info.n_samples} samples ({counts}) × {info.n_variants} variants, {build}", highlight=False)
    if info.holdout_prefix:
        err.print(f"holdout: {info.holdout_prefix} ({info.n_holdout} people)", highlight=False)
    typer.echo(str(info.prefix))


@app.command("list")
def list_panels(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Known panels (the PGS Catalog reference packs) and the panels installed or stored here."""
    from rich.table import Table

    from prsgazer.catalog.reference_packs import KNOWN_PANELS, installed_panels
    from prsgazer.cli import out, print_json
    from prsgazer.storage import default_store

    settings = get_settings()
    installed = installed_panels(settings.panels_path)
    stored = default_store().query(asset="reference_panel")
    rows = []
    for k in KNOWN_PANELS.values():
        inst = [p.name for p in installed if p.name.split(":")[0] == k.name]
        rows.append({"name": k.name, "kind": "known", "build": "/".join(k.builds), "samples": k.n_samples,
                     "where": ", ".join(inst) if inst else k.url, "installed": bool(inst)})  # fmt: skip
    known = set(KNOWN_PANELS)
    for p in installed:
        if p.name.split(":")[0] not in known:
            rows.append({"name": p.name, "kind": "installed", "build": p.build, "samples": None, "where": p.prefix,
                         "installed": True})  # fmt: skip
    for a in stored:
        name = getattr(a, "panel", "") or a.cid
        rows.append({"name": name, "kind": "stored", "build": getattr(a, "genome_build", ""),
                     "samples": getattr(a, "n_samples", None), "where": a.cid, "installed": True})  # fmt: skip
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
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from prsgazer.catalog.reference_packs import download_panel
    from prsgazer.cli import err

    settings = get_settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=err, transient=True) as bar:  # fmt: skip
        task = bar.add_task(f"{name}", total=None)

        def progress(stage: str, done: int, total: int | None) -> None:
            bar.update(task, description=f"{name}: {stage}", completed=done, total=total)

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
    keep_ambiguous: Annotated[bool, typer.Option("--keep-ambiguous")] = False,
    keep_multiallelic: Annotated[bool, typer.Option("--keep-multiallelic")] = False,
    memory_limit: Annotated[
        str | None, typer.Option("--memory-limit", help="e.g. 2GB (PRSGAZER_MEMORY_LIMIT).")
    ] = None,
    results_dir: Annotated[Path | None, typer.Option("--results-dir", help="Per-score batch results.")] = None,
    dist_dir: Annotated[Path | None, typer.Option("--dist-dir", help="Distribution parquet files.")] = None,
    store: Annotated[bool, typer.Option("--store/--no-store", help="Store Distribution assets.")] = False,
) -> None:
    """Score the panel with every score (one pass) and write per-superpopulation distributions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from prsgazer.cli import err
    from prsgazer.cli.score import _resolve_pgs_ids
    from prsgazer.engine.genotypes import genotype_files
    from prsgazer.engine.reference.distributions import build_distribution, write_distribution
    from prsgazer.engine.reference.panel import open_panel
    from prsgazer.engine.scoring.batch import batch_score
    from prsgazer.engine.scoring.run import build_run_options, write_tsv
    from prsgazer.fileio import check_output

    settings = get_settings()
    if not scorefile and not pgs_id:
        raise InputError("give at least one --scorefile or --pgs-id", field="--scorefile")
    prefix = resolve_panel(panel, build=build)
    inputs = [*genotype_files(prefix), *(scorefile or [])]
    check_output(out, inputs=inputs, field="--out")  # a bad --out fails before the pass, not after it
    p = open_panel(prefix, cache_dir=settings.cache_dir)
    try:
        files = list(scorefile or [])
        if pgs_id:  # harmonised files in the panel's build unless --build says otherwise
            files += _resolve_pgs_ids(list(pgs_id), build or p.build.build)
        p.require_superpopulations()
        opts = build_run_options(
            settings, min_overlap=min_overlap, keep_ambiguous=keep_ambiguous, keep_multiallelic=keep_multiallelic
        )
        mopt, sopt = opts.match, opts.score
        rdir = results_dir or settings.cache_dir / "reference" / "batch"
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:  # fmt: skip
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            result = batch_score(
                p, files, out_dir=rdir, match_options=mopt, score_options=sopt,
                memory_limit=memory_limit or settings.memory_limit, progress=progress, cache_dir=settings.cache_dir,
                dense_fraction=settings.reference_dense_fraction,
            )  # fmt: skip
        ddir = dist_dir or settings.cache_dir / "reference" / "distributions"
        cids = p.cids()
        rows: list[pl.DataFrame] = []
        for o in result.outcomes:
            if o.result_path is None:
                err.print(f"[red]{o.accession}: FAILED[/red] {o.reason}", highlight=False, soft_wrap=True)
                rows.append(pl.DataFrame({"pgs_id": [o.accession], "superpopulation": ["ALL"], "status": ["failed"],
                                          "reason": [o.reason]}))  # fmt: skip
                continue
            meta = {"panel": p.name, "panel_cids": cids.model_dump(), "pgs_id": o.accession,
                    "scoring_file_cid": o.scorefile_cid, "result_key": o.key,
                    "summary": o.summary.model_dump() if o.summary else None}  # fmt: skip
            dist = build_distribution(
                result.scores(o.accession), p.sample_table, expected_superpopulations=p.superpopulations,
                panel_counts=p.superpopulation_counts, meta=meta,
            )  # fmt: skip
            path = write_distribution(dist, ddir / f"{o.key}.distribution.parquet")
            failed = [c.name for c in dist.checks if not c.passed]
            if failed:
                err.print(f"[yellow]{o.accession}: checks failed: {', '.join(failed)}[/yellow]", highlight=False)
            if store:
                _store_distribution(path, p, o, dist, build)
            rows.append(
                dist.stats.with_columns(
                    pl.lit(o.accession).alias("pgs_id"),
                    pl.lit(o.summary.n_matched if o.summary else None).alias("n_variants_matched"),
                    pl.lit(dist.checks_passed).alias("checks_passed"),
                    pl.lit(o.status).alias("status"),
                    pl.lit(None, dtype=pl.String).alias("reason"),
                )
            )
    finally:
        p.close()
    if result.n_failed == result.n_total:
        raise InputError(
            "no score passed matching: " + "; ".join(f"{o.accession}: {o.reason}" for o in result.outcomes),
            file=str(prefix),
            hint="check the panel's build against the scoring files, or lower --min-overlap",
        )
    table = pl.concat(rows, how="diagonal_relaxed")
    first = ["pgs_id", "superpopulation", "n", "mean", "std", "p5", "p50", "p95"]
    rest = [c for c in table.columns if c not in first]
    write_tsv(table.select(first + rest), out, inputs=inputs, field="--out")
    err.print(
        f"{result.n_total} score(s): {result.n_ok} computed, {result.n_cached} cached, {result.n_failed} failed; "
        f"{p.n_samples} samples, {result.n_union_variants} variants in {result.n_chunks} chunk(s); wrote {out}",
        highlight=False,
        soft_wrap=True,
    )


def _store_distribution(path: Path, panel, outcome, dist, build: str | None) -> None:  # type: ignore[no-untyped-def]
    from prsgazer.storage import default_store

    default_store().put(
        path,
        "distribution",
        panel=panel.name,
        panel_cid=panel.cids().pgen,
        pgs_id=outcome.accession,
        scoring_file_cid=outcome.scorefile_cid,
        genome_build=build or (panel.build.build or ""),
        superpopulations=panel.superpopulations,
        n_samples=panel.n_samples,
        n_variants_matched=outcome.summary.n_matched if outcome.summary else None,
        checks_passed=dist.checks_passed,
    )
