"""Scoring: allele-aware matching (`match`), weights and per-sample sums exact against plink2
(`score`, with the sparse additive path in `additive` and its compiled loops in `kernels`), one
scoring run end to end (`run`), and batch scoring of many files over a panel in one pass (`batch`).
See docs/engine.md ("Matching", "Scoring") and docs/reference.md ("Batch scoring").

`batch`'s names are loaded on first use (PEP 562): a person's run (`run_scoring`) does not load the
batch machinery and its dependencies.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from prsgazer.engine.scoring.batch import BatchResult, MemoryBudget, ScoreOutcome, batch_score, parse_memory

#: Names of `batch`, imported when first asked for.
_BATCH = ("BatchResult", "MemoryBudget", "ScoreOutcome", "batch_score", "parse_memory")

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


def __getattr__(name: str) -> Any:
    if name in _BATCH:
        from prsgazer.engine.scoring import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
