"""Workflow outputs: plain dataclasses (Flyte serializes them), with run totals. See docs/workflows.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from prsgazer.assets import PrsResult


@dataclass
class Failure:
    """One score that did not make it, with the step where it failed and why."""

    pgs_id: str
    step: str
    error: str


@dataclass
class CohortScores:
    """`cohort_scores` output: one PrsResult per score that was computed, failures, totals."""

    genotypes_cid: str = ""
    results: list[PrsResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    n_total: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_cached: int = 0
