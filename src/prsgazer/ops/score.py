"""Scoring as every door asks for it: files in, a table out (`score_files`, the CLI), or stored
genotypes × stored scoring files in, one stored `PrsResult` (+ `MatchLog`) per score out
(`score_stored`, the `score` task; the CLI's `--store`). See docs/workflows.md ("score").

Both build the engine's options from the same `ScoreParams`, so the same inputs give the same numbers
and — through `score_stored` — the same stored records whichever door was used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from prsgazer.cid import cid_of_file
from prsgazer.engine.scoring import RunOptions, ScoreRun, run_scoring
from prsgazer.errors import InputError
from prsgazer.fileio import output_path
from prsgazer.ops.params import ScoreParams, Tuning, available_chains, run_options
from prsgazer.ops.runtime import (
    CancelCheck,
    code_version,
    measure,
    portable,
    result_key,
    scratch,
    split_cached,
    stop_if_cancelled,
)

if TYPE_CHECKING:  # annotations only: `score_files` (the CLI) stores nothing and does not load the asset types
    from prsgazer.assets import Genotypes, PrsResult, ReferencePanel, ScoringFile


def score_files(
    genotypes: str | Path,
    scorefiles: list[str | Path],
    params: ScoreParams,
    tuning: Tuning,
    *,
    build: str | None = None,
    coverage: str | None = None,
    reference: str | Path | None = None,
    ref_freq: str | Path | None = None,
    chains: list[Path] | tuple[Path, ...] = (),
) -> tuple[ScoreRun, RunOptions]:
    """Score genotype files against scoring files; returns the run and the options it used. Scoring
    files in the other build are lifted with a chain given or found in PRSGAZER_CHAIN_DIR."""
    if not scorefiles:
        raise InputError("give at least one scoring file", field="--scorefile")
    options = run_options(params, tuning, build=build, coverage=coverage, reference=reference, ref_freq=ref_freq,
                          chains=available_chains(chains))  # fmt: skip
    return run_scoring(genotypes, list(scorefiles), options), options


def person_options(
    genotypes: Genotypes, params: ScoreParams, tuning: Tuning, coverage: str = "", reference: Path | None = None
) -> tuple[RunOptions, dict[str, Any]]:
    """The engine's options for stored genotypes, and the parameters that key a cached result.
    Shared by `score_stored` and the percentile step, so a re-run scores exactly as the first did."""
    coverage = coverage or genotypes.coverage
    chains = available_chains()
    options = run_options(
        params,
        tuning,
        build=genotypes.genome_build or None,
        coverage=coverage if coverage and coverage != "genotyped" else None,
        reference=reference,
        chains=chains,
    )
    key_params = {"score": params.as_record(), "coverage": coverage, "build": options.build,
                  "chains": sorted(cid_of_file(c) for c in chains)}  # fmt: skip
    return options, key_params


def score_key(genotypes_cid: str, scoring_file_cid: str, reference_cid: str, key_params: dict[str, Any]) -> str:
    inputs = {"genotypes": genotypes_cid, "scoring_file": scoring_file_cid, "reference": reference_cid}
    return result_key("score", inputs=inputs, params=key_params)


def score_stored(
    store: Any,
    genotypes: Genotypes,
    scoring_files: list[ScoringFile],
    params: ScoreParams,
    *,
    coverage: str = "",
    reference_panel: ReferencePanel | None = None,
    tuning: Tuning | None = None,
    cancelled: CancelCheck | None = None,
) -> list[PrsResult]:
    """One PrsResult (with its MatchLog) per score of every scoring file; cached per scoring file.

    All missing scores are computed in one engine pass; each result is stored under its own key
    (genotypes CID, scoring-file CID, absent-site reference, parameters, code version), so adding a
    score to a finished run computes only the new one. A failed match is a result with status
    "failed" and its reason, not an error.
    """
    if not scoring_files:
        raise InputError("no scoring files to score", field="scoring_files")
    tuning = tuning or Tuning.from_settings()
    reference_cid = reference_panel.pvar_cid if reference_panel is not None else ""
    options, key_params = person_options(genotypes, params, tuning, coverage)

    def key_of(sf: ScoringFile) -> str:
        return score_key(genotypes.cid, sf.cid, reference_cid, key_params)

    unique = list({sf.cid: sf for sf in scoring_files}.values())
    results, todo = split_cached(store, unique, key_of, "prs_result")
    if todo:
        with measure("score") as m:
            g = store.fetch(genotypes.cid)
            paths = [store.fetch(sf.cid).path for sf in todo]
            if reference_panel is not None:  # the panel's variant table gives REF at absent sites
                options = options.model_copy(update={"reference": store.fetch(reference_panel.cid).path})
            run = run_scoring(g.path, paths, options)
        stop_if_cancelled(cancelled)
        with scratch("score") as out:
            for sf in todo:
                results[sf.cid] = _store_results(store, run, genotypes, sf, out, key_of(sf), params, m.as_dict())
    return [r for sf in unique for r in results[sf.cid]]  # type: ignore[misc]


def _store_results(
    store: Any, run: ScoreRun, genotypes: Genotypes, sf: ScoringFile, out: Path, key: str, params: ScoreParams,
    metrics: dict[str, Any],
) -> list[PrsResult]:  # fmt: skip
    from prsgazer.assets import MatchLog, PrsResult

    info = next(i for i in run.scorefiles if i.cid == sf.cid)
    stored: list[PrsResult] = []
    for counts in info.counts:
        acc = counts.accession
        summary = run.match.summary(acc)
        stem = f"{acc}-{sf.cid[-12:]}"
        log_path = out / f"{stem}.match.parquet"
        acc_log = run.match.log.filter(pl.col("accession") == acc)
        with output_path(log_path, durable=False) as tmp:
            acc_log.write_parquet(tmp, compression="zstd")
        mlog = store.upload(
            MatchLog(
                path=log_path, genotypes_cid=genotypes.cid, scoring_file_cid=sf.cid, pgs_id=acc, n_rows=acc_log.height
            )
        )
        table_path = out / f"{stem}.tsv"
        with output_path(table_path, durable=False) as tmp:
            run.table.filter(pl.col("pgs_id") == acc).write_csv(tmp, separator="\t", null_value="NA")
        result = store.upload(
            PrsResult(
                path=table_path,
                sample_id=genotypes.sample_id or (run.table["sample_id"][0] if run.n_samples == 1 else ""),
                pgs_id=acc,
                genotypes_cid=genotypes.cid,
                scoring_file_cid=sf.cid,
                match_log_cid=mlog.cid,
                genome_build=run.build.build or genotypes.genome_build,
                n_samples=run.n_samples,
                n_variants=summary.n_variants,
                n_matched=summary.n_matched,
                overlap=summary.overlap,
                status="ok" if summary.passed else "failed",
                reason=summary.reason or "",
                coverage=run.absent.coverage.value,
                absent_means=run.absent.absent_means,
                imputation=run.imputation,
                dosage_source=run.dosage_source,
                summary=summary.model_dump(mode="json"),
                params=params.as_record(),
                code_version=code_version(),
                task_key=key,
                metrics=metrics,
            )
        )
        stored.append(portable(result))
    return stored


def add_percentiles(
    store: Any,
    genotypes: str | Path,
    scorefiles: list[str | Path],
    run: ScoreRun,
    options: RunOptions,
    tuning: Tuning,
    *,
    panel: str | None = None,
    superpopulation: str | None = None,
    distributions: list[Path] | None = None,
) -> tuple[pl.DataFrame, str | None]:
    """The run's table with percentile columns: against `panel` re-scored on the same variants, else
    against precomputed Distribution files (labelled so); returns (table, warning or None)."""
    from prsgazer.engine.reference import distribution_percentiles, panel_percentiles, read_distribution
    from prsgazer.ops.panels import panel_prefix_for

    warning = None
    if panel is not None:
        prefix = panel_prefix_for(store, panel, build=run.build.build)
        pct, _, warning = panel_percentiles(
            genotypes, scorefiles, run, options, prefix, superpopulation, cache_dir=tuning.cache_dir, field="--panel"
        )
    else:
        dists = {}
        for f in distributions or []:
            d = read_distribution(f)
            dists[str(d.meta.get("pgs_id"))] = d
        pct = distribution_percentiles(run, dists, superpopulation)
    table = run.table.join(pct, on=["sample_id", "pgs_id"], how="left", maintain_order="left")
    return table.with_columns(pl.col("percentile_method").fill_null("n/a")), warning
