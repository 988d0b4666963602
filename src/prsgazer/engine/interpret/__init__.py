"""Interpretation: how far a score can be trusted (`quality`: model quality from catalog
evaluations, ancestry match, coverage) and the person's report (`report`: scores, percentiles and a
plain-English reading). See docs/engine.md ("Interpretation").
"""

from prsgazer.engine.interpret.quality import (
    ANCESTRY_NAMES,
    EffectSize,
    Interpretation,
    ModelQuality,
    QualityLabel,
    ancestry_code,
    ancestry_shares,
    interpret,
    model_quality,
    quality_label,
)
from prsgazer.engine.interpret.report import Report, ScoreReport, build_report

__all__ = [
    "ANCESTRY_NAMES",
    "EffectSize",
    "Interpretation",
    "ModelQuality",
    "QualityLabel",
    "Report",
    "ScoreReport",
    "ancestry_code",
    "ancestry_shares",
    "build_report",
    "interpret",
    "model_quality",
    "quality_label",
]
