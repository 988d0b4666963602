"""HTML of the notebook app: the results table (`results_html`), what was detected in the genome
(`genome_html`), the person's inferred genetic ancestry with the PCA plot (`ancestry_html`), a
lineage as indented lines (`lineage_lines`), and the downloadable report
(`report_html`): one self-contained page (inline CSS and SVG, no script, no link) that shows the same
content offline. See docs/notebook.md.

Unavailable values are shown as "N/A" with the reason beside them (the `note` column), never as 0.
"""

from __future__ import annotations

import html
import math
from typing import Any

import polars as pl

from prsgazer.engine.interpret.report import Report
from prsgazer.ops.views import AncestryView, GenotypeSummary

#: Styles of the tables, plots and lineage (the app shows them with its results; the report inlines them).
TABLE_CSS = """
table.prs { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem 0; }
table.prs th, table.prs td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.5rem; text-align: left;
                             vertical-align: top; }
table.prs th { background: #f4f4f4; }
table.prs td.num { text-align: right; font-variant-numeric: tabular-nums; }
.na { color: #a33; }
.muted { color: #666; font-size: 0.85rem; }
code, .cid { font-family: ui-monospace, monospace; font-size: 0.8rem; word-break: break-all; }
figure.prs-plot { margin: 0.5rem 0 1.5rem 0; }
figure.prs-plot svg, figure.prs-pca svg { max-width: 100%; height: auto; }
figure.prs-pca { margin: 0.5rem 0 1.5rem 0; }
pre.lineage { background: #f7f7f7; padding: 0.6rem; font-size: 0.78rem; overflow-x: auto; }
"""
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #222; line-height: 1.45; padding: 0 1rem; }
""" + TABLE_CSS

def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return '<span class="na">N/A</span>'
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.4e}"
    return _e(x)


def _table(element_id: str, thead: str, rows: list[str]) -> str:
    body = "".join(rows)
    return f'<table class="prs" id="{_e(element_id)}"><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>'


def results_html(table: pl.DataFrame, *, element_id: str = "prs-results") -> str:
    """The results table: score, trait, coverage, sum, percentile in the compared group and in every
    reference group, z, reliability, reading and the reason for anything N/A."""
    groups = [c for c in table.columns if c.startswith("percentile_")]
    compared = table["compared_with"][0] if table.height else "ALL"
    adjusted = "adjusted_ancestry" in table.columns and table["adjusted_ancestry"].drop_nulls().len() > 0
    extra = ["pct in inferred ancestry", "z_pc_mean", "z_pc_meanvar"] if adjusted else []
    head = ["score", "trait", "coverage (matched/total)", "sum", f"percentile ({compared})", "z",
            *[f"pct {g.removeprefix('percentile_')}" for g in groups], *extra,
            "reliability", "reading", "note"]  # fmt: skip
    rows = []
    for r in table.iter_rows(named=True):
        if r["n_variants"] is not None:
            frac = f" ({r['coverage']:.0%})" if r["coverage"] is not None else ""
            cov = f"{r['n_matched']}/{r['n_variants']}{frac}"
        else:
            cov = '<span class="na">N/A</span>'
        pct = r["percentile"]
        cells = [
            f"<td><b>{_e(r['pgs_id'])}</b></td>",
            f"<td>{_e(r['trait'] or '')}</td>",
            f'<td class="num">{cov}</td>',
            f'<td class="num">{_fmt(r["sum"], 5)}</td>',
            f'<td class="num">{_fmt(round(pct, 1) if pct is not None else None, 4)}</td>',
            f'<td class="num">{_fmt(round(r["z"], 2) if r["z"] is not None else None, 3)}</td>',
            *(f'<td class="num">{_fmt(round(r[g], 1) if r[g] is not None else None, 4)}</td>' for g in groups),
            *(_adjusted_cells(r) if adjusted else []),
            f"<td>{_fmt(r['reliability']) if r['status'] == 'ok' else _fmt(None)}</td>",
            f"<td>{_e(r['reading'] or '')}</td>",
            f'<td class="muted">{_e(r["note"] or "")}</td>',
        ]
        rows.append(f'<tr data-pgs-id="{_e(r["pgs_id"])}" data-status="{_e(r["status"])}">' + "".join(cells) + "</tr>")
    thead = "".join(f"<th>{_e(h)}</th>" for h in head)
    return _table(element_id, thead, rows)


def _adjusted_cells(r: dict[str, Any]) -> list[str]:
    pct, group = r["adjusted_percentile"], r["adjusted_ancestry"]
    where = f' <span class="muted">{_e(group)}</span>' if group else ""
    return [
        f'<td class="num">{_fmt(round(pct, 1) if pct is not None else None, 4)}{where}</td>',
        *(f'<td class="num">{_fmt(round(r[c], 2) if r[c] is not None else None, 3)}</td>'
          for c in ("z_pc_mean", "z_pc_meanvar")),
    ]  # fmt: skip


def cohort_html(table: pl.DataFrame, *, element_id: str = "prs-cohort") -> str:
    """Per-sample rows of a cohort run (any columns; floats shown with 4 significant digits)."""
    thead = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    body = []
    for r in table.iter_rows():
        tds = "".join(f'<td class="num">{_fmt(v, 4)}</td>' if isinstance(v, float) or v is None else f"<td>{_e(v)}</td>"
                      for v in r)  # fmt: skip
        body.append(f"<tr>{tds}</tr>")
    return _table(element_id, thead, body)


def genome_html(g: GenotypeSummary) -> str:
    """What was detected: format, build (and why), samples, variant count, absent-site policy."""
    samples = ", ".join(g.samples[:8]) + (f", … ({g.n_samples} in all)" if g.n_samples > 8 else "")
    rows = [
        ("file", f"{_e(g.filename)} <span class='cid'>{_e(g.cid)}</span>"),
        ("format", _e(g.format)),
        ("build", f"{_e(g.genome_build or 'unknown')} <span class='muted'>({_e(g.build_evidence)})</span>"),
        ("samples", f"{g.n_samples}: {_e(samples)}"),
        ("variants", f"{g.n_variants:,}"),
        ("absent sites", f"coverage <b>{_e(g.coverage)}</b> ({_e(g.coverage_how)}): {_e(g.absent_text)}"),
    ]
    if g.superpopulation:
        rows.append(("ancestry group", f"{_e(g.superpopulation)} <span class='muted'>(recorded with the VCF)</span>"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="prs" id="prs-genome">{body}</table>'


def ancestry_html(view: AncestryView | None, plot: str | None, report: Report) -> str:
    """The inferred genetic ancestry (most similar reference population, probability, how the
    projection went, warnings) with the PC1/PC2 plot; without one, which group was compared and why."""
    compared = f"{_e(report.superpopulation or 'ALL')} ({_e(report.superpopulation_source or 'n/a')})"
    if view is None:
        why = "no reference panel was given" if not report.panel else "ancestry inference was not run"
        return (f"<div id='prs-ancestry'><p class='muted'>Genetic ancestry: not inferred ({why}); the scores are "
                f"compared with {compared}.</p></div>")  # fmt: skip
    prob = f", probability {view.probability:.2f}" if view.probability is not None else ""
    shared = f" on {view.n_shared_variants:,} shared PCA variants" if view.n_shared_variants else ""
    how = f" (projection {_e(view.projection)}{shared})" if view.projection else ""
    lines = [
        f"<p><b>Genetic ancestry:</b> most similar to <b>{_e(view.superpopulation)}</b>{prob}{how} among the "
        f"{_e(view.panel or 'reference')} panel's populations; the scores are compared with {compared}.</p>",
        "<p class='muted'>Genetic similarity to reference groups, estimated from principal components of the "
        "panel: it chooses the comparison group, it is not an identity.</p>",
    ]
    if view.low_confidence:
        lines.append("<p class='na'>Low confidence: the sample resembles no reference population well; "
                     "percentiles within one group may not apply.</p>")  # fmt: skip
    lines += [f"<p class='na'>{_e(w)}</p>" for w in view.warnings]
    if plot:
        lines.append(f'<figure class="prs-pca">{plot}</figure>')
    return f"<div id='prs-ancestry'>{''.join(lines)}</div>"


def lineage_lines(node: Any, depth: int = 0, via: str | None = None, seen: set[str] | None = None) -> list[str]:
    """A lineage tree (storage `LineageNode`) as indented lines: asset, file, CID and the field that
    links it; an asset met again is named once more without its own inputs ("as above")."""
    seen = set() if seen is None else seen
    label = f"{node.asset or '?'} {node.filename or ''}".strip()
    link = f"  [{via}]" if via else ""
    again = node.cid in seen and bool(node.parents)
    tail = "  (missing)" if node.missing else ("  (as above)" if again else "")
    lines = [f"{'  ' * depth}{'└ ' if depth else ''}{label}  {node.cid}{link}{tail}"]
    if again:
        return lines
    seen.add(node.cid)
    for p in node.parents:
        lines += lineage_lines(p, depth + 1, p.via, seen)
    return lines


def lineage_html(lines: list[str], *, element_id: str = "prs-lineage") -> str:
    return f"<pre class='lineage' id='{_e(element_id)}'>{_e(chr(10).join(lines))}</pre>"


def report_html(
    report: Report | None,
    table: pl.DataFrame,
    figures: dict[str, str],
    *,
    genome: GenotypeSummary | None = None,
    ancestry: str = "",
    root_cid: str = "",
    lineage: list[str] | None = None,
) -> str:
    """The whole result as one offline HTML page: a person's report, or (`report` None) a cohort's
    per-sample table (`ops.views.cohort_table`). `ancestry`: `ancestry_html` of the person."""
    if report is not None:
        title = f"Polygenic score report: {report.sample_id or 'the sample'}"
        intro = (
            f"Reference panel {_e(report.panel or 'none')}; compared with {_e(report.superpopulation or 'ALL')} "
            f"({_e(report.superpopulation_source or 'n/a')}); {report.n_ok} of {report.n_total} scores computed. "
            f"Build {_e(report.genome_build)}, coverage {_e(report.coverage)}."
        )
        body = results_html(table)
    else:
        n = table["sample_id"].n_unique() if table.height else 0
        title = f"Polygenic scores of a cohort ({n} samples)"
        intro = "One row per sample and score: the sum, and the percentile and z in every reference group."
        body = cohort_html(table)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>{intro}</p>",
    ]
    if genome is not None:
        parts += ["<h2>Genome</h2>", genome_html(genome)]
    if ancestry:
        parts += ["<h2>Genetic ancestry</h2>", ancestry]
    parts += ["<h2>Results</h2>", body]
    if figures:
        parts.append("<h2>Where the scores fall among reference people</h2>")
        for pgs, svg in figures.items():
            parts.append(f'<figure class="prs-plot" data-pgs-id="{_e(pgs)}">{svg}</figure>')
    scores = report.scores if report is not None else []
    caveats = [(s.pgs_id, c) for s in scores if s.interpretation is not None for c in s.interpretation.caveats]
    if caveats:
        parts.append("<h2>Caveats</h2><ul>")
        parts += [f"<li><b>{_e(p)}</b>: {_e(c)}</li>" for p, c in caveats]
        parts.append("</ul>")
    parts.append("<h2>Provenance</h2>")
    if root_cid:
        parts.append(f"<p>Result CID <span class='cid'>{_e(root_cid)}</span>; what it was made from:</p>")
    if lineage:
        parts.append(lineage_html(lineage))
    parts += [
        "<p class='muted'>A polygenic score is a relative position among reference people, not a diagnosis "
        "or an absolute risk. Made with prsgazer.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
