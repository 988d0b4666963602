"""Task `score`: stored genotypes × stored scoring files → one PrsResult (+ MatchLog) per score.

See docs/workflows.md. All missing scores are computed in one engine pass; each result is cached
under its own key (genotypes CID, scoring-file CID, absent-site reference, options, engine version),
so adding a score to a finished run computes only the new one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl

from prsgazer.assets import Genotypes, MatchLog, PrsResult, ReferencePanel, ScoringFile
from prsgazer.fileio import output_path
from prsgazer.tasks.env import compute
from prsgazer.tasks.runtime import (
    input_errors_are_final,
    measure,
    portable,
    run_dir,
    split_cached,
    task_key,
)


def scoring_options(genotypes: Genotypes, coverage: str, min_overlap: float, keep_ambiguous: bool,
                    keep_multiallelic: bool) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The engine's RunOptions for these task arguments, and the parameters that key a cached result.
    Shared by `score` and `percentile`, so a percentile re-run scores exactly as `score` did."""
    from prsgazer.config import get_settings
    from prsgazer.engine.scoring.run import build_run_options

    coverage = coverage or genotypes.coverage
    options = build_run_options(
        get_settings(),
        build=genotypes.genome_build or None,
        coverage=coverage if coverage and coverage != "genotyped" else None,
        min_overlap=None if min_overlap < 0 else min_overlap,
        keep_ambiguous=keep_ambiguous,
        keep_multiallelic=keep_multiallelic,
    )
    params = {
        "match": options.match.model_dump(mode="json"),
        "score": options.score.model_dump(mode="json"),
        "coverage": coverage,
        "build": options.build,
    }
    return options, params


@compute.task(retries=1)
async def score(
    genotypes: Genotypes,
    scoring_files: list[ScoringFile],
    coverage: str = "",
    reference_panel: ReferencePanel | None = None,
    min_overlap: float = -1.0,
    keep_ambiguous: bool = False,
    keep_multiallelic: bool = False,
) -> list[PrsResult]:
    """Score genotypes against scoring files, exact against plink2 (SUM, AVG, DENOM per sample).

    Args:
        genotypes: the stored genotype table (from `normalize_genotypes`) or any stored genotypes.
        scoring_files: the scores to compute; each gives one PrsResult (a failed match is a result
            with status "failed" and its reason, not an error).
        coverage: what a single person's VCF covers (wgs, gvcf, wes, array, unknown); empty: the
            genotypes' own, else detected.
        reference_panel: when given, its variant table supplies REF at absent sites (hom-ref calls
            under wgs/gvcf coverage).
        min_overlap: minimum matched fraction per score; negative: the engine default setting.
        keep_ambiguous: keep strand-ambiguous (A/T, C/G) matches.
        keep_multiallelic: keep matches at multi-allelic sites.
    """
    with input_errors_are_final():
        from prsgazer.engine.scoring.run import run_scoring
        from prsgazer.errors import InputError
        from prsgazer.storage import default_store

        if not scoring_files:
            raise InputError("no scoring files to score", field="scoring_files")
        store = default_store()
        reference_cid = reference_panel.pvar_cid if reference_panel is not None else ""
        options, params = scoring_options(genotypes, coverage, min_overlap, keep_ambiguous, keep_multiallelic)

        def key_of(sf: ScoringFile) -> str:
            inputs = {"genotypes": genotypes.cid, "scoring_file": sf.cid, "reference": reference_cid}
            return task_key("score", inputs=inputs, params=params)

        unique = list({sf.cid: sf for sf in scoring_files}.values())
        results, todo = split_cached(store, unique, key_of, "prs_result")

        if todo:
            with measure("score") as m:
                g = store.fetch(genotypes.cid)
                paths = [store.fetch(sf.cid).path for sf in todo]
                if reference_panel is not None:
                    # the panel's variant table gives REF at absent sites (fetched as a whole pfile)
                    options.reference = store.fetch(reference_panel.cid).path
                run = await asyncio.to_thread(run_scoring, g.path, paths, options)
            out = run_dir("score")
            by_cid = {info.cid: info for info in run.scorefiles}
            log = run.match.log
            for sf in todo:
                info = by_cid[sf.cid]
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
                            path=log_path,
                            genotypes_cid=genotypes.cid,
                            scoring_file_cid=sf.cid,
                            pgs_id=acc,
                            n_rows=acc_log.height,
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
                            summary=summary.model_dump(mode="json"),
                            task_key=key_of(sf),
                            metrics=m.as_dict(),
                        )
                    )
                    stored.append(portable(result))  # type: ignore[arg-type]
                results[sf.cid] = stored
        return [r for sf in unique for r in results[sf.cid]]
