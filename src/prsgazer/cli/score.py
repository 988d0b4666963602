"""`prsgazer score`: genotypes × scoring files → OUT.tsv (+ match log), summary on stderr.

See docs/engine.md ("Command line"). Front door only: options become `engine.pipeline.RunOptions`,
the run's result becomes files and a summary. Exit codes: 0 success (even when some scores failed
their overlap), 2 bad input or when every score failed (no OUT.tsv is written then), 1 internal.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prsgazer.errors import InputError

if TYPE_CHECKING:  # annotations only: the command loads the engine when it runs
    import polars as pl

    from prsgazer.engine.scoring.run import RunOptions, ScoreRun
    from prsgazer.ops.outputs import Format
    from prsgazer.ops.params import ScoreParams, Tuning


def _resolve_pgs_ids(ids: list[str], build: str | None) -> list[Path]:
    from prsgazer.ops.scorefiles import resolve_pgs_ids
    from prsgazer.storage import default_store

    return resolve_pgs_ids(default_store(), ids, build)


def score(
    genotypes: Annotated[
        list[Path],
        typer.Argument(
            help="VCF/VCF.gz/gVCF, plink2 prefix (.pgen/.pvar/.psam) or plink1 prefix (.bed/.bim/.fam); several of "
            "them with the same samples (e.g. one per chromosome, scored as one cohort); or a pgsc_calc samplesheet "
            "CSV (sampleset,path_prefix,chrom,format)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output table (TSV), one row per (sample, score); - for stdout.")
    ],
    scorefile: Annotated[
        list[Path] | None, typer.Option("--scorefile", "-s", help="Scoring file (repeatable).")
    ] = None,
    pgs_id: Annotated[
        list[str] | None, typer.Option("--pgs-id", help="PGS Catalog id, downloaded harmonised (repeatable).")
    ] = None,
    build: Annotated[
        str | None,
        typer.Option("--build", help="Genotype build (GRCh37|GRCh38) when the header does not say."),
    ] = None,
    min_overlap: Annotated[
        float | None,
        typer.Option("--min-overlap", help="Minimum matched / scoring-file rows for a score to be computed."),
    ] = None,
    keep_ambiguous: Annotated[
        bool, typer.Option("--keep-ambiguous", help="Keep strand-ambiguous (A/T, C/G) matches.")
    ] = False,
    keep_multiallelic: Annotated[
        bool, typer.Option("--keep-multiallelic", help="Keep matches at multi-allelic sites.")
    ] = False,
    keep_first_match: Annotated[
        bool,
        typer.Option("--keep-first-match", help="Of rows of one score matching the same variant, keep the first."),
    ] = False,
    ignore_strand_flips: Annotated[
        bool, typer.Option("--ignore-strand-flips", help="Exclude matches that need a strand flip.")
    ] = False,
    match_log: Annotated[
        Path | None,
        typer.Option("--match-log", help="Write the match log (one row per candidate) here (TSV)."),
    ] = None,
    coverage: Annotated[
        str | None,
        typer.Option("--coverage", help="What a VCF covers: wgs (absent = hom-ref), gvcf, wes, array, unknown."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="FASTA (.fa with .fai) or variant table giving REF at absent sites."),
    ] = None,
    ref_freq: Annotated[
        Path | None, typer.Option("--ref-freq", help="Reference allele frequencies (.afreq) for imputation.")
    ] = None,
    no_impute: Annotated[
        bool, typer.Option("--no-impute", help="Missing calls contribute 0 (plink2 no-mean-imputation).")
    ] = False,
    vcf_filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Accepted VCF FILTER values (repeatable; default from settings, PASS and '.')."),
    ] = None,
    any_filter: Annotated[bool, typer.Option("--any-filter", help="Accept every VCF FILTER value.")] = False,
    min_dp: Annotated[int | None, typer.Option("--min-dp", help="Calls with lower DP are missing.")] = None,
    min_gq: Annotated[int | None, typer.Option("--min-gq", help="Calls with lower GQ are missing.")] = None,
    min_qual: Annotated[float | None, typer.Option("--min-qual", help="Records with lower QUAL are missing.")] = None,
    chain: Annotated[
        list[Path] | None,
        typer.Option("--chain", help="UCSC chain file (e.g. hg38ToHg19.over.chain.gz) to lift scoring files in the "
                     "other build (repeatable; PRSGAZER_CHAIN_DIR is searched too)."),
    ] = None,
    hard_calls: Annotated[
        bool, typer.Option("--hard-calls", help="Ignore dosages (VCF DS/HDS/GP, .pgen dosages): score the GT calls.")
    ] = False,
    dosage_fields: Annotated[
        str | None,
        typer.Option("--dosage-fields", help="VCF FORMAT fields read as dosages, in order (default DS,HDS,GP)."),
    ] = None,
    panel: Annotated[
        str | None,
        typer.Option("--panel", help="Reference panel (prefix or name): adds percentile and z on the same variants."),
    ] = None,
    superpopulation: Annotated[
        str | None, typer.Option("--superpopulation", help="Compare within this superpopulation (default ALL).")
    ] = None,
    distribution: Annotated[
        list[Path] | None,
        typer.Option(
            "--distribution", help="Precomputed Distribution parquet(s): fallback percentiles without --panel."
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="long (one row per sample and score), sscore (plink2's wide .sscore layout) or pgsc (pgsc_calc's "
            "aggregated scores: sampleset IID PGS SUM DENOM AVG). OUT ending in .gz is gzipped.",
        ),
    ] = "long",
    sampleset: Annotated[
        str | None,
        typer.Option("--sampleset", help="The sampleset name of --format pgsc (default: the samplesheet's)."),
    ] = None,
    ancestry: Annotated[
        bool,
        typer.Option(
            "--ancestry",
            help="With --panel: compare within the most similar population (ancestry inferred on the panel's PCA) "
            "and add the PC-adjusted z_pc_mean and z_pc_meanvar.",
        ),
    ] = False,
    store: Annotated[
        bool,
        typer.Option("--store", help="Also store the inputs and one prs_result per score (as the workflows do)."),
    ] = False,
) -> None:
    """Compute polygenic scores (SUM, AVG, DENOM per sample and score), exact against plink2."""
    from prsgazer.cli import err
    from prsgazer.engine.scoring.run import write_tsv
    from prsgazer.ops.params import ScoreParams, Tuning
    from prsgazer.ops.score import score_files

    out_format = _output_format(fmt, panel, distribution)
    inputs = _genotype_inputs(genotypes, store)
    read_from = _check_outputs(genotypes, scorefile, reference, ref_freq, distribution, panel, out, match_log)
    files = _scorefiles(scorefile, pgs_id, build)
    _check_comparison(panel, distribution, superpopulation, ancestry)
    params = ScoreParams.create(
        min_overlap=min_overlap,
        keep_ambiguous=keep_ambiguous,
        keep_multiallelic=keep_multiallelic,
        keep_first_match=keep_first_match,
        ignore_strand_flips=ignore_strand_flips,
        impute=not no_impute,
        vcf_filter=["*"] if any_filter else vcf_filter,
        min_dp=min_dp,
        min_gq=min_gq,
        min_qual=min_qual,
        hard_calls=hard_calls or None,
        dosage_fields=dosage_fields,
    )
    tuning = Tuning.from_settings()
    panels = None  # the store a --panel is found in (a person's run without one loads no store)
    if panel is not None:
        from prsgazer.storage import default_store

        panels = default_store()
    with err.status("scoring…", spinner="dots"):
        run, options = score_files(
            inputs, files, params, tuning, build=build, coverage=coverage, reference=reference, ref_freq=ref_freq,
            chains=list(chain or []), store=panels, panel=panel,
        )
    _print_summary(run)
    if match_log is not None:
        write_tsv(run.match.log, match_log, inputs=[*read_from, out], field="--match-log")
        err.print(f"match log: {match_log} ({run.match.log.height} rows)", highlight=False, soft_wrap=True)
    _check_some_passed(run, genotypes[0])
    table = run.table
    if ancestry and panel is not None:
        table = _with_ancestry(run, options, tuning, inputs, files, panel, coverage)
    elif panel is not None or distribution:
        table = _with_percentiles(run, options, tuning, inputs, files, panel, superpopulation, distribution)
    _write_outputs(run, table, out, out_format, sampleset or _sampleset(genotypes), params, read_from)
    if store:
        assert isinstance(inputs, Path)
        _store(inputs, files, params, build or run.build.build or "", coverage or "")
    n_ok = sum(s.passed for s in run.match.summaries)
    err.print(
        f"wrote {out} ({run.table.height} rows: {run.n_samples} sample(s) × "
        f"{len(run.match.summaries)} score(s), {n_ok} computed)",
        highlight=False,
        soft_wrap=True,
    )


def _output_format(fmt: str, panel: str | None, distribution: list[Path] | None) -> Format:
    """The --format checked; the layouts without percentile columns refuse a comparison."""
    from prsgazer.ops.outputs import check_format

    out_format = check_format(fmt)
    if out_format in ("sscore", "pgsc") and (panel is not None or distribution):
        raise InputError(f"--format {fmt} holds scores only: percentiles need --format long", field="--format")
    return out_format


def _genotype_inputs(genotypes: list[Path], store: bool) -> Path | list[Path]:
    """One genotype file, or several scored as one cohort (not with --store)."""
    inputs: Path | list[Path] = genotypes[0] if len(genotypes) == 1 else list(genotypes)
    if store and not isinstance(inputs, Path):
        raise InputError("--store takes one genotype file", field="--store",
                         hint="store each file with `prsgazer storage put`, or concatenate them first")  # fmt: skip
    return inputs


def _check_outputs(
    genotypes: list[Path],
    scorefile: list[Path] | None,
    reference: Path | None,
    ref_freq: Path | None,
    distribution: list[Path] | None,
    panel: str | None,
    out: Path,
    match_log: Path | None,
) -> list[Path | None]:
    """A bad --out / --match-log fails before the run, not after it; no output may overwrite an input."""
    from prsgazer.fileio import check_output

    read_from = _input_files(genotypes, [*(scorefile or []), reference, ref_freq, *(distribution or [])], panel)
    check_output(out, inputs=read_from, field="--out")
    if check_output(out).kind == "file":
        check_output(_sidecar(out), inputs=read_from, field="--out")
    if match_log is not None:
        check_output(match_log, inputs=[*read_from, out], field="--match-log")
    return read_from


def _scorefiles(scorefile: list[Path] | None, pgs_id: list[str] | None, build: str | None) -> list[Path]:
    """The --scorefile files, then the --pgs-id ones (downloaded harmonised); at least one."""
    files = list(scorefile or [])
    if pgs_id:
        files += _resolve_pgs_ids(list(pgs_id), build)
    if not files:
        raise InputError("give at least one --scorefile or --pgs-id", field="--scorefile")
    return files


def _check_comparison(
    panel: str | None, distribution: list[Path] | None, superpopulation: str | None, ancestry: bool
) -> None:
    """--superpopulation and --ancestry need something to compare with, and exclude each other."""
    if superpopulation and panel is None and not distribution:
        raise InputError("--superpopulation needs --panel (or --distribution)", field="--superpopulation")
    if ancestry and panel is None:
        raise InputError("--ancestry needs --panel (its PCA places the samples)", field="--ancestry")
    if ancestry and superpopulation:
        raise InputError("give --ancestry or --superpopulation, not both", field="--ancestry",
                         hint="--ancestry compares within the inferred population")  # fmt: skip


def _check_some_passed(run: ScoreRun, genotypes: Path) -> None:
    """Bad input (exit 2, no OUT written) when every score failed matching."""
    if run.all_failed:
        raise InputError(
            "no score passed matching: " + "; ".join(f"{s.accession}: {s.reason}" for s in run.match.summaries),
            file=genotypes,
            hint="check the genome build and coverage, lower --min-overlap, or see --match-log",
        )


def _with_ancestry(
    run: ScoreRun,
    options: RunOptions,
    tuning: Tuning,
    inputs: Path | list[Path],
    files: list[Path],
    panel: str,
    coverage: str | None,
) -> pl.DataFrame:
    """The table compared within each sample's most similar population, with PC-adjusted z; says where they fall."""
    from prsgazer.cli import err
    from prsgazer.ops.ancestry import add_ancestry
    from prsgazer.storage import default_store

    with err.status("ancestry: reference PCA, projection, adjusted scores…", spinner="dots"):
        table, anc = add_ancestry(default_store(), inputs, files, run, options, tuning, panel, coverage=coverage)
    for row in anc.table.head(5).iter_rows(named=True):
        flag = " (low confidence)" if row["low_confidence"] else ""
        err.print(f"ancestry: {row['sample_id']} most similar to {row['superpopulation']} "
                  f"(p={row['probability']:.3f}){flag}", highlight=False, soft_wrap=True)  # fmt: skip
    for w in anc.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    return table


def _with_percentiles(
    run: ScoreRun,
    options: RunOptions,
    tuning: Tuning,
    inputs: Path | list[Path],
    files: list[Path],
    panel: str | None,
    superpopulation: str | None,
    distribution: list[Path] | None,
) -> pl.DataFrame:
    """The table with percentile and z against the panel on the same variants (or precomputed distributions)."""
    from prsgazer.cli import err
    from prsgazer.ops.score import add_percentiles
    from prsgazer.storage import default_store

    with err.status("percentiles: re-scoring the panel on the matched variants…", spinner="dots"):
        table, warning = add_percentiles(
            default_store(), inputs, files, run, options, tuning, panel=panel,
            superpopulation=superpopulation, distributions=list(distribution or []),
        )  # fmt: skip
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    return table


def _sampleset(genotypes: list[Path]) -> str:
    from prsgazer.engine.genotypes import is_samplesheet, read_samplesheet

    if len(genotypes) == 1 and is_samplesheet(genotypes[0]):
        return read_samplesheet(genotypes[0])[0]
    return "cohort"


def _input_files(genotypes: list[Path], others: list[Path | None], panel: str | None) -> list[Path | None]:
    """Every file the command reads (plink prefixes and samplesheets expanded), for the output checks."""
    from prsgazer.engine.genotypes import genotype_files, is_samplesheet, read_samplesheet

    found: list[Path | None] = [*others, *(genotype_files(panel) if panel else [])]
    for g in genotypes:
        found += genotype_files(g)
        if is_samplesheet(g):
            with contextlib.suppress(InputError):  # a bad samplesheet is reported by the run itself
                for listed in read_samplesheet(g)[1]:
                    found += genotype_files(listed)
    return found


def _sidecar(out: Path) -> Path:
    return out.with_name(out.name + ".run.json")


def _write_outputs(
    run: ScoreRun,
    table: pl.DataFrame,
    out: Path,
    fmt: Format,
    sampleset: str,
    params: ScoreParams,
    inputs: list[Path | None],
) -> None:
    """OUT in the chosen layout (gzipped when it ends in .gz), and its provenance in OUT.run.json (beside a
    file only: standard output, a FIFO or a device has no "beside")."""
    from prsgazer.fileio import check_output, write_bytes
    from prsgazer.ops.outputs import formatted, record_text, run_record, table_bytes

    frame = formatted(run, fmt, table=table, sampleset=sampleset)
    write_bytes(out, table_bytes(frame, gzip_it=str(out).endswith(".gz")), inputs=inputs, field="--out")
    if check_output(out).kind == "file":
        record = run_record(run, params.as_record(), format=fmt, output=out.name)
        write_bytes(_sidecar(out), record_text(record).encode(), inputs=inputs, field="--out")


def _store(genotypes: Path, files: list[Path], params: ScoreParams, build: str, coverage: str) -> None:
    """Store the inputs and one PrsResult per score, exactly as the `score` task stores them."""
    from prsgazer.cli import err
    from prsgazer.ops.genotypes import ingest_genotypes
    from prsgazer.ops.score import score_stored
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.storage import default_store

    st = default_store()
    g = ingest_genotypes(st, genotypes, params, build=build, coverage=coverage)
    sfs = [ingest_scorefile(st, f) for f in files]
    results = score_stored(st, g, sfs, params, coverage=coverage)
    for r in results:
        err.print(f"stored prs_result {r.cid} ({r.pgs_id}, {r.status})", highlight=False, soft_wrap=True)


def _print_summary(run: object) -> None:
    from rich.markup import escape

    from prsgazer.cli import err
    from prsgazer.engine.scoring.run import ScoreRun

    assert isinstance(run, ScoreRun)
    build = run.build.build or "unknown"
    err.print(
        f"genotypes: {run.genotypes} ({run.genotype_kind}, {run.n_samples} sample(s), "
        f"{run.n_target_variants} variant rows); build {build} ({run.build.detail})",
        highlight=False,
        soft_wrap=True,
    )
    err.print(run.absent.describe(), highlight=False, soft_wrap=True)
    err.print(f"imputation: {run.imputation}", highlight=False, soft_wrap=True)
    err.print(f"dosages: {run.dosage_source}", highlight=False, soft_wrap=True)
    for lift in run.liftover:
        lost = ", ".join(f"{k} {v}" for k, v in lift.unlifted_by.items()) or "none"
        err.print(f"liftover: {lift.scorefile} {lift.from_build} → {lift.to_build} with {lift.chain}: "
                  f"{lift.n_rows - lift.n_unlifted}/{lift.n_rows} rows lifted (lost: {lost})",
                  highlight=False, soft_wrap=True)  # fmt: skip
    for s in run.match.summaries:
        status = "[green]ok[/green]" if s.passed else "[red]FAILED[/red]"
        parts = [f"{s.accession}: {status} {s.n_matched}/{s.n_variants} matched (overlap {s.overlap:.4f})"]
        if s.by_match_type:
            parts.append("matched " + ", ".join(f"{k} {v}" for k, v in s.by_match_type.items()))
        if s.excluded_by:
            parts.append("excluded " + ", ".join(f"{k} {v}" for k, v in s.excluded_by.items()))
        if s.unmatched_by:
            parts.append("unmatched " + ", ".join(f"{k} {v}" for k, v in s.unmatched_by.items()))
        if s.reason:
            parts.append(s.reason)
        err.print("; ".join(parts), highlight=False, soft_wrap=True)
    for w in run.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    err.print(
        "timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in run.timings.items()),
        highlight=False,
        soft_wrap=True,
    )
