"""Tasks `reference_batch` and `aggregate_distributions`: a stored panel × stored scoring files →
per-sample reference scores → per-superpopulation Distribution assets. See docs/workflows.md.

`reference_batch` scores every file in one pass over the panel (engine.batch: each variant read once
for all scores, memory bounded by PRSGAZER_MEMORY_LIMIT). Each output is cached in the store under
its own key (panel CID, scoring-file CID, options, engine version); the engine's own per-score
results under the cache dir make an interrupted batch resume where it stopped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import polars as pl

from prsgazer.assets import Distribution, ReferencePanel, ReferenceScores, ScoringFile
from prsgazer.fileio import output_path
from prsgazer.tasks.env import compute, light
from prsgazer.tasks.runtime import (
    cached,
    from_cache,
    input_errors_are_final,
    measure,
    portable,
    run_dir,
    split_cached,
    task_key,
)


def _panel_prefix(store, panel: ReferencePanel) -> Path:  # type: ignore[no-untyped-def]
    """Materialize the panel (pgen + pvar + psam under one stem) and return its plink2 prefix."""
    from prsgazer.errors import InputError

    if not panel.pvar_cid or not panel.psam_cid:
        raise InputError(
            f"reference panel {panel.cid} has no .pvar/.psam companions",
            field="reference_panel",
            hint="store panels with `prsgazer reference synthesize` / `download` or storage.plink.put_pfile",
        )
    got = store.fetch(panel.cid)
    assert got.path is not None
    return Path(got.path).with_suffix("")


def _options(min_overlap: float, keep_ambiguous: bool, keep_multiallelic: bool):  # type: ignore[no-untyped-def]
    """Match and score options from the settings (engine.pipeline.build_run_options: validated)."""
    from prsgazer.config import get_settings
    from prsgazer.engine.scoring.run import build_run_options

    o = build_run_options(
        get_settings(), min_overlap=None if min_overlap < 0 else min_overlap,
        keep_ambiguous=keep_ambiguous, keep_multiallelic=keep_multiallelic,
    )  # fmt: skip
    return o.match, o.score


@compute.task(retries=1)
async def reference_batch(
    reference_panel: ReferencePanel,
    scoring_files: list[ScoringFile],
    min_overlap: float = -1.0,
    keep_ambiguous: bool = False,
    keep_multiallelic: bool = False,
) -> list[ReferenceScores]:
    """Score every panel sample with every scoring file, all in one pass over the panel.

    Args:
        reference_panel: a stored panel (.pgen with .pvar/.psam companions, SuperPop in the .psam).
        scoring_files: the scores; each gives one ReferenceScores per score it holds (a failed match
            is an output with status "failed" and its reason, not an error).
        min_overlap: minimum matched fraction per score; negative: the engine default setting.
        keep_ambiguous / keep_multiallelic: as in `score`.
    """
    with input_errors_are_final():
        from prsgazer.config import get_settings
        from prsgazer.engine.reference.panel import open_panel
        from prsgazer.engine.scoring.batch import RESULT_COLUMNS, batch_score
        from prsgazer.errors import InputError
        from prsgazer.storage import default_store

        if not scoring_files:
            raise InputError("no scoring files to score", field="scoring_files")
        store = default_store()
        settings = get_settings()
        mopt, sopt = _options(min_overlap, keep_ambiguous, keep_multiallelic)
        params = {"match": mopt.model_dump(mode="json"), "score": sopt.model_dump(mode="json")}

        def key_of(sf: ScoringFile) -> str:
            return task_key(
                "reference_batch", inputs={"panel": reference_panel.cid, "scoring_file": sf.cid}, params=params
            )

        unique = list({sf.cid: sf for sf in scoring_files}.values())
        results, todo = split_cached(store, unique, key_of, "reference_scores")
        if todo:
            with measure("reference_batch") as m:
                prefix = _panel_prefix(store, reference_panel)
                paths = [Path(store.fetch(sf.cid).path) for sf in todo]  # type: ignore[arg-type]
                cids = {"pgen": reference_panel.cid, "pvar": reference_panel.pvar_cid, "psam": reference_panel.psam_cid}

                def work():  # type: ignore[no-untyped-def]
                    panel = open_panel(prefix, cache_dir=settings.cache_dir)
                    try:
                        panel.require_superpopulations()
                        res = batch_score(
                            panel, paths, out_dir=settings.cache_dir / "reference" / "batch",
                            match_options=mopt, score_options=sopt, memory_limit=settings.memory_limit,
                            cache_dir=settings.cache_dir, dense_fraction=settings.reference_dense_fraction,
                            panel_cids=cids,
                        )  # fmt: skip
                        return res, panel.n_samples, panel.build.build
                    finally:
                        panel.close()

                batch, n_samples, build = await asyncio.to_thread(work)
            out = run_dir("reference_batch")
            per_file = len(todo)
            by_cid: dict[str, list] = {}
            for o in batch.outcomes:
                by_cid.setdefault(o.scorefile_cid, []).append(o)
            for sf in todo:
                stored = []
                for o in by_cid.get(sf.cid, []):
                    path = o.result_path
                    if path is None:  # failed: an empty table with the result layout keeps the reason
                        path = out / f"{o.accession}-{sf.cid[-12:]}.failed.parquet"
                        with output_path(path, durable=False) as tmp:
                            pl.DataFrame(
                                schema={c: pl.Float64 for c in RESULT_COLUMNS} | {"sample_id": pl.String}
                            ).select(RESULT_COLUMNS).write_parquet(tmp)
                    summ = o.summary
                    asset = store.upload(
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
                            task_key=key_of(sf),
                            metrics={**m.as_dict(), "batch_files": per_file, "batch_timings": batch.timings},
                        )
                    )
                    stored.append(portable(asset))
                results[sf.cid] = stored  # type: ignore[assignment]
        return [r for sf in unique for r in results[sf.cid]]


@light.task(retries=1)
async def aggregate_distributions(
    reference_panel: ReferencePanel, reference_scores: list[ReferenceScores]
) -> list[Distribution]:
    """Per-superpopulation (and ALL) distribution of each reference score, with its data checks.

    Stats n, mean, std (ddof=1), min, max, p1…p99 and every sample's score (float32) are stored; the
    checks (every superpopulation present, finite values, non-zero std, ordered quantiles, n within
    the panel, stats equal a re-aggregation of the stored scores) are recorded in the parquet and
    summarized as `checks_passed`. Failed reference scores are skipped (their reason is on them).
    """
    with input_errors_are_final():
        from prsgazer.engine.reference.distributions import build_distribution, write_distribution
        from prsgazer.engine.reference.panel import read_panel_psam
        from prsgazer.storage import default_store

        store = default_store()
        ok = [r for r in reference_scores if r.status == "ok"]
        out: list[Distribution] = []
        todo: list[ReferenceScores] = []
        for r in ok:
            hit = cached(store, _agg_key(reference_panel, r), "distribution")
            if hit:
                out.append(from_cache(hit[0]))  # type: ignore[arg-type]
            else:
                todo.append(r)
        if not todo:
            return out
        with measure("aggregate_distributions") as m:
            psam = store.fetch(reference_panel.psam_cid)
            table = read_panel_psam(Path(psam.path))  # type: ignore[arg-type]
            expected = sorted(table.get_column("superpopulation").drop_nulls().unique().to_list())
            counts = dict(table.group_by("superpopulation").len().drop_nulls().iter_rows())
            d = run_dir("aggregate_distributions")
            built = []
            for r in todo:
                scores = pl.read_parquet(store.fetch(r.cid).path)  # type: ignore[arg-type]
                meta = {"panel": reference_panel.panel, "panel_cid": reference_panel.cid, "pgs_id": r.pgs_id,
                        "scoring_file_cid": r.scoring_file_cid, "reference_scores_cid": r.cid,
                        "summary": {"n_matched": r.n_matched, "n_variants": r.n_variants}}  # fmt: skip
                dist = build_distribution(
                    scores, table, expected_superpopulations=expected, panel_counts=counts, meta=meta
                )
                path = write_distribution(dist, d / f"{r.pgs_id}-{r.cid[-12:]}.distribution.parquet")
                built.append((r, dist, path))
        for r, dist, path in built:
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
                    task_key=_agg_key(reference_panel, r),
                    metrics={**m.as_dict(), "failed_checks": [c.name for c in dist.checks if not c.passed]},
                    reference_scores_cid=r.cid,
                )
            )
            out.append(portable(asset))  # type: ignore[arg-type]
        return out


def _agg_key(panel: ReferencePanel, r: ReferenceScores) -> str:
    return task_key("aggregate_distributions", inputs={"panel": panel.cid, "reference_scores": r.cid})
