"""Flyte v2 tasks: one module per step; each fetches its inputs from the store, calls the engine,
stores its outputs with their lineage and returns them. See docs/workflows.md."""

from prsgazer.tasks.ancestry import adjust, project, reference_pca
from prsgazer.tasks.fetch import fetch_scoring_file, fetch_scoring_files
from prsgazer.tasks.normalize import normalize_genotypes
from prsgazer.tasks.reference import aggregate_distributions, reference_batch
from prsgazer.tasks.report import percentile, report
from prsgazer.tasks.score import combine_scores, score

__all__ = [
    "adjust",
    "aggregate_distributions",
    "combine_scores",
    "fetch_scoring_file",
    "fetch_scoring_files",
    "normalize_genotypes",
    "percentile",
    "project",
    "reference_batch",
    "reference_pca",
    "report",
    "score",
]
