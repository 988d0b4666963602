"""`explain_result`: a stored PrsResult or PrsReport read in plain language, with its caveats.

See docs/mcp.md ("explain_result"). The reading itself is `engine.quality.interpret` (coverage,
ancestry match, model quality, never a diagnosis); this module gathers its inputs from the store:
the result's numbers, the scoring file's trait, the person's ancestry group (given, or from the VCF
the genotypes came from), and the score's evaluation from the stored catalog metadata when present.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from prsgazer.assets import Asset, PrsReport, PrsResult, ScoringFile
from prsgazer.catalog.evaluations import StoredEvaluation, stored_efo_traits, stored_evaluations
from prsgazer.engine.interpret.quality import ANCESTRY_NAMES, ancestry_code, interpret
from prsgazer.engine.interpret.report import Report, ScoreReport
from prsgazer.engine.interpret.traits import TraitKind, trait_kind
from prsgazer.errors import InputError, PrsgazerError
from prsgazer.ops.report import person_superpopulation
from prsgazer.server.models import Explanation, ScoreExplanation

_NO_PANEL = (
    "it was computed without a reference panel; run the report workflow with a panel to place it "
    "against a reference group"
)


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _int(v: Any) -> int | None:
    x = _num(v)
    return None if x is None else int(x)


def _try_get(store: Any, cid: str) -> Asset | None:
    if not cid:
        return None
    try:
        return store.get(cid)
    except PrsgazerError:
        return None


def person_ancestry(store: Any, asset: Asset, given: str | None) -> str | None:
    """The person's ancestry group: as given (checked), on the asset, or on the VCF its genotypes came from."""
    if given and ancestry_code(given) is None:
        raise InputError(f"{given!r} is not an ancestry group", field="superpopulation", hint="e.g. EUR or AFR")
    return person_superpopulation(store, asset, given or "")[0] or None


def _trait_of(store: Any, scoring_file_cid: str) -> str | None:
    sf = _try_get(store, scoring_file_cid)
    if isinstance(sf, ScoringFile):
        return sf.trait or sf.pgs_name or None
    return None


def _kind_of(store: Any, scoring_file_cid: str, ev: StoredEvaluation, trait: str | None) -> TraitKind:
    """Disease or quantity, from the scoring file's EFO ids (else the catalog's) and the stored EFO sheet."""
    sf = _try_get(store, scoring_file_cid)
    ids = list(sf.trait_efo) if isinstance(sf, ScoringFile) and sf.trait_efo else list(ev.trait_efo)
    known = stored_efo_traits(store, ids)
    return trait_kind(ids, [lbl for lbl, _ in known.values()], descriptions=[d for _, d in known.values()],
                      reported=trait, case_control_evaluation=ev.quality is not None)  # fmt: skip


def _read_rows(path: Path) -> list[dict[str, Any]]:
    import polars as pl

    return pl.read_csv(path, separator="\t", null_values=["NA", ""], infer_schema_length=10000).to_dicts()


def _report_with(store: Any, r: PrsResult) -> PrsReport | None:
    """The newest stored report that includes result `r` (it holds the result's percentiles and reading)."""
    try:
        found = [a for a in store.query(asset="prs_report", prs_result_cids=r.cid) if isinstance(a, PrsReport)]
    except PrsgazerError:
        return None
    return found[-1] if found else None


def explain_prs_result(store: Any, r: PrsResult, *, superpopulation: str | None = None) -> Explanation:
    rep = _report_with(store, r) if r.status == "ok" else None
    if rep is not None:
        # the result was placed against a panel in a report: read that score from the report
        whole = explain_prs_report(store, rep, superpopulation=superpopulation)
        mine = [s for s in whole.scores if s.prs_result_cid == r.cid or s.pgs_id == r.pgs_id][:1]
        if mine:
            related = {**whole.related_cids, "report": rep.cid}
            return _explanation(r, whole.superpopulation, mine, whole.notes, related)
    ancestry = person_ancestry(store, r, superpopulation)
    ev = stored_evaluations(store, [r.pgs_id], ancestry).get(r.pgs_id, StoredEvaluation())
    quality, evaluated_in, catalog_trait = ev.quality, ev.evaluation_ancestry or None, ev.trait
    trait = _trait_of(store, r.scoring_file_cid) or catalog_trait
    kind = _kind_of(store, r.scoring_file_cid, ev, trait)
    rows = _read_rows(store.fetch(r.cid).path)
    notes = _run_notes(r)
    if quality is None:
        notes.append(
            "No catalog evaluation of this score is stored here: `search_scores` loads the PGS Catalog "
            "metadata once, after which model quality is part of the explanation."
        )
    related = {k: v for k, v in (("genotypes", r.genotypes_cid), ("scoring_file", r.scoring_file_cid),
                                 ("match_log", r.match_log_cid)) if v}  # fmt: skip
    if r.status and r.status != "ok":
        s = ScoreExplanation(
            pgs_id=r.pgs_id,
            trait=trait,
            status=r.status,
            coverage=r.overlap,
            n_matched=r.n_matched,
            n_variants=r.n_variants,
            headline=f"The {trait or 'polygenic'} score {r.pgs_id} was not computed: {r.reason or r.status}.",
            caveats=[
                "Too few of the score's variants were found in the data for a meaningful score; a different "
                "score for the same trait, or data covering more of the genome, may work."
            ],
            prs_result_cid=r.cid,
        )
        return _explanation(r, ancestry, [s], notes, related)
    if len(rows) == 1:
        row = rows[0]
        coverage = _num(row.get("overlap")) if row.get("overlap") is not None else r.overlap
        it = interpret(
            percentile=_num(row.get("percentile")),
            z=_num(row.get("z")),
            coverage=coverage,
            person_ancestry=ancestry,
            evaluation_ancestry=evaluated_in,
            quality=quality,
            trait=trait,
            pgs_id=r.pgs_id,
            no_percentile_reason=_NO_PANEL,
            kind=kind,
        )
        s = ScoreExplanation(
            pgs_id=r.pgs_id,
            trait=trait,
            status="ok",
            sum=_num(row.get("sum")),
            avg=_num(row.get("avg")),
            percentile=it.percentile,
            z=it.z,
            coverage=coverage,
            n_matched=_int(row.get("n_matched")) or r.n_matched,
            n_variants=_int(row.get("n_variants")) or r.n_variants,
            quality=quality.text if quality else None,
            trait_kind=it.trait_kind,
            reliability=it.reliability,
            headline=it.headline,
            details=[f"Raw score: SUM {_fmt(_num(row.get('sum')))}, AVG {_fmt(_num(row.get('avg')))}.", *it.details],
            caveats=it.caveats,
            prs_result_cid=r.cid,
        )
        return _explanation(r, ancestry, [s], notes, related)
    # a cohort: describe the spread, no per-person reading
    sums = [x for x in (_num(row.get("sum")) for row in rows) if x is not None]
    mean = sum(sums) / len(sums) if sums else None
    sd = math.sqrt(sum((x - mean) ** 2 for x in sums) / (len(sums) - 1)) if mean is not None and len(sums) > 1 else None
    cov = r.overlap
    headline = (
        f"{len(rows)} samples scored with {r.pgs_id}{f' ({trait})' if trait else ''}: SUM mean {_fmt(mean)}, "
        f"SD {_fmt(sd)}, range {_fmt(min(sums) if sums else None)} to {_fmt(max(sums) if sums else None)}."
    )
    caveats = ["Raw sums are comparable within this cohort and run only, not with other data sets or scores."]
    if cov is not None and cov < 0.9:
        caveats.append(f"Only {cov:.0%} of the score's variants were found in the data.")
    s = ScoreExplanation(
        pgs_id=r.pgs_id,
        trait=trait,
        coverage=cov,
        n_matched=r.n_matched,
        n_variants=r.n_variants,
        quality=quality.text if quality else None,
        headline=headline,
        caveats=caveats,
        prs_result_cid=r.cid,
    )
    return _explanation(r, ancestry, [s], notes, related)


def _fmt(x: float | None) -> str:
    return "N/A" if x is None else f"{x:.6g}"


ARRAY_NOTE = (
    "These genotypes come from a consumer genotyping array: it reads only a few hundred thousand chosen sites, "
    "so the score's other variants are missing (not assumed to be the common allele), {coverage} of the score's "
    "variants were found, and the percentile compares with reference people scored on exactly those same variants."
)


def array_note(coverage: float | None) -> str:
    shown = f"{coverage:.0%}" if coverage is not None else "only part"
    return ARRAY_NOTE.format(coverage=shown)


def _run_notes(r: PrsResult) -> list[str]:
    notes = [array_note(r.overlap)] if r.coverage == "array" else []
    if r.coverage or r.absent_means:
        notes.append(
            f"Sites the data does not list were treated as {r.absent_means or 'missing'}"
            f"{f' (coverage: {r.coverage})' if r.coverage else ''}."
        )
    if r.imputation:
        notes.append(f"Missing genotypes: {r.imputation}.")
    if r.genome_build:
        notes.append(f"Genome build {r.genome_build}.")
    return notes


def ancestry_note(superpopulation: str, probability: float | None, low_confidence: bool, warnings: list[str]) -> str:
    """What the inferred genetic ancestry is, how sure, and what that means for trusting the score."""
    name = ANCESTRY_NAMES.get(ancestry_code(superpopulation) or "", superpopulation)
    prob = f" (probability {probability:.2f})" if probability is not None else ""
    if low_confidence:
        text = (
            f"Genetic ancestry, inferred from the genotypes on the reference panel's principal components: closest "
            f"to {name}{prob}, but with low confidence — the person resembles none of the reference populations "
            "well, so a percentile against any one of them, and the score itself, should be read with extra caution."
        )
    else:
        text = (
            f"Genetic ancestry, inferred from the genotypes on the reference panel's principal components: most "
            f"similar to {name}{prob}. Percentiles are most meaningful against that group; scores are usually less "
            "accurate in groups unlike those the score was developed in."
        )
    return text + (" " + " ".join(warnings) if warnings else "")


def _explanation(
    a: Asset, ancestry: str | None, scores: list[ScoreExplanation], notes: list[str], related: dict[str, str]
) -> Explanation:
    code = ancestry_code(ancestry) if ancestry else None
    lines = []
    for s in scores:
        lines.append(s.headline)
        lines += s.details
        if s.caveats:
            lines.append("Limits: " + " ".join(s.caveats))
        lines.append("")
    if notes:
        lines.append("About the data: " + " ".join(notes))
    return Explanation(
        cid=a.cid,
        asset=a.asset_key,
        sample_id=getattr(a, "sample_id", "") or None,
        n_samples=getattr(a, "n_samples", None),
        superpopulation=ANCESTRY_NAMES.get(code, ancestry) if code else ancestry,
        scores=scores,
        notes=notes,
        related_cids=related,
        text="\n".join(lines).strip(),
    )


def explain_prs_report(store: Any, rep: PrsReport, *, superpopulation: str | None = None) -> Explanation:
    """A report: the reading it carries for each score (percentile per group, quality, caveats)."""
    try:
        doc = Report.model_validate_json(Path(store.fetch(rep.cid).path).read_text())
    except ValueError as exc:
        raise InputError(f"{rep.cid} is not a prsgazer report ({exc})", field="cid") from None
    group = doc.superpopulation or rep.superpopulation
    ancestry = superpopulation or group or None
    fresh = False
    wanted = (superpopulation or "").strip().upper()
    if wanted and wanted != group and wanted in doc.superpopulations:
        group, fresh = wanted, True  # read against another group the report has percentiles for
    notes = [n for n in doc.notes if n]
    if doc.coverage == "array":
        ok = [s.overlap for s in doc.scores if s.status == "ok" and s.overlap is not None]
        notes.append(array_note(min(ok) if ok else None))
    notes += [f"{f.pgs_id} was not computed ({f.step}): {f.error}" for f in doc.failures]
    if doc.ancestry is not None:
        notes.append(ancestry_note(doc.ancestry.superpopulation, doc.ancestry.probability,
                                   doc.ancestry.low_confidence, doc.ancestry.warnings))  # fmt: skip
    if doc.panel:
        source = {"vcf": " (from the VCF)", "ancestry": " (the person's inferred genetic ancestry)",
                  "given": " (as asked)"}.get(doc.superpopulation_source, "")  # fmt: skip
        notes.append(
            f"Reference panel {doc.panel}; percentiles compare with {group or 'all reference people (ALL)'}{source}."
        )
    adjusted = [(s.pgs_id, a) for s in doc.scores if (a := s.adjusted) is not None and a.z_pc_meanvar is not None]
    if adjusted:
        notes.append(
            "Ancestry-adjusted z-scores (the score's reference mean and spread modelled along the genetic "
            "principal components, as the PGS Catalog calculator does): "
            + "; ".join(f"{pgs_id} z_pc_mean {a.z_pc_mean:+.2f}, z_pc_meanvar {a.z_pc_meanvar:+.2f}"
                        for pgs_id, a in adjusted)
            + "."
        )
    scores = [_report_score(item, group or "ALL", ancestry, stored_reading=not fresh) for item in doc.scores]
    if not scores:
        for cid in rep.prs_result_cids:
            got = _try_get(store, cid)
            if isinstance(got, PrsResult):
                scores += explain_prs_result(store, got, superpopulation=ancestry).scores
    related = {"genotypes": rep.genotypes_cid} if rep.genotypes_cid else {}
    if rep.panel_cid:
        related["panel"] = rep.panel_cid
    return _explanation(rep, ancestry, scores, notes, related)


def _report_score(
    item: ScoreReport, group: str, ancestry: str | None, *, stored_reading: bool = True
) -> ScoreExplanation:
    """One score of a report, read against `group` (its stored reading when that is the report's own group)."""
    entries = {e.superpopulation: e for e in item.percentiles}
    mine = entries.get(group)
    interp = item.interpretation
    if interp is None or not stored_reading:  # another group, or no reading stored: read it here
        interp = interpret(
            percentile=mine.percentile if mine else None,
            z=mine.z if mine else None,
            coverage=item.overlap,
            person_ancestry=ancestry,
            evaluation_ancestry=item.evaluation_ancestry or None,
            quality=item.quality,
            trait=item.trait or None,
            pgs_id=item.pgs_id,
            no_percentile_reason=(mine.reason if mine else None) or (item.reason if item.status != "ok" else None),
            kind=None if item.trait_kind == "unknown" else item.trait_kind,  # a report older than trait_kind
        )
    return ScoreExplanation(
        pgs_id=item.pgs_id,
        trait=item.trait or None,
        status=item.status,
        sum=item.sum,
        avg=item.avg,
        percentile=mine.percentile if mine else interp.percentile,
        z=mine.z if mine else interp.z,
        reference_group=group,
        percentiles={k: e.percentile for k, e in entries.items()},
        coverage=item.overlap,
        n_matched=item.n_matched,
        n_variants=item.n_variants,
        quality=item.quality.text if item.quality else None,
        trait_kind=interp.trait_kind,
        reliability=interp.reliability,
        headline=interp.headline,
        details=list(interp.details),
        caveats=list(interp.caveats),
        prs_result_cid=item.prs_result_cid or None,
    )


def explain(store: Any, cid: str, *, superpopulation: str | None = None) -> Explanation:
    """Explain the PrsResult or PrsReport stored under `cid`."""
    a = store.get(cid)
    if isinstance(a, PrsReport):
        return explain_prs_report(store, a, superpopulation=superpopulation)
    if isinstance(a, PrsResult):
        return explain_prs_result(store, a, superpopulation=superpopulation)
    raise InputError(
        f"{cid} is a {a.asset_key}; explain_result reads a prs_result or prs_report",
        field="cid",
        hint="query_files({'asset': 'prs_result'}) lists stored results",
    )
