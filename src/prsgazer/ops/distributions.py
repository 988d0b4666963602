"""Reference distributions as every door asks for them: a panel × many scoring files scored in one
pass (`engine.scoring.batch_score`), then aggregated per superpopulation and ALL with their checks.

- `reference_scores_stored` / `distributions_stored`: stored panel and scoring files in, stored
  `ReferenceScores` and `Distribution` assets out (the `reference_batch` and
  `aggregate_distributions` tasks; the CLI's `--store`).
- `distributions_for_files`: a panel prefix and scoring files in, distributions out (the CLI).

Both build each distribution with the same metadata (`distribution_meta`: CIDs only, never local
paths), so the same inputs give the same Distribution bytes whichever door was used.
See docs/reference.md and docs/workflows.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from prsgazer.assets import Distribution, ReferencePanel, ReferenceScores, ScoringFile
from prsgazer.cid import cid_of_file
from prsgazer.engine.reference import DistributionData, Panel, build_distribution, open_panel, write_distribution
from prsgazer.engine.scoring import BatchResult, ScoreOutcome, batch_score
from prsgazer.engine.scoring.batch import RESULT_COLUMNS
from prsgazer.errors import InputError, IntegrityError
from prsgazer.fileio import output_path
from prsgazer.ops.params import ScoreParams, Tuning, run_options
from prsgazer.ops.runtime import (
    CancelCheck,
    cached,
    code_version,
    from_cache,
    measure,
    memory_budget,
    portable,
    result_key,
    scratch,
    split_cached,
    stop_if_cancelled,
)

ProgressFn = Callable[[str, int, int], None]


def panel_prefix(store: Any, panel: ReferencePanel) -> Path:
    """Materialise a stored panel (pgen + pvar + psam under one stem) and return its plink2 prefix."""
    if not panel.pvar_cid or not panel.psam_cid:
        raise InputError(
            f"reference panel {panel.cid} has no .pvar/.psam companions",
            field="reference_panel",
            hint="name an installed panel instead (MCP: list_panels; shell: `prsgazer reference list`), or store "
            "one with its companions from a shell (`prsgazer reference synthesize --register`)",
        )
    got = store.fetch(panel.cid)
    assert got.path is not None
    return Path(got.path).with_suffix("")


def distribution_meta(
    panel: str, panel_cid: str, pgs_id: str, scoring_file_cid: str, reference_scores_cid: str,
    n_matched: int | None, n_variants: int | None,
) -> dict[str, Any]:  # fmt: skip
    """The provenance written into a Distribution parquet: identities only, so its bytes (and CID)
    are the same on every machine and through every door."""
    return {
        "panel": panel,
        "panel_cid": panel_cid,
        "pgs_id": pgs_id,
        "scoring_file_cid": scoring_file_cid,
        "reference_scores_cid": reference_scores_cid,
        "summary": {"n_matched": n_matched, "n_variants": n_variants},
        "code_version": code_version(),
    }


#: Scoring files per batch (one pass over the panel each): what a killed run can lose, at most.
BATCH_SIZE = 500


def _batch(
    panel: Panel, paths: list[Path], params: ScoreParams, tuning: Tuning, cids: dict[str, str] | None,
    progress: ProgressFn | None = None, batch_size: int | None = None,
) -> BatchResult:  # fmt: skip
    """`batch_score` over the files, `batch_size` at a time (one after the other; each batch's results
    are kept as soon as it ends, so a killed run resumes from the batches it finished). `cids`: the
    panel's file CIDs when known (a stored panel's); None: `batch_score` hashes them beside the
    scoring files (`panel.cids()` then remembers them)."""
    options = run_options(params, tuning)
    if tuning.cache_dir is None:
        raise InputError("batch scoring needs a cache directory", field="PRSGAZER_CACHE_DIR")
    size = batch_size or BATCH_SIZE
    if size < 1:
        raise InputError(f"batch size must be at least 1, got {size}", field="batch_size")
    panel.require_superpopulations()
    parts = []
    for i in range(0, len(paths), size):
        parts.append(batch_score(
            panel, paths[i : i + size], out_dir=tuning.cache_dir / "reference" / "batch", match_options=options.match,
            score_options=options.score, memory_limit=tuning.memory_limit, cache_dir=tuning.cache_dir,
            dense_fraction=tuning.dense_fraction, panel_cids=cids, progress=progress, reader=tuning.reader,
            budget=memory_budget(tuning.memory_limit), cache_scorefiles=tuning.batch_cache_scorefiles,
        ))  # fmt: skip
    return parts[0] if len(parts) == 1 else BatchResult.combine(parts)


def reference_scores_stored(
    store: Any,
    reference_panel: ReferencePanel,
    scoring_files: list[ScoringFile],
    params: ScoreParams,
    *,
    tuning: Tuning | None = None,
    cancelled: CancelCheck | None = None,
) -> list[ReferenceScores]:
    """Every panel sample's score for every scoring file, all in one pass over the panel; one stored
    ReferenceScores per score (a failed match is one with status "failed" and its reason)."""
    if not scoring_files:
        raise InputError("no scoring files to score", field="scoring_files")
    tuning = tuning or Tuning.from_settings()
    key_params = {"score": params.as_record()}

    def key_of(sf: ScoringFile) -> str:
        inputs = {"panel": reference_panel.cid, "scoring_file": sf.cid}
        return result_key("reference_batch", inputs=inputs, params=key_params)

    unique = list({sf.cid: sf for sf in scoring_files}.values())
    results, todo = split_cached(store, unique, key_of, ReferenceScores)
    if todo:
        with measure("reference_batch") as m:
            prefix = panel_prefix(store, reference_panel)
            paths = [Path(store.fetch(sf.cid).path) for sf in todo]
            cids = {"pgen": reference_panel.cid, "pvar": reference_panel.pvar_cid, "psam": reference_panel.psam_cid}
            panel = open_panel(prefix, cache_dir=tuning.cache_dir)
            try:
                batch = _batch(panel, paths, params, tuning, cids)
                n_samples, build = panel.n_samples, panel.build.build
            finally:
                panel.close()
        stop_if_cancelled(cancelled)
        metrics = {**m.as_dict(), "batch_files": len(todo), "batch_timings": batch.timings}
        by_cid: dict[str, list[ScoreOutcome]] = {}
        for o in batch.outcomes:
            by_cid.setdefault(o.scorefile_cid, []).append(o)
        with scratch("reference_batch", tuning.cache_dir) as out:
            for sf in todo:
                results[sf.cid] = [
                    portable(
                        _store_reference_scores(
                            store, reference_panel, sf, o, out, key_of(sf), params, n_samples, build, metrics
                        )
                    )
                    for o in by_cid.get(sf.cid, [])
                ]
    return [r for sf in unique for r in results[sf.cid]]


def _store_reference_scores(
    store: Any, reference_panel: ReferencePanel, sf: ScoringFile, o: ScoreOutcome, out: Path, key: str,
    params: ScoreParams, n_samples: int, build: str | None, metrics: dict[str, Any],
) -> ReferenceScores:  # fmt: skip
    path = o.result_path
    metrics = {**metrics, "derived_inputs": dict(o.derived)}
    if path is None:  # failed: an empty table with the result layout keeps the reason
        path = str(out / f"{o.accession}-{sf.cid[-12:]}.failed.parquet")
        empty = pl.DataFrame(schema={c: pl.Float64 for c in RESULT_COLUMNS} | {"sample_id": pl.String})
        with output_path(path, durable=False) as tmp:
            empty.select(RESULT_COLUMNS).write_parquet(tmp)
    summ = o.summary
    stored = store.upload(
        ReferenceScores(
            path=Path(path),
            filename=f"{o.accession}.{reference_panel.panel or 'panel'}.reference_scores.parquet",
            panel=reference_panel.panel,
            panel_cid=reference_panel.cid,
            pgs_id=o.accession,
            scoring_file_cid=sf.cid,
            genome_build=build or reference_panel.genome_build,
            n_samples=n_samples,
            n_matched=summ.n_matched if summ else None,
            n_variants=summ.n_variants if summ else None,
            status="failed" if o.status == "failed" else "ok",
            reason=o.reason or "",
            task_key=key,
            params=params.as_record(),
            code_version=code_version(),
            metrics=metrics,
        )
    )
    if o.result_cid is not None and stored.cid != o.result_cid:
        # the batch result changed between its check and its upload: never keep a number nobody verified
        store.delete(stored.cid, force=True)
        raise IntegrityError(
            f"batch result {path} changed while it was stored (its CID {stored.cid} is not the verified "
            f"{o.result_cid}); nothing was kept — run the request again"
        )
    return stored


def _panel_groups(psam_table: pl.DataFrame) -> tuple[list[str], dict[str, int]]:
    expected = sorted(psam_table.get_column("superpopulation").drop_nulls().unique().to_list())
    counts = dict(psam_table.group_by("superpopulation").len().drop_nulls().iter_rows())
    return expected, counts


def distributions_stored(
    store: Any, reference_panel: ReferencePanel, reference_scores: list[ReferenceScores]
) -> list[Distribution]:
    """Per-superpopulation (and ALL) distribution of each reference score, with its data checks.

    Stats n, mean, std (ddof=1), min, max, p1…p99 and every sample's score (float32) are stored; the
    checks (every superpopulation present, finite values, non-zero std, ordered quantiles, n within
    the panel, stats equal a re-aggregation of the stored scores) are recorded in the parquet and
    summarised as `checks_passed`. Failed reference scores are skipped (their reason is on them).
    """
    from prsgazer.engine.reference import read_panel_psam

    out: list[Distribution] = []
    todo: list[ReferenceScores] = []
    for r in (r for r in reference_scores if r.status == "ok"):
        hit = cached(store, _aggregate_key(reference_panel, r), Distribution)
        if hit:
            out.append(from_cache(hit[0]))
        else:
            todo.append(r)
    if not todo:
        return out
    with measure("aggregate_distributions") as m, scratch("aggregate_distributions") as d:
        table = read_panel_psam(Path(store.fetch(reference_panel.psam_cid).path))
        expected, counts = _panel_groups(table)
        for r in todo:
            scores = pl.read_parquet(store.fetch(r.cid).path)
            meta = distribution_meta(reference_panel.panel, reference_panel.cid, r.pgs_id, r.scoring_file_cid, r.cid,
                                     r.n_matched, r.n_variants)  # fmt: skip
            dist = build_distribution(scores, table, expected_superpopulations=expected, panel_counts=counts, meta=meta)
            path = write_distribution(dist, d / f"{r.pgs_id}-{r.cid[-12:]}.distribution.parquet")
            asset = store.upload(
                Distribution(
                    path=path,
                    filename=f"{r.pgs_id}.{reference_panel.panel or 'panel'}.distribution.parquet",
                    panel=reference_panel.panel,
                    panel_cid=reference_panel.cid,
                    pgs_id=r.pgs_id,
                    scoring_file_cid=r.scoring_file_cid,
                    genome_build=r.genome_build,
                    superpopulations=expected,
                    n_samples=r.n_samples,
                    n_variants_matched=r.n_matched,
                    checks_passed=dist.checks_passed,
                    task_key=_aggregate_key(reference_panel, r),
                    params=r.params,
                    code_version=code_version(),
                    metrics={**m.as_dict(), "failed_checks": [c.name for c in dist.checks if not c.passed]},
                    reference_scores_cid=r.cid,
                )
            )
            out.append(portable(asset))
    return out


def _aggregate_key(panel: ReferencePanel, r: ReferenceScores) -> str:
    return result_key("aggregate_distributions", inputs={"panel": panel.cid, "reference_scores": r.cid})


@dataclass
class FileDistribution:
    """One score's outcome of `distributions_for_files`: its distribution, or why it failed."""

    outcome: ScoreOutcome
    distribution: DistributionData | None = None
    path: Path | None = None


@dataclass
class DistributionsRun:
    panel: str
    n_samples: int
    batch: BatchResult
    scores: list[FileDistribution] = field(default_factory=list)


def distributions_for_files(
    prefix: Path,
    scorefiles: list[Path],
    params: ScoreParams,
    tuning: Tuning,
    *,
    panel_name: str | None = None,
    out_dir: Path | None = None,
    progress: ProgressFn | None = None,
    batch_size: int | None = None,
) -> DistributionsRun:
    """Distributions of every score of `scorefiles` over the panel at `prefix`, each written as a
    Distribution parquet under `out_dir` (default `<cache>/reference/distributions`), with the same
    metadata the stored path writes (so the bytes equal the stored Distribution's). Scored
    `batch_size` files per pass (default `BATCH_SIZE`): a killed run keeps the passes it finished."""
    panel = open_panel(prefix, cache_dir=tuning.cache_dir)
    try:
        name = panel_name or panel.name
        batch = _batch(panel, scorefiles, params, tuning, None, progress, batch_size)
        cids = panel.cids()  # hashed by the batch (beside the scoring files), remembered by the panel
        assert tuning.cache_dir is not None
        ddir = out_dir or tuning.cache_dir / "reference" / "distributions"
        run = DistributionsRun(panel=name, n_samples=panel.n_samples, batch=batch)
        expected, counts = _panel_groups(panel.sample_table)
        for o in batch.outcomes:
            if o.result_path is None:
                run.scores.append(FileDistribution(outcome=o))
                continue
            summ = o.summary
            result_cid = o.result_cid or cid_of_file(o.result_path)
            meta = distribution_meta(name, cids.pgen, o.accession, o.scorefile_cid, result_cid,
                                     summ.n_matched if summ else None, summ.n_variants if summ else None)  # fmt: skip
            dist = build_distribution(
                batch.scores(o.accession), panel.sample_table, expected_superpopulations=expected, panel_counts=counts,
                meta=meta,
            )  # fmt: skip
            path = write_distribution(dist, ddir / f"{o.key}.distribution.parquet")
            run.scores.append(FileDistribution(outcome=o, distribution=dist, path=path))
        return run
    finally:
        panel.close()
