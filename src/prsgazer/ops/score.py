"""Scoring as every door asks for it: files in, a table out (`score_files`, the CLI), or stored
genotypes × stored scoring files in, one stored `PrsResult` (+ `MatchLog`) per score out
(`score_stored`, the `score` task; the CLI's `--store`). See docs/workflows.md ("score").

Both build the engine's options from the same `ScoreParams`, so the same inputs give the same numbers
and — through `score_stored` — the same stored records whichever door was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from prsgazer.cid import cid_of_file
from prsgazer.engine.reference import PersonScores
from prsgazer.engine.scorefile import SCHEMA
from prsgazer.engine.scoring import RunOptions, ScoreRun, run_scoring
from prsgazer.engine.scoring.match import LOG_COLUMNS
from prsgazer.errors import InputError
from prsgazer.fileio import output_path
from prsgazer.ops.params import ScoreParams, Tuning, available_chains, run_options
from prsgazer.ops.runtime import (
    CancelCheck,
    cached,
    code_version,
    from_cache,
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
    genotypes: str | Path | Sequence[str | Path],
    scorefiles: Sequence[str | Path],
    params: ScoreParams,
    tuning: Tuning,
    *,
    build: str | None = None,
    coverage: str | None = None,
    reference: str | Path | None = None,
    ref_freq: str | Path | None = None,
    chains: list[Path] | tuple[Path, ...] = (),
    store: Any = None,
    panel: str | None = None,
) -> tuple[ScoreRun, RunOptions]:
    """Score genotype files against scoring files; returns the run and the options it used. Scoring
    files in the other build are lifted with a chain given or found in PRSGAZER_CHAIN_DIR.

    `panel` (found through `store`): the reference panel the run will be compared with. Without a
    `reference`, its variant table gives REF at absent sites, as the panel does for stored genotypes
    (`score_stored`): the same inputs score alike through every door."""
    if not scorefiles:
        raise InputError("give at least one scoring file", field="--scorefile")
    if reference is None and panel is not None:
        from prsgazer.ops.panels import panel_prefix_for

        reference = Path(f"{panel_prefix_for(store, panel, build=build)}.pgen")
    options = run_options(params, tuning, build=build, coverage=coverage, reference=reference, ref_freq=ref_freq,
                          chains=available_chains(chains))  # fmt: skip
    return run_scoring(genotypes, list(scorefiles), options), options


def person_options(
    genotypes: Genotypes, params: ScoreParams, tuning: Tuning, coverage: str = "", reference: Path | None = None
) -> tuple[RunOptions, dict[str, Any]]:
    """The engine's options for stored genotypes, and the parameters that key a cached result.
    Shared by `score_stored` and the percentile step, so a re-run scores exactly as the first did."""
    # A coverage given by the caller is declared to the engine, "genotyped" too (absent sites are not
    # assayed: what scoring a cohort in parts needs); the genotypes' own recorded "genotyped" is what
    # detection found, so detection decides again.
    declared = coverage or (genotypes.coverage if genotypes.coverage != "genotyped" else "")
    chains = available_chains()
    options = run_options(
        params,
        tuning,
        build=genotypes.genome_build or None,
        coverage=declared or None,
        reference=reference,
        chains=chains,
    )
    key_params = {"score": params.as_record(), "coverage": declared or "detect", "build": options.build,
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
    from prsgazer.assets import PrsResult

    if not scoring_files:
        raise InputError("no scoring files to score", field="scoring_files")
    tuning = tuning or Tuning.from_settings()
    reference_cid = reference_panel.pvar_cid if reference_panel is not None else ""
    options, key_params = person_options(genotypes, params, tuning, coverage)

    def key_of(sf: ScoringFile) -> str:
        return score_key(genotypes.cid, sf.cid, reference_cid, key_params)

    unique = list({sf.cid: sf for sf in scoring_files}.values())
    results, todo = split_cached(store, unique, key_of, PrsResult)
    if todo:
        with measure("score") as m:
            g = store.fetch(genotypes.cid)
            paths = [store.fetch(sf.cid).path for sf in todo]
            if reference_panel is not None:  # the panel's variant table gives REF at absent sites
                options = options.model_copy(update={"reference": store.fetch(reference_panel.cid).path})
            run = run_scoring(g.path, paths, options)
        stop_if_cancelled(cancelled)
        log = stored_match_log(run)
        with scratch("score") as out:
            for sf in todo:
                results[sf.cid] = _store_results(store, run, log, genotypes, sf, out, key_of(sf), params, m.as_dict())
    return [r for sf in unique for r in results[sf.cid]]


#: Scoring-row columns (engine.scorefile SCHEMA) the match log lacks; the stored match log keeps them, so
#: the person's matched rows can be compared with a panel later without scoring them again.
ROW_EXTRAS = [c for c in SCHEMA if c not in LOG_COLUMNS]


def stored_match_log(run: ScoreRun) -> pl.DataFrame:
    """The run's match log (one row per candidate and unmatched row) with every scoring-row column."""
    extras = run.match.rows.select(
        pl.col("accession").cast(pl.String), "row_nr", *[pl.col(c).cast(SCHEMA[c]) for c in ROW_EXTRAS]
    )
    return run.match.log.join(extras, on=["accession", "row_nr"], how="left", maintain_order="left")


def person_scores_stored(store: Any, genotypes: Genotypes, results: list[PrsResult], params: ScoreParams,
                         build: str | None = None) -> PersonScores:  # fmt: skip
    """The `PersonScores` of stored results (sums from their tables, matched rows from their match
    logs, outcomes from their summaries): what comparing them with a panel needs, without scoring the
    genotypes again. Results of other genotypes or options are an input error."""
    from prsgazer.engine.scoring import ScoreMatchSummary

    record = params.as_record()
    rows, tables, summaries = [], [], {}
    for r in results:
        if r.genotypes_cid != genotypes.cid or (r.params and r.params != record):
            raise InputError(
                f"result {r.cid} ({r.pgs_id}) was computed from "
                + (f"genotypes {r.genotypes_cid}" if r.genotypes_cid != genotypes.cid else f"options {r.params}")
                + f", not from {genotypes.cid} with {record}",
                field="results",
                hint="give the results `score` returned for these genotypes with these options",
            )
        summaries[r.pgs_id] = ScoreMatchSummary.model_validate(r.summary)
        # the verified blobs themselves (their records are at hand): no copy under a file name is needed
        table = pl.read_csv(store.verify(r.cid), separator="\t", null_values="NA",
                            schema_overrides={"sample_id": pl.String, "pgs_id": pl.String})  # fmt: skip
        tables.append(table.select("sample_id", "pgs_id", pl.col("sum").cast(pl.Float64)))
        if r.status == "ok":
            log = pl.read_parquet(store.verify(r.match_log_cid))
            lacking = [c for c in SCHEMA if c not in log.columns]
            if lacking:
                raise InputError(f"match log {r.match_log_cid} of {r.cid} lacks the scoring-row columns {lacking}",
                                 field="results", hint="score the genotypes again with this version")  # fmt: skip
            matched = log.filter(pl.col("match_status") == "matched")
            rows.append(matched.select([pl.col(c).cast(t) for c, t in SCHEMA.items()]))
    table = pl.concat(tables) if tables else pl.DataFrame(schema={"sample_id": pl.String, "pgs_id": pl.String,
                                                                  "sum": pl.Float64})  # fmt: skip
    # one row per sample and score, samples first, in the order the run wrote them
    samples = {s: i for i, s in enumerate(dict.fromkeys(table.get_column("sample_id").to_list()))}
    scores = {p: i for i, p in enumerate(summaries)}
    table = table.sort(pl.col("sample_id").replace_strict(samples, return_dtype=pl.Int64),
                       pl.col("pgs_id").replace_strict(scores, return_dtype=pl.Int64), maintain_order=True)  # fmt: skip
    empty = pl.DataFrame(schema=SCHEMA)
    return PersonScores(rows=pl.concat(rows) if rows else empty, table=table, summaries=summaries,
                        build=build or genotypes.genome_build or None)  # fmt: skip


def _store_results(
    store: Any, run: ScoreRun, log: pl.DataFrame, genotypes: Genotypes, sf: ScoringFile, out: Path, key: str,
    params: ScoreParams, metrics: dict[str, Any],
) -> list[PrsResult]:  # fmt: skip
    from prsgazer.assets import MatchLog, PrsResult

    info = next(i for i in run.scorefiles if i.cid == sf.cid)
    # the derived cache entries these numbers were computed from (a run's record, like its timings)
    derived = {**run.derived, **({"scorefile_cache": info.cache_cid} if info.cache_cid else {})}
    lift = next((x for x in run.liftover if x.cid == sf.cid), None)
    if lift is not None and lift.cache_cid:
        derived["lifted_cache"] = lift.cache_cid
    metrics = {**metrics, "derived_inputs": derived}
    stored: list[PrsResult] = []
    for counts in info.counts:
        acc = counts.accession
        summary = run.match.summary(acc)
        stem = f"{acc}-{sf.cid[-12:]}"
        log_path = out / f"{stem}.match.parquet"
        acc_log = log.filter(pl.col("accession") == acc)
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
    genotypes: str | Path | Sequence[str | Path],
    scorefiles: Sequence[str | Path],
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


#: Per-sample columns that add up across the parts of a cohort (AVG is SUM / DENOM of the totals).
ADDITIVE_COLUMNS = ["sum", "denom", "allele_ct", "named_allele_dosage_sum", "n_missing", "n_imputed"]


def combine_stored(
    store: Any, parts: list[PrsResult], params: ScoreParams, *, cancelled: CancelCheck | None = None
) -> list[PrsResult]:
    """The scores of a cohort held in several genotype files of the same samples (one per chromosome,
    say), from each file's results (scored with min_overlap 0, so every matched row counts): SUM,
    DENOM, allele counts and the matched, missing and imputed counts add; AVG = SUM / DENOM; a score's
    overlap, and whether it reaches `params.min_overlap`, is decided on the totals. Equal to scoring the
    files as one (`engine.genotypes.MultiSource`) up to the order of summation.

    `parts`: one result per (file, score), every score from every file. Samples that differ between
    files, or a scoring row matched in two files (a variant in two files), are input errors."""
    from prsgazer.assets import PrsResult
    from prsgazer.engine.scoring import summarize

    groups: dict[tuple[str, str], list[PrsResult]] = {}
    for r in parts:
        groups.setdefault((r.scoring_file_cid, r.pgs_id), []).append(r)
    files = list(dict.fromkeys(r.genotypes_cid for r in parts))
    for (_, pgs_id), got in groups.items():
        have = [r.genotypes_cid for r in got]
        if sorted(have) != sorted(files):
            raise InputError(
                f"{pgs_id}: {len(have)} partial results for {len(files)} genotype files "
                f"(need one per file: {', '.join(files)})",
                field="parts",
            )
    min_overlap = run_options(params, Tuning()).match.min_overlap
    record = params.as_record()
    out: list[PrsResult] = []
    todo: list[tuple[str, list[PrsResult], str]] = []
    for key_, got in groups.items():
        got = sorted(got, key=lambda r: files.index(r.genotypes_cid))
        key = result_key("combine", inputs={"parts": [r.cid for r in got]}, params={"score": record})
        hit = cached(store, key, PrsResult)
        if hit:
            out.append(from_cache(hit[0]))
        else:
            todo.append((key_[1], got, key))
    if not todo:
        return out
    with measure("combine") as m:
        combined = [(pgs, got, key, *_combine(store, pgs, got, min_overlap, summarize)) for pgs, got, key in todo]
    stop_if_cancelled(cancelled)
    with scratch("combine") as d:
        for pgs, got, key, table, summ in combined:
            path = d / f"{pgs}-{key[:12]}.tsv"
            table.write_csv(path, separator="\t", null_value="NA")
            first = got[0]
            asset = store.upload(
                PrsResult(
                    path=path,
                    sample_id=first.sample_id if all(r.sample_id == first.sample_id for r in got) else "",
                    pgs_id=pgs,
                    scoring_file_cid=first.scoring_file_cid,
                    genome_build=first.genome_build,
                    n_samples=first.n_samples,
                    n_variants=summ.n_variants,
                    n_matched=summ.n_matched,
                    overlap=summ.overlap,
                    status="ok" if summ.passed else "failed",
                    reason=summ.reason or "",
                    coverage=first.coverage,
                    absent_means=first.absent_means,
                    imputation=first.imputation,
                    dosage_source=str(table.get_column("dosage_source")[0]) if table.height else "",
                    summary=summ.model_dump(mode="json"),
                    part_cids=[r.cid for r in got],
                    params=record,
                    code_version=code_version(),
                    task_key=key,
                    metrics=m.as_dict(),
                )
            )
            out.append(portable(asset))
    order = {k[1]: i for i, k in enumerate(groups)}
    return sorted(out, key=lambda r: order.get(r.pgs_id, len(order)))


def _combine(
    store: Any, pgs_id: str, parts: list[PrsResult], min_overlap: float, summarize: Any
) -> tuple[pl.DataFrame, Any]:
    """One score's table and match summary from its parts (one per genotype file, in file order)."""
    from prsgazer.engine.genotypes import HARD_CALLS
    from prsgazer.engine.scoring import OUT_COLUMNS, ScoreMatchSummary

    tables = []
    for r in parts:
        t = pl.read_csv(store.verify(r.cid), separator="\t", null_values="NA",
                        schema_overrides={"sample_id": pl.String, "pgs_id": pl.String, "reason": pl.String,
                                          "dosage_source": pl.String})  # fmt: skip
        tables.append(t)
    samples = tables[0].get_column("sample_id").to_list()
    for r, t in zip(parts[1:], tables[1:], strict=True):
        other = t.get_column("sample_id").to_list()
        if other != samples:
            k = next((i for i, (a, b) in enumerate(zip(samples, other, strict=False)) if a != b),
                     min(len(samples), len(other)))  # fmt: skip
            mine = samples[k] if k < len(samples) else "(none)"
            theirs = other[k] if k < len(other) else "(none)"
            raise InputError(
                f"the genotype files do not hold the same samples: sample {k + 1} is {mine!r} in "
                f"{parts[0].genotypes_cid} but {theirs!r} in {r.genotypes_cid}",
                field="genotypes_cids",
                hint="a cohort's files (one per chromosome) must list the same samples in the same order",
            )
    _check_rows_in_one_part(store, pgs_id, parts)
    summaries = [ScoreMatchSummary.model_validate(r.summary) for r in parts]
    n_variants = {s.n_variants for s in summaries}
    unscorable = {tuple(sorted((k, v) for k, v in s.unmatched_by.items() if k != "no_candidate")) for s in summaries}
    if len(n_variants) != 1 or len(unscorable) != 1:
        raise InputError(f"{pgs_id}: the partial results were not computed from the same scoring file",
                         field="parts")  # fmt: skip
    matched: dict[str, int] = {}
    excluded: dict[str, int] = {}
    for s in summaries:
        for name, v in s.by_match_type.items():
            matched[name] = matched.get(name, 0) + v
        for name, v in s.excluded_by.items():
            excluded[name] = excluded.get(name, 0) + v
    unmatched = dict(unscorable.pop())
    none = n_variants.pop() - sum(matched.values()) - sum(excluded.values()) - sum(unmatched.values())
    if none:
        unmatched["no_candidate"] = none
    summ = summarize(pgs_id, matched, excluded, unmatched, min_overlap)
    sources = [str(t.get_column("dosage_source")[0]) if t.height else HARD_CALLS for t in tables]
    dosage = HARD_CALLS if set(sources) == {HARD_CALLS} else "; ".join(
        f"{r.genotypes_cid}: {src}" for r, src in zip(parts, sources, strict=True))  # fmt: skip
    base = pl.DataFrame({"sample_id": samples, "pgs_id": [pgs_id] * len(samples)},
                        schema={"sample_id": pl.String, "pgs_id": pl.String})  # fmt: skip
    if summ.passed:
        # every matched row counts once, in the one file that holds it: the counts and sums add
        totals = [
            pl.sum_horizontal([pl.Series(t.get_column(c)).fill_null(0) for t in tables]).alias(c)
            for c in ADDITIVE_COLUMNS
        ]
        table = base.with_columns(*totals).with_columns(
            pl.col("sum").cast(pl.Float64),
            pl.col("named_allele_dosage_sum").cast(pl.Float64),
            *[pl.col(c).cast(pl.Int64) for c in ("denom", "allele_ct", "n_missing", "n_imputed")],
        )
        table = table.with_columns(
            pl.when(pl.col("denom") > 0).then(pl.col("sum") / pl.col("denom")).otherwise(None).alias("avg")
        )
    else:
        table = base.with_columns(
            *[pl.lit(None, dtype=pl.Float64).alias(c) for c in ("sum", "avg", "named_allele_dosage_sum")],
            *[pl.lit(None, dtype=pl.Int64).alias(c) for c in ("denom", "allele_ct", "n_missing", "n_imputed")],
        )
    table = table.with_columns(
        pl.lit(summ.n_matched, dtype=pl.Int64).alias("n_matched"),
        pl.lit(summ.n_variants, dtype=pl.Int64).alias("n_variants"),
        pl.lit(summ.overlap, dtype=pl.Float64).alias("overlap"),
        pl.lit("ok" if summ.passed else "failed").alias("status"),
        pl.lit(summ.reason, dtype=pl.String).alias("reason"),
        pl.lit(dosage).alias("dosage_source"),
    )
    return table.select(OUT_COLUMNS), summ


def _check_rows_in_one_part(store: Any, pgs_id: str, parts: list[PrsResult]) -> None:
    """A scoring row with a candidate in two files means a variant in two files: an input error."""
    seen: dict[int, str] = {}
    for r in parts:
        if not r.match_log_cid:
            continue
        rows = (
            pl.scan_parquet(store.verify(r.match_log_cid))
            .filter(pl.col("match_status").is_in(["matched", "excluded"]))
            .select("row_nr")
            .unique()
            .collect()
            .get_column("row_nr")
            .to_list()
        )
        for row in rows:
            if row in seen:
                raise InputError(
                    f"{pgs_id}: scoring row {row} has a matching variant in {seen[row]} and in {r.genotypes_cid} "
                    "(a variant is in two genotype files)",
                    field="genotypes_cids",
                    hint="split the cohort so that each variant is in one file (e.g. one file per chromosome)",
                )
            seen[row] = r.genotypes_cid
