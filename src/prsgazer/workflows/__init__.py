"""Flyte v2 workflows: scalar or asset parameters, call tasks, fan out with asyncio.gather.

They are what `flyte run`, `prsgazer run`, the MCP server and the notebook launch. See docs/workflows.md.
"""

from prsgazer.workflows.cohort import cohort_scores
from prsgazer.workflows.reference import reference_distributions
from prsgazer.workflows.report import prs_report

__all__ = ["cohort_scores", "prs_report", "reference_distributions"]
