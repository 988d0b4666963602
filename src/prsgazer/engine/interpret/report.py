"""A person's PRS report: scores, percentiles per superpopulation, quality and plain-English reading.

Pure: `build_report` takes what the scoring and percentile steps produced (plain rows and models) and
returns a `Report`; `Report.text()` renders it for a terminal or an agent. The report never turns a
missing value into 0: an unavailable percentile is None with its reason. See docs/workflows.md.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from prsgazer.engine.interpret.quality import Interpretation, ModelQuality, interpret
from prsgazer.engine.interpret.traits import TraitKind, trait_kind
from prsgazer.engine.reference.distributions import ALL

#: Bump when the report's JSON layout changes (2: ancestry and adjusted scores; 3: trait_efo, trait_kind).
REPORT_VERSION = 3


class AncestryEntry(BaseModel):
    """Where the person stands among the reference populations (the panel's PCA)."""

    superpopulation: str
    probability: float | None = None
    low_confidence: bool = False
    n_shared_variants: int | None = None
    projection: str = ""
    warnings: list[str] = Field(default_factory=list)
    ancestry_cid: str = ""


class AdjustedEntry(BaseModel):
    """A score compared within the most similar population, and its PC-adjusted z-scores."""

    ancestry: str | None = None
    percentile: float | None = None
    z: float | None = None
    z_pc_mean: float | None = None
    z_pc_meanvar: float | None = None
    n_reference: int | None = None
    reason: str | None = None


class PercentileEntry(BaseModel):
    """The person's place in one reference group."""

    superpopulation: str
    percentile: float | None = None
    z: float | None = None
    method: str = "n/a"
    reason: str | None = None
    n_reference: int = 0
    n_variants: int | None = Field(default=None, description="Variants behind both sides of the comparison.")


class ScoreReport(BaseModel):
    """One score in the report."""

    pgs_id: str
    pgs_name: str = ""
    trait: str = ""
    trait_efo: list[str] = Field(default_factory=list, description="The trait's ontology ids (EFO, MONDO, …).")
    trait_kind: TraitKind = Field(default="unknown", description="disease | quantitative | unknown: the wording.")
    status: str
    reason: str = ""
    sum: float | None = None
    avg: float | None = None
    n_variants: int | None = None
    n_matched: int | None = None
    overlap: float | None = None
    absent_means: str = ""
    prs_result_cid: str = ""
    scoring_file_cid: str = ""
    percentiles: list[PercentileEntry] = Field(default_factory=list)
    quality: ModelQuality | None = None
    evaluation_ancestry: dict[str, float] = Field(default_factory=dict)
    adjusted: AdjustedEntry | None = None
    interpretation: Interpretation | None = None

    def percentile_in(self, superpopulation: str) -> PercentileEntry | None:
        return next((p for p in self.percentiles if p.superpopulation == superpopulation), None)


class ReportFailure(BaseModel):
    pgs_id: str
    step: str
    error: str


class Report(BaseModel):
    """The whole report (the PrsReport asset's JSON)."""

    version: int = REPORT_VERSION
    sample_id: str
    genotypes_cid: str = ""
    genome_build: str = ""
    coverage: str = ""
    superpopulation: str = Field(default="", description="Group the interpretation compares with ('' = ALL).")
    superpopulation_source: str = Field(default="", description="given | ancestry | asset | vcf | none")
    ancestry: AncestryEntry | None = None
    panel: str = ""
    panel_cid: str = ""
    superpopulations: list[str] = Field(default_factory=list, description="Groups with a percentile column.")
    scores: list[ScoreReport] = Field(default_factory=list)
    failures: list[ReportFailure] = Field(default_factory=list)
    n_total: int = 0
    n_ok: int = 0
    n_failed: int = 0
    notes: list[str] = Field(default_factory=list)

    def text(self, *, width: int = 100) -> str:
        """A fixed-width rendering: header, score table, percentiles per superpopulation, reading."""
        group = self.superpopulation or ALL
        lines = [
            f"PRS report for {self.sample_id or 'the sample'}"
            + (f" ({self.genome_build}" if self.genome_build else " (")
            + (f", {self.coverage} coverage)" if self.coverage else ")"),
            f"Reference: {self.panel or 'none'}; compared with {group}"
            + (f" ({self.superpopulation_source})" if self.superpopulation_source else ""),
            f"Scores: {self.n_ok} ok, {self.n_failed} failed of {self.n_total}",
        ]
        if self.ancestry is not None:
            a = self.ancestry
            conf = " — low confidence: resembles no reference population well" if a.low_confidence else ""
            prob = f" (probability {a.probability:.2f})" if a.probability is not None else ""
            lines.append(f"Genetic ancestry: most similar to {a.superpopulation}{prob}{conf}")
        lines.append("")
        head = ["pgs_id", "trait", "matched", "sum", f"pct({group})", "z", "method"]
        rows = []
        for s in self.scores:
            p = s.percentile_in(group)
            matched = f"{s.n_matched}/{s.n_variants}" if s.n_variants is not None else "-"
            if s.status != "ok":
                rows.append([s.pgs_id, _cut(s.trait, 34), matched, "failed", "N/A", "", _cut(s.reason, 30)])
                continue
            rows.append(
                [
                    s.pgs_id,
                    _cut(s.trait, 34),
                    matched,
                    _num(s.sum, 6),
                    _pct(p.percentile if p else None),
                    _num(p.z if p else None, 2, signed=True),
                    p.method if p else "n/a",
                ]
            )
        lines += _table(head, rows)
        if self.superpopulations and any(s.status == "ok" for s in self.scores):
            lines += ["", "Percentile per reference superpopulation (same matched variants):"]
            groups = list(self.superpopulations)
            prow = []
            for s in self.scores:
                if s.status != "ok":
                    continue
                cells = []
                for g in groups:
                    e = s.percentile_in(g)
                    cells.append(_pct(e.percentile if e else None))
                prow.append([s.pgs_id, *cells])
            lines += _table(["pgs_id", *groups], prow)
        adjusted = [s for s in self.scores if s.status == "ok" and s.adjusted is not None]
        if adjusted:
            lines += ["", "Adjusted for genetic ancestry (pgsc_calc's Z_norm1 = z_pc_mean, Z_norm2 = z_pc_meanvar):"]
            arow = []
            for s in adjusted:
                adj = s.adjusted
                assert adj is not None
                arow.append([s.pgs_id, adj.ancestry or "N/A", _pct(adj.percentile), _num(adj.z, 2, signed=True),
                             _num(adj.z_pc_mean, 2, signed=True), _num(adj.z_pc_meanvar, 2, signed=True)])  # fmt: skip
            lines += _table(["pgs_id", "ancestry", "pct", "z", "z_pc_mean", "z_pc_meanvar"], arow)
        reading = [s for s in self.scores if s.interpretation is not None]
        if reading:
            lines += ["", "What it means:"]
            for s in reading:
                it = s.interpretation
                assert it is not None
                # "unknown" would stand beside "no evaluation is available": the caveat says it already
                shown = f" [reliability: {it.reliability}]" if it.reliability != "unknown" else ""
                lines.append(f"- {it.headline}{shown}")
                for c in it.caveats:
                    lines.append(f"    · {c}")
        if self.failures:
            lines += ["", "Not computed:"]
            lines += [f"- {f.pgs_id} ({f.step}): {f.error}" for f in self.failures]
        if self.notes:
            lines += ["", *self.notes]
        lines += [
            "",
            "A polygenic score is a relative position among reference people, not a diagnosis or an absolute risk.",
        ]
        return "\n".join(_wrap(line, width) for line in lines)


def _cut(text: str, n: int) -> str:
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


def _num(x: float | None, digits: int, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "N/A"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}g}"


def _pct(x: float | None) -> str:
    return "N/A" if x is None or math.isnan(x) else f"{x:.1f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head).rstrip(), *(fmt.format(*map(str, r)).rstrip() for r in rows)]


def _wrap(line: str, width: int) -> str:
    if len(line) <= width or not line.lstrip().startswith(("-", "·")):
        return line
    import textwrap

    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.fill(line, width=width, subsequent_indent=indent)


def build_report(
    *,
    sample_id: str,
    results: list[dict[str, Any]],
    percentiles: list[dict[str, Any]],
    superpopulation: str = "",
    superpopulation_source: str = "",
    superpopulations: list[str] | None = None,
    quality: dict[str, tuple[ModelQuality | None, dict[str, float]]] | None = None,
    failures: list[dict[str, str]] | None = None,
    n_total: int | None = None,
    ancestry: dict[str, Any] | None = None,
    adjusted: list[dict[str, Any]] | None = None,
    efo_traits: dict[str, tuple[str, str]] | None = None,
    **fields: Any,
) -> Report:
    """Assemble the report of one person.

    Args:
        results: one dict per score: pgs_id, pgs_name, trait, trait_efo, status, reason, sum, avg,
            n_variants, n_matched, overlap, absent_means, prs_result_cid, scoring_file_cid.
        percentiles: rows of the percentile step for this sample: pgs_id, superpopulation, percentile,
            z, percentile_method, percentile_reason, n_reference, percentile_variants.
        superpopulation: the person's group ('' → compare with ALL and say the ancestry is unknown).
        superpopulations: the reference groups to show (default: those in `percentiles`).
        quality: per pgs_id, the catalog's best evaluation (ModelQuality or None) and its ancestry shares.
        failures: scores that never got a result: pgs_id, step, error.
        ancestry: the person's inferred ancestry (AncestryEntry fields), when the panel's PCA placed them.
        adjusted: rows of the adjust step for this sample: pgs_id, ancestry, percentile, z, z_pc_mean,
            z_pc_meanvar, n_reference, percentile_reason.
        efo_traits: ontology id → (label, description), from the catalog's `efo_traits` sheet: with the
            scores' `trait_efo` they decide the wording (disease or quantity, `engine.interpret.traits`).
        fields: Report fields (genotypes_cid, genome_build, coverage, panel, panel_cid, notes).
    """
    quality = quality or {}
    adj = _adjusted_entries(adjusted or [])
    by_score = _percentile_entries(percentiles)
    group = superpopulation or ALL
    efo_traits = efo_traits or {}
    scores = [_score_report(res, by_score, quality, adj, group, superpopulation, efo_traits) for res in results]
    fails = [ReportFailure(**f) for f in failures or []]
    groups = superpopulations
    if groups is None:
        groups = list(dict.fromkeys(e.superpopulation for es in by_score.values() for e in es))
    n_ok = sum(s.status == "ok" for s in scores)
    failed_ids = {s.pgs_id for s in scores if s.status != "ok"} | {f.pgs_id for f in fails}
    return Report(
        sample_id=sample_id,
        superpopulation=superpopulation,
        superpopulation_source=superpopulation_source,
        superpopulations=groups,
        scores=scores,
        failures=fails,
        n_total=n_total if n_total is not None else len(scores) + len({f.pgs_id for f in fails}),
        n_ok=n_ok,
        n_failed=len(failed_ids),
        ancestry=AncestryEntry(**ancestry) if ancestry else None,
        **fields,
    )


def _adjusted_entries(adjusted: list[dict[str, Any]]) -> dict[str, AdjustedEntry]:
    """The adjust step's rows by pgs_id."""
    return {
        str(r["pgs_id"]): AdjustedEntry(
            ancestry=r.get("ancestry"), percentile=_clean(r.get("percentile")), z=_clean(r.get("z")),
            z_pc_mean=_clean(r.get("z_pc_mean")), z_pc_meanvar=_clean(r.get("z_pc_meanvar")),
            n_reference=int(r["n_reference"]) if r.get("n_reference") is not None else None,
            reason=r.get("percentile_reason"),
        )
        for r in adjusted
    }  # fmt: skip


def _percentile_entries(percentiles: list[dict[str, Any]]) -> dict[str, list[PercentileEntry]]:
    """The percentile step's rows by pgs_id, in their order."""
    by_score: dict[str, list[PercentileEntry]] = {}
    for r in percentiles:
        by_score.setdefault(str(r["pgs_id"]), []).append(
            PercentileEntry(
                superpopulation=r["superpopulation"],
                percentile=_clean(r.get("percentile")),
                z=_clean(r.get("z")),
                method=r.get("percentile_method") or "n/a",
                reason=r.get("percentile_reason"),
                n_reference=int(r.get("n_reference") or 0),
                n_variants=r.get("percentile_variants"),
            )
        )
    return by_score


def _score_report(
    res: dict[str, Any],
    by_score: dict[str, list[PercentileEntry]],
    quality: dict[str, tuple[ModelQuality | None, dict[str, float]]],
    adj: dict[str, AdjustedEntry],
    group: str,
    superpopulation: str,
    efo_traits: dict[str, tuple[str, str]],
) -> ScoreReport:
    """One score's entry: its result, percentiles, quality and adjusted scores; read in plain English when ok."""
    pgs = str(res["pgs_id"])
    q, shares = quality.get(pgs, (None, {}))
    sr = ScoreReport(
        **{k: v for k, v in res.items() if k in ScoreReport.model_fields and v is not None},
        percentiles=by_score.get(pgs, []),
        quality=q,
        evaluation_ancestry=shares,
        adjusted=adj.get(pgs),
    )
    sr.sum, sr.avg = _clean(sr.sum), _clean(sr.avg)
    known = [efo_traits[i] for i in sr.trait_efo if i in efo_traits]
    sr.trait_kind = trait_kind(
        sr.trait_efo, [lbl for lbl, _ in known], descriptions=[d for _, d in known], reported=sr.trait or None,
        case_control_evaluation=q is not None,
    )  # fmt: skip
    if sr.status == "ok":
        p = sr.percentile_in(group)
        reason = p.reason if p is not None else f"no percentile for {group}"
        sr.interpretation = interpret(
            percentile=p.percentile if p else None,
            z=p.z if p else None,
            coverage=sr.overlap,
            person_ancestry=superpopulation or None,
            evaluation_ancestry=shares or None,
            quality=q,
            trait=sr.trait or None,
            pgs_id=pgs,
            no_percentile_reason=None if (p and p.percentile is not None) else reason,
            kind=sr.trait_kind,
        )
    return sr


def _clean(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x
