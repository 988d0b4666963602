"""Scoring: allele-aware matching (`match`), weights and per-sample sums exact against plink2
(`score`, with the sparse additive path in `additive` and its compiled loops in `kernels`), one
scoring run end to end (`run`), and batch scoring of many files over a panel in one pass (`batch`).
See docs/engine.md ("Matching", "Scoring") and docs/reference.md ("Batch scoring").
"""

from prsgazer.engine.scoring.batch import BatchResult, MemoryBudget, ScoreOutcome, batch_score, parse_memory
from prsgazer.engine.scoring.match import (
    DEFAULT_MIN_OVERLAP,
    MatchOptions,
    MatchResult,
    ScoreMatchSummary,
    TargetIndex,
    match_variants,
    summarize,
)
from prsgazer.engine.scoring.run import OUT_COLUMNS, RunOptions, ScoreRun, run_scoring
from prsgazer.engine.scoring.score import ScoreOptions, ScoreTotals, WeightPlan, plan_weights, score_chunks, score_table

__all__ = [
    "DEFAULT_MIN_OVERLAP",
    "OUT_COLUMNS",
    "BatchResult",
    "MatchOptions",
    "MatchResult",
    "MemoryBudget",
    "RunOptions",
    "ScoreMatchSummary",
    "ScoreOptions",
    "ScoreOutcome",
    "ScoreRun",
    "ScoreTotals",
    "TargetIndex",
    "WeightPlan",
    "batch_score",
    "match_variants",
    "parse_memory",
    "plan_weights",
    "run_scoring",
    "score_chunks",
    "score_table",
    "summarize",
]
