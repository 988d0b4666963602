"""Plots of the notebook app as self-contained SVG text (matplotlib, no network, no JavaScript), so the
same figure shows in the served app, in the script run and in the offline HTML report.
See docs/notebook.md.

- `distribution_svg`: one score's reference distribution per superpopulation (Gaussian kernel
  density, Scott's bandwidth, the compared group shaded) with the person's value marked;
- `cohort_svg`: a cohort's values over the reference (ALL), one tick per sample;
- `pca_svg`: the reference panel's samples on PC1/PC2 by superpopulation, the person marked.

Bytes are reproducible (no date, a fixed id salt): the same inputs give the same SVG, so
`cached_svg` keeps them under the cache dir (keyed by what they are drawn from and this module's
source) and a rerun served from the store draws nothing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prsgazer.engine.interpret.quality import ordinal
from prsgazer.errors import OutputError
from prsgazer.ops.views import AncestryView, ReferenceSamples
from prsgazer.sealed import read_verified_bytes, write_sealed_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: One colour per superpopulation (colour-blind safe, Okabe-Ito), grey for anything else.
COLOURS = {"AFR": "#E69F00", "AMR": "#009E73", "EAS": "#0072B2", "EUR": "#CC79A7", "SAS": "#D55E00"}
_OTHER = "#7f7f7f"
_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "prsgazer",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def cached_svg(cache_dir: Path | None, key: dict[str, Any], make: Callable[[], str | None]) -> str | None:
    """`make()`, kept as `<cache_dir>/figures/<hash>.svg` by `key` and this module's source (sealed
    with the CID of its bytes: a figure whose bytes changed is drawn again, never shown)."""
    if cache_dir is None:
        return make()
    blob = json.dumps(key, sort_keys=True, default=str).encode() + Path(__file__).read_bytes()
    path = Path(cache_dir) / "figures" / f"{hashlib.sha256(blob).hexdigest()[:32]}.svg"
    data = read_verified_bytes(path, what="figure cache entry")
    if data is not None:
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode() or None
    svg = make()
    with contextlib.suppress(OSError, OutputError):  # the cache is an optimisation
        write_sealed_bytes(path, (svg or "").encode())
    return svg


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # no RDF block: nothing to resolve
    return text[text.index("<svg") :]  # inline: no XML prolog or doctype


def _bins(arrays: list[np.ndarray], extra: list[float], n: int = 40) -> list[float]:
    values = np.concatenate([a[np.isfinite(a)] for a in arrays] + [np.asarray(extra, dtype=np.float64)])
    lo, hi = float(values.min()), float(values.max())
    if not math.isfinite(lo) or hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.02 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, n + 1).tolist()  # (a list: matplotlib's stub wants a Sequence)


def density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of `values` on `grid` (Scott's rule bandwidth; integrates to 1)."""
    x = values[np.isfinite(values)]
    sd = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    h = sd * len(x) ** (-1 / 5) if sd > 0 else 1e-3 * max(1.0, abs(float(x.mean())))
    u = (grid[:, None] - x[None, :]) / h
    return np.exp(-0.5 * u * u).sum(axis=1) / (len(x) * h * math.sqrt(2 * math.pi))


def distribution_svg(
    view: ReferenceSamples,
    pgs_id: str,
    sample_id: str,
    *,
    title: str = "",
    compared_with: str = "",
    percentile: float | None = None,
) -> str | None:
    """The reference distribution of `pgs_id` per superpopulation with `sample_id`'s value marked;
    None when there are no reference samples for the score."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    groups = sorted(view.samples.filter(view.samples["pgs_id"] == pgs_id)["superpopulation"].drop_nulls().unique())
    arrays = {g: view.scores(pgs_id, g) for g in groups}
    arrays = {g: a for g, a in arrays.items() if len(a) >= 2}
    if not arrays:
        return None
    value = view.value(sample_id, pgs_id)
    edges = _bins(list(arrays.values()), [value] if value is not None else [], n=1)
    span = edges[1] - edges[0]
    grid = np.linspace(edges[0] - 0.05 * span, edges[1] + 0.05 * span, 400)
    with rc_context(_RC):
        fig = Figure(figsize=(6.4, 2.9))
        ax = fig.add_subplot()
        for g, a in arrays.items():
            colour = COLOURS.get(g, _OTHER)
            y = density(a, grid)
            main = g == compared_with
            ax.plot(grid, y, color=colour, linewidth=2.2 if main else 1.3, label=f"{g} (n={len(a)})")
            if main:
                ax.fill_between(grid, y, color=colour, alpha=0.18, linewidth=0)
        if value is not None:
            where = f"{ordinal(round(percentile))} percentile in {compared_with}" if percentile is not None else "N/A"
            ax.axvline(value, color="black", linewidth=1.6, linestyle="--", label=f"{sample_id}: {value:.4g} ({where})")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("score (sum of weight × dosage)")
        ax.set_ylabel("density")
        ax.set_title(title or pgs_id, loc="left", fontsize=10)
        ax.legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def cohort_svg(view: ReferenceSamples, pgs_id: str, *, title: str = "") -> str | None:
    """The cohort's values of `pgs_id` (histogram and one tick per sample) over the reference (ALL)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    ref = view.scores(pgs_id)
    cohort = view.values.filter(view.values["pgs_id"] == pgs_id)["value"].drop_nulls().to_numpy()
    if len(ref) < 2 and len(cohort) == 0:
        return None
    bins = _bins([ref, cohort], [])
    with rc_context(_RC):
        fig = Figure(figsize=(6.4, 2.9))
        ax = fig.add_subplot()
        if len(ref) >= 2:
            ax.hist(ref, bins=bins, density=True, color="#bbbbbb", label=f"reference, all groups (n={len(ref)})")
        if len(cohort):
            ax.hist(cohort, bins=bins, density=True, histtype="step", linewidth=2.0, color="#0072B2",
                    label=f"cohort (n={len(cohort)})")  # fmt: skip
            ax.plot(cohort, np.zeros_like(cohort), "|", color="#0072B2", markersize=12, clip_on=False)
        ax.set_xlabel("score (sum of weight × dosage)")
        ax.set_ylabel("density")
        ax.set_title(title or pgs_id, loc="left", fontsize=10)
        ax.legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def pca_svg(view: AncestryView, *, title: str = "") -> str | None:
    """The reference samples on PC1/PC2, one colour per superpopulation, with the person as a black
    star; None when the PCA has fewer than two samples."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    ref = view.reference
    if ref.height < 2:
        return None
    with rc_context(_RC):
        fig = Figure(figsize=(5.2, 4.0))
        ax = fig.add_subplot()
        for g in sorted(ref["superpopulation"].drop_nulls().unique().to_list()):
            part = ref.filter(ref["superpopulation"] == g)
            ax.scatter(part["PC1"].to_numpy(), part["PC2"].to_numpy(), s=7, alpha=0.55, linewidths=0,
                       color=COLOURS.get(g, _OTHER), label=f"{g} (n={part.height})")  # fmt: skip
        if view.person is not None:
            prob = f", p={view.probability:.2f}" if view.probability is not None else ""
            ax.scatter([view.person[0]], [view.person[1]], s=150, marker="*", color="black", edgecolors="white",
                       linewidths=0.8, zorder=5, label=f"{view.sample_id}: {view.superpopulation}{prob}")  # fmt: skip
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_title(title or f"Genetic ancestry on the {view.panel or 'reference'} PCA", loc="left", fontsize=10)
        ax.legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)
