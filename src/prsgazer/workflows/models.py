"""Workflow outputs: plain dataclasses (Flyte serializes them), with run totals. See docs/workflows.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from prsgazer.assets import Distribution, PrsResult
from prsgazer.ops.report import Failure

__all__ = ["CohortScores", "Failure", "ReferenceDistributions"]


@dataclass
class CohortScores:
    """`cohort_scores` output: one PrsResult per score that was computed, failures, totals."""

    genotypes_cid: str = ""
    #: The genotype files scored (one, or the parts of a cohort whose scores were combined).
    genotypes_cids: list[str] = field(default_factory=list)
    results: list[PrsResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    n_total: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_cached: int = 0


@dataclass
class ReferenceDistributions:
    """`reference_distributions` output: one Distribution per score that passed, failures, totals."""

    panel_cid: str = ""
    panel: str = ""
    distributions: list[Distribution] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    n_total: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_cached: int = 0
    n_checks_failed: int = 0
