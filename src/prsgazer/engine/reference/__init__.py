"""Reference panels and what is computed on them: the panel (`panel`), per-superpopulation score
distributions and their checks (`distributions`), and percentiles that compare like with like
(`percentile`: the panel re-scored on the person's matched variants, else precomputed
distributions). See docs/reference.md.
"""

from prsgazer.engine.reference.distributions import (
    ALL,
    DistributionData,
    build_distribution,
    check_distribution,
    read_distribution,
    write_distribution,
)
from prsgazer.engine.reference.panel import Panel, PanelCids, open_panel, read_panel_psam, strip_ext
from prsgazer.engine.reference.percentile import (
    PERCENTILE_COLUMNS,
    Comparison,
    PercentileResult,
    PersonScores,
    compare_with_panel,
    distribution_percentiles,
    mid_rank_percentile,
    panel_percentiles,
)

__all__ = [
    "ALL",
    "PERCENTILE_COLUMNS",
    "Comparison",
    "DistributionData",
    "Panel",
    "PanelCids",
    "PercentileResult",
    "PersonScores",
    "build_distribution",
    "check_distribution",
    "compare_with_panel",
    "distribution_percentiles",
    "mid_rank_percentile",
    "open_panel",
    "panel_percentiles",
    "read_distribution",
    "read_panel_psam",
    "strip_ext",
    "write_distribution",
]
