"""Reference score distributions per superpopulation, their data checks, and the Distribution parquet.
See docs/reference.md ("Distributions").

`aggregate(sample_scores, sample_table)` gives one row per superpopulation (sorted) and `ALL`:
`superpopulation n mean std min p1 … p99 max`. Definitions:

- `std`: sample standard deviation (ddof = 1); 0 samples or 1 sample → NaN.
- `p1 … p99`: quantiles by linear interpolation between order statistics (Hyndman & Fan type 7,
  numpy's and R's default): for sorted x₁…xₙ, qₚ = x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋₊₁ − x_⌊h⌋), h = (n − 1)p + 1.

The Distribution parquet holds every reference sample's score as float32 (`sample_id
superpopulation population score`), and in its key-value metadata the stats table (JSON, computed
from the float64 scores), the checks (`check_distribution`) and provenance (panel and scoring-file
CIDs, match summary). Percentiles can so be computed exactly against the stored samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from prsgazer.fileio import output_path

ALL = "ALL"
QUANTILES = list(range(1, 100))
STAT_COLUMNS = ["superpopulation", "n", "mean", "std", "min", *[f"p{q}" for q in QUANTILES], "max"]
_META = "prsgazer.distribution"
DISTRIBUTION_VERSION = "1"


def _stats_row(label: str, x: np.ndarray) -> dict[str, float | int | str]:
    n = len(x)
    row: dict[str, float | int | str] = {"superpopulation": label, "n": n}
    if n == 0:
        row |= {"mean": np.nan, "std": np.nan, "min": np.nan, "max": np.nan} | {f"p{q}": np.nan for q in QUANTILES}
        return row
    q = np.quantile(x, np.asarray(QUANTILES) / 100.0, method="linear")
    row |= {
        "mean": float(np.mean(x)),
        "std": float(np.std(x, ddof=1)) if n > 1 else np.nan,
        "min": float(np.min(x)),
        "max": float(np.max(x)),
    }
    row |= {f"p{k}": float(v) for k, v in zip(QUANTILES, q, strict=True)}
    return row


def aggregate(sample_scores: pl.DataFrame, sample_table: pl.DataFrame, *, value: str = "sum") -> pl.DataFrame:
    """Stats per superpopulation and ALL of `value` (default the score SUM).

    Args:
        sample_scores: `sample_id` and `value` columns (a batch result or a Distribution's samples).
        sample_table: `sample_id`, `superpopulation` (engine.panel `Panel.sample_table`).
    """
    j = sample_scores.select("sample_id", pl.col(value).cast(pl.Float64).alias("_v")).join(
        sample_table.select("sample_id", "superpopulation"), on="sample_id", how="left"
    )
    x = j.get_column("_v").to_numpy()
    sp = j.get_column("superpopulation").to_numpy()
    ok = ~np.isnan(x)
    rows = [_stats_row(label, x[ok & (sp == label)]) for label in sorted({str(s) for s in sp[ok] if s is not None})]
    rows.append(_stats_row(ALL, x[ok]))
    return pl.DataFrame(rows, schema={c: (pl.String if c == "superpopulation" else pl.Int64 if c == "n" else
                                          pl.Float64) for c in STAT_COLUMNS})  # fmt: skip


class Check(BaseModel):
    """One data check of a distribution."""

    name: str
    passed: bool
    detail: str = ""


def check_distribution(
    stats: pl.DataFrame,
    samples: pl.DataFrame,
    *,
    expected_superpopulations: list[str],
    panel_counts: dict[str, int] | None = None,
    value: str = "score",
) -> list[Check]:
    """Checks run after aggregation (recorded with the result).

    - `superpopulations_present`: a row for every expected superpopulation and ALL.
    - `finite`: no NaN or infinite statistic; `nonzero_std`: std > 0 in every group.
    - `quantiles_ordered`: min ≤ p1 ≤ … ≤ p99 ≤ max and min ≤ mean ≤ max in every group.
    - `n_in_range`: 1 ≤ n ≤ the panel's count of that group (= it for ALL when counts are given).
    - `stats_reproducible`: the stats equal a re-aggregation of the stored sample scores (`samples`:
      sample_id, superpopulation, `value`), within float32 rounding of the stored values.
    """
    checks: list[Check] = []
    groups = stats.get_column("superpopulation").to_list()
    missing = [g for g in [*expected_superpopulations, ALL] if g not in groups]
    checks.append(Check(name="superpopulations_present", passed=not missing,
                        detail=f"missing: {missing}" if missing else f"{len(groups)} groups"))  # fmt: skip
    num = stats.select([c for c in STAT_COLUMNS if c not in ("superpopulation", "n")]).to_numpy()
    bad = ~np.isfinite(num)
    checks.append(
        Check(
            name="finite",
            passed=not bad.any(),
            detail=", ".join(f"{groups[r]}.{STAT_COLUMNS[2 + c]}" for r, c in np.argwhere(bad)[:5])
            if bad.any()
            else "",
        )
    )
    std = stats.get_column("std").to_numpy()
    zero = [g for g, s in zip(groups, std, strict=True) if not (s > 0)]
    checks.append(Check(name="nonzero_std", passed=not zero, detail=f"std ≤ 0 or NaN in {zero}" if zero else ""))
    ordered_cols = ["min", *[f"p{q}" for q in QUANTILES], "max"]
    qv = stats.select(ordered_cols).to_numpy()
    mean = stats.get_column("mean").to_numpy()
    with np.errstate(invalid="ignore"):
        disorder = [
            g
            for g, row, m in zip(groups, qv, mean, strict=True)
            if not (np.all(np.diff(row) >= 0) and row[0] <= m <= row[-1])
        ]
    checks.append(Check(name="quantiles_ordered", passed=not disorder,
                        detail=f"not ordered in {disorder}" if disorder else ""))  # fmt: skip
    ns = dict(zip(groups, stats.get_column("n").to_list(), strict=True))
    out_of_range = []
    for g, n in ns.items():
        cap = None
        if panel_counts is not None:
            cap = sum(panel_counts.values()) if g == ALL else panel_counts.get(g)
        if n < 1 or (cap is not None and n > cap):
            out_of_range.append(f"{g}: n={n} (panel {cap})")
    checks.append(Check(name="n_in_range", passed=not out_of_range, detail="; ".join(out_of_range)))
    again = aggregate(samples.rename({value: "_val"}), samples.select("sample_id", "superpopulation"), value="_val")
    checks.append(_compare(stats, again))
    return checks


def _compare(stats: pl.DataFrame, again: pl.DataFrame) -> Check:
    if stats.get_column("superpopulation").to_list() != again.get_column("superpopulation").to_list():
        return Check(name="stats_reproducible", passed=False, detail="groups differ from the stored samples")
    if stats.get_column("n").to_list() != again.get_column("n").to_list():
        return Check(name="stats_reproducible", passed=False, detail="n differs from the stored samples")
    cols = [c for c in STAT_COLUMNS if c not in ("superpopulation", "n")]
    a = stats.select(cols).to_numpy()
    b = again.select(cols).to_numpy()
    scale = np.nanmax(np.abs(b), axis=1, keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    # stored samples are float32: allow a few float32 ulps of the group's largest magnitude
    tol = 8 * np.finfo(np.float32).eps * scale
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
        ok = (diff <= tol) | (np.isnan(a) & np.isnan(b))
    if ok.all():
        return Check(name="stats_reproducible", passed=True, detail=f"max |Δ| {float(np.nanmax(diff)):.3g}")
    r, c = np.argwhere(~ok)[0]
    return Check(
        name="stats_reproducible",
        passed=False,
        detail=f"{stats['superpopulation'][int(r)]}.{cols[int(c)]}: stored {a[r, c]!r}, re-aggregated {b[r, c]!r}",
    )


class DistributionData(BaseModel):
    """A Distribution parquet read back: stats, per-sample scores, checks, provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stats: pl.DataFrame
    samples: pl.DataFrame = Field(description="sample_id, superpopulation, population, score (float32)")
    checks: list[Check]
    meta: dict

    @property
    def checks_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def scores(self, superpopulation: str | None = None) -> np.ndarray:
        """Reference scores (float64 view of the stored float32) of one group, or all."""
        s = self.samples
        if superpopulation not in (None, ALL):
            s = s.filter(pl.col("superpopulation") == superpopulation)
        return s.get_column("score").cast(pl.Float64).to_numpy()

    def row(self, superpopulation: str) -> dict | None:
        r = self.stats.filter(pl.col("superpopulation") == superpopulation)
        return r.row(0, named=True) if r.height else None


def build_distribution(
    scores: pl.DataFrame,
    sample_table: pl.DataFrame,
    *,
    value: str = "sum",
    expected_superpopulations: list[str] | None = None,
    panel_counts: dict[str, int] | None = None,
    meta: dict | None = None,
) -> DistributionData:
    """Aggregate a score's per-sample values (float64), store them as float32, run the checks."""
    stats = aggregate(scores, sample_table, value=value)
    samples = (
        scores.select("sample_id", pl.col(value).cast(pl.Float32).alias("score"))
        .join(sample_table.select("sample_id", "superpopulation", "population"), on="sample_id", how="left")
        .select("sample_id", "superpopulation", "population", "score")
    )
    expected = expected_superpopulations
    if expected is None:
        expected = sorted(sample_table.get_column("superpopulation").drop_nulls().unique().to_list())
    checks = check_distribution(stats, samples, expected_superpopulations=expected, panel_counts=panel_counts)
    return DistributionData(stats=stats, samples=samples, checks=checks, meta=dict(meta or {}))


def write_distribution(dist: DistributionData, path: str | Path) -> Path:
    """Write the Distribution parquet atomically (samples as rows; stats, checks, meta in metadata)."""
    path = Path(path)
    payload = {
        "version": DISTRIBUTION_VERSION,
        "stats": dist.stats.to_dicts(),
        "checks": [c.model_dump() for c in dist.checks],
        "meta": dist.meta,
    }
    with output_path(path) as tmp:
        dist.samples.write_parquet(tmp, compression="zstd", metadata={_META: json.dumps(payload, default=str)})
    return path


def read_distribution(path: str | Path) -> DistributionData:
    """Read a Distribution parquet written by `write_distribution`."""
    from prsgazer.errors import InputError

    path = Path(path)
    try:
        payload = json.loads(pl.read_parquet_metadata(path)[_META])
        samples = pl.read_parquet(path)
    except (OSError, KeyError, ValueError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"not a prsgazer distribution parquet ({exc})", file=path) from exc
    schema = {c: (pl.String if c == "superpopulation" else pl.Int64 if c == "n" else pl.Float64) for c in STAT_COLUMNS}
    stats = pl.DataFrame(payload["stats"], schema=schema)
    return DistributionData(
        stats=stats,
        samples=samples,
        checks=[Check.model_validate(c) for c in payload["checks"]],
        meta=payload.get("meta", {}),
    )
