"""One score's catalog record summarised: files, traits, publication, evaluations with quality labels.

See docs/catalog.md ("Score info"). Used by `prsgazer catalog info` and, later, the MCP surface.
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl
from pydantic import BaseModel

from prsgazer.catalog.clean import MATCHED_SHARE, sample_set_summary
from prsgazer.catalog.client import CatalogClient, normalize_pgs_id
from prsgazer.catalog.metadata import CatalogTables
from prsgazer.catalog.models import Metric, Performance, Score
from prsgazer.engine.interpret.quality import EffectSize, ModelQuality, ancestry_code, ancestry_shares, model_quality
from prsgazer.errors import UnreachableError
from prsgazer.logs import logger


class EvaluationSummary(BaseModel):
    """One evaluation (PPM) of a score: where, in whom, how well."""

    ppm_id: str
    pss_id: str | None = None
    n_individuals: int = 0
    ancestry: dict[str, float] = {}
    ancestry_matched: bool = False
    quality: ModelQuality | None = None
    effects: list[EffectSize] = []
    covariates: str | None = None


class ScoreInfo(BaseModel):
    """A score as `prsgazer catalog info` shows it."""

    pgs_id: str
    name: str | None = None
    trait_reported: str | None = None
    trait_efo: list[dict[str, str]] = []
    variants_number: int | None = None
    genome_build: str | None = None
    weight_type: str | None = None
    method_name: str | None = None
    publication: str | None = None
    pgp_id: str | None = None
    license: str | None = None
    date_release: str | None = None
    files: dict[str, str] = {}
    ancestry_distribution: dict[str, dict[str, float]] = {}
    evaluations: list[EvaluationSummary] = []
    best: EvaluationSummary | None = None
    #: Where this came from: the live REST API, or the stored catalog metadata (offline).
    source: str = "PGS Catalog REST API"


def _effect(m: Metric) -> EffectSize | None:
    kind = (m.name_short or m.name_long or "").strip()
    if m.estimate is None or kind.lower() not in {"or", "hr", "β", "beta", "odds ratio", "hazard ratio"}:
        return None
    if kind.upper() in ("OR", "HR") and m.estimate <= 0:
        return None
    return EffectSize.of(kind, m.estimate, ci_lower=m.ci_lower, ci_upper=m.ci_upper, se=m.se)


def summarize_evaluation(p: Performance, *, ancestry: str = "European") -> EvaluationSummary:
    """Quality (AUROC, else C-index), effect sizes and sample of one performance record."""
    pm = p.performance_metrics
    auroc, cidx = pm.find("AUROC"), pm.find("C-index")
    chosen = auroc if auroc is not None and auroc.estimate is not None else cidx
    quality = None
    if chosen is not None and chosen.estimate is not None and 0 <= chosen.estimate <= 1:
        quality = model_quality(
            auroc=chosen.estimate if chosen is auroc else None,
            c_index=chosen.estimate if chosen is not auroc else None,
            ci_lower=chosen.ci_lower,
            ci_upper=chosen.ci_upper,
            covariates=p.covariates,
        )
    effects = [e for e in (_effect(m) for m in pm.effect_sizes) if e is not None]
    shares = p.sampleset.ancestry_fractions() if p.sampleset else {}
    target = ancestry_code(ancestry)
    matched = sum(v for k, v in shares.items() if ancestry_code(k) == target) >= MATCHED_SHARE
    return EvaluationSummary(
        ppm_id=p.id,
        pss_id=p.sampleset.id if p.sampleset else None,
        n_individuals=p.sampleset.n_individuals if p.sampleset else 0,
        ancestry={k: round(v, 4) for k, v in shares.items()},
        ancestry_matched=matched,
        quality=quality,
        effects=effects,
        covariates=p.covariates,
    )


def best_evaluation(evaluations: list[EvaluationSummary]) -> EvaluationSummary | None:
    """Same order as clean.best_performance: ancestry-matched, has AUROC/C-index, larger, lower id."""
    if not evaluations:
        return None
    return min(
        evaluations,
        key=lambda e: (not e.ancestry_matched, e.quality is None, -e.n_individuals, e.ppm_id),
    )


def summarize_score(score: Score, performances: list[Performance], *, ancestry: str = "European") -> ScoreInfo:
    evals = [summarize_evaluation(p, ancestry=ancestry) for p in performances]
    pub = score.publication
    citation = None
    if pub is not None:
        year = (pub.date_publication or "")[:4]
        citation = " ".join(
            x
            for x in (
                f"{pub.firstauthor} et al." if pub.firstauthor else None,
                pub.journal,
                f"({year})" if year else None,
                f"doi:{pub.doi}" if pub.doi else None,
            )
            if x
        )
    files = {"author_reported": score.ftp_scoring_file} if score.ftp_scoring_file else {}
    for build in ("GRCh37", "GRCh38"):
        url = score.harmonized_url(build)
        if url:
            files[build] = url
    dist = {
        stage: {str(k): float(v) for k, v in (entry.get("dist") or {}).items()}
        for stage, entry in score.ancestry_distribution.items()
        if isinstance(entry, dict)
    }
    return ScoreInfo(
        pgs_id=score.id,
        name=score.name,
        trait_reported=score.trait_reported,
        trait_efo=[{"id": t.id, "label": t.label} for t in score.trait_efo],
        variants_number=score.variants_number,
        genome_build=score.variants_genomebuild,
        weight_type=score.weight_type,
        method_name=score.method_name,
        publication=citation,
        pgp_id=pub.id if pub else None,
        license=score.license,
        date_release=score.date_release,
        files=files,
        ancestry_distribution=dist,
        evaluations=evals,
        best=best_evaluation(evals),
    )


async def score_info(
    pgs_id: str, *, client: CatalogClient | None = None, ancestry: str = "European", store: Any = None
) -> ScoreInfo:
    """Fetch a score and its evaluations from the REST API and summarise them.

    When the catalog cannot be reached at all (`UnreachableError`: no retries, a few seconds at most),
    the stored catalog metadata answers instead, and `source` says so; with nothing stored the
    error says what still works offline.
    """
    pid = normalize_pgs_id(pgs_id)
    owned = client is None
    client = client or CatalogClient()
    await client.open()
    try:
        score = await client.score(pid)
        perf = await client.performance(pid)
    except UnreachableError as exc:
        offline = await asyncio.to_thread(_stored_info, store, pid, ancestry)
        if offline is None:
            raise
        logger.warning("{}; answering from the stored metadata", exc.reason)
        return offline
    finally:
        if owned:
            await client.close()
    return summarize_score(score, perf, ancestry=ancestry)


def _stored_info(store: Any, pid: str, ancestry: str) -> ScoreInfo | None:
    from prsgazer.catalog.evaluations import stored_tables
    from prsgazer.storage import default_store

    tables = stored_tables(store or default_store())
    return None if tables is None else score_info_stored(tables, pid, ancestry=ancestry)


def score_info_stored(tables: CatalogTables, pgs_id: str, *, ancestry: str = "European") -> ScoreInfo | None:
    """A score's record from the stored (cleaned) metadata sheets: offline, as of that release."""
    rows = tables.scores.filter(pl.col("pgs_id") == pgs_id)
    if rows.height == 0:
        return None
    r = rows.row(0, named=True)
    evals: list[EvaluationSummary] = []
    if tables.performance_metrics is not None and tables.evaluation_sample_sets is not None:
        sets = sample_set_summary(tables.evaluation_sample_sets, ancestry=ancestry)
        perf = tables.performance_metrics.filter(pl.col("pgs_id") == pgs_id).join(sets, on="pss_id", how="left")
        for p in perf.iter_rows(named=True):
            metric = "auroc" if p.get("auroc_estimate") is not None else "c_index"
            quality = None
            if p.get(f"{metric}_estimate") is not None and 0 <= p[f"{metric}_estimate"] <= 1:
                quality = model_quality(
                    auroc=p.get("auroc_estimate"), c_index=p.get("c_index_estimate"),
                    ci_lower=p.get(f"{metric}_ci_lower"), ci_upper=p.get(f"{metric}_ci_upper"),
                    covariates=p.get("covariates"),
                )  # fmt: skip
            evals.append(
                EvaluationSummary(
                    ppm_id=p["ppm_id"],
                    pss_id=p.get("pss_id"),
                    n_individuals=int(p.get("n_individuals") or 0),
                    ancestry=ancestry_shares(p.get("ancestries") or None),
                    ancestry_matched=(p.get("ancestry_share") or 0.0) >= MATCHED_SHARE,
                    quality=quality,
                    covariates=p.get("covariates"),
                )
            )
    ids, labels = r.get("trait_efo_ids") or [], r.get("trait_efo_labels") or []
    return ScoreInfo(
        pgs_id=pgs_id,
        name=r.get("pgs_name"),
        trait_reported=r.get("trait_reported"),
        trait_efo=[{"id": i, "label": lbl} for i, lbl in zip(ids, labels, strict=False)],
        variants_number=r.get("n_variants"),
        genome_build=r.get("genome_build"),
        weight_type=r.get("weight_type"),
        method_name=r.get("method_name"),
        pgp_id=r.get("pgp_id"),
        license=r.get("license"),
        date_release=str(r["release_date"]) if r.get("release_date") is not None else None,
        files={"scoring file": r["ftp_link"]} if r.get("ftp_link") else {},
        evaluations=evals,
        best=best_evaluation(evals),
        source=f"stored catalog metadata, release {tables.release} (the PGS Catalog could not be reached)",
    )
