"""Disease or quantity: the kind of a score's trait and the words the reading uses for each
(engine/interpret/traits.py, quality.interpret, report.build_report and Report.text)."""

from __future__ import annotations

import pytest

from prsgazer.engine.interpret.quality import interpret, model_quality
from prsgazer.engine.interpret.report import build_report
from prsgazer.engine.interpret.traits import kind_of_id, kind_of_text, trait_kind


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("body height", "quantitative"),
        ("low density lipoprotein cholesterol measurement", "quantitative"),
        ("body mass index", "quantitative"),
        ("systolic blood pressure", "quantitative"),
        ("age at menarche", "quantitative"),
        ("age at onset of type 2 diabetes", "quantitative"),  # an age, though it names a disease
        ("HbA1c measurement", "quantitative"),
        ("breast carcinoma", "disease"),
        ("coronary artery disease", "disease"),
        ("type II diabetes mellitus", "disease"),
        ("rheumatoid arthritis", "disease"),
        ("colorectal cancer", "disease"),
        ("estrogen-receptor positive breast cancer", "disease"),
        ("atrial fibrillation", "disease"),
        ("familial hypercholesterolemia", "disease"),
        ("Alzheimer disease", "disease"),
        ("", "unknown"),
        ("chronotype", "unknown"),
    ],
)
def test_kind_of_a_label(label: str, kind: str) -> None:
    assert kind_of_text(label) == kind


def test_kind_of_an_id() -> None:
    assert kind_of_id("EFO_0004339") == "quantitative"  # body height
    assert kind_of_id("EFO:0004611") == "quantitative"  # LDL cholesterol measurement, colon form
    assert kind_of_id("MONDO_0005148") == "disease"  # any MONDO term is a disease
    assert kind_of_id("Orphanet_1234") == "disease"
    assert kind_of_id("EFO_9999999") == "unknown"  # an EFO term the table does not know: the label decides


def test_evidence_in_order() -> None:
    # the id decides before the label or the reported trait
    assert trait_kind(["EFO_0004339"], ["something else"], reported="Standing height") == "quantitative"
    # an unknown EFO id: its label from the efo_traits sheet
    assert trait_kind(["EFO_9999999"], ["triglyceride measurement"]) == "quantitative"
    assert trait_kind(["EFO_9999999"], ["glaucoma"]) == "disease"
    # several mapped traits: a disease wins (a score for a disease and its marker speaks of risk)
    assert trait_kind(["EFO_9999998", "EFO_9999999"], ["LDL cholesterol", "familial hypercholesterolemia"]) == "disease"
    # no id, no label: the reported trait; then descriptions; then a case/control evaluation
    assert trait_kind([], [], reported="Standing height (synthetic)") == "quantitative"
    assert trait_kind([], [], reported="PRS77", descriptions=["A carcinoma of the breast."]) == "disease"
    assert trait_kind([], [], reported="GBE_INI50") == "unknown"
    assert trait_kind([], [], reported="GBE_INI50", case_control_evaluation=True) == "disease"


GOOD = model_quality(auroc=0.72)


def test_quantitative_wording() -> None:
    r = interpret(percentile=15.2, z=-0.94, coverage=0.83, trait="Standing height (synthetic)", pgs_id="DEMO001",
                  kind="quantitative")  # fmt: skip
    assert r.trait_kind == "quantitative"
    assert r.headline == (
        "Your Standing height (synthetic) score (DEMO001) is at the 15th percentile, z = -0.94: "
        "lower than most people in the reference group."
    )
    assert r.details[0] == (
        "Your genetic variants point to somewhat lower standing height (synthetic) than most people in the "
        "reference group."
    )
    assert "links to a higher standing height (synthetic)" in r.details[1]
    assert "not a measurement of your standing height" in r.details[1]
    text = " ".join([r.headline, *r.details, *r.caveats])
    assert "develop" not in text and "diagnosis" not in text and "chance of" not in text
    assert r.caveats[-1].startswith("This is not a measurement: your standing height (synthetic) also depends on")
    assert r.caveats[-1].endswith("cannot tell what your standing height (synthetic) is or will be; a measurement can.")
    # acronyms stay as written; "typical" and "higher" read as such
    ldl = interpret(percentile=50, trait="LDL cholesterol", kind="quantitative")
    assert ldl.details[0] == (
        "Your genetic variants point to LDL cholesterol in the typical range of the reference group."
    )
    high = interpret(percentile=97, trait="Body mass index", kind="quantitative", quality=GOOD)
    assert high.details[0].startswith("Your genetic variants point to higher body mass index than most")
    assert any("separated people with high and low body mass index well" in d for d in high.details)


def test_disease_wording() -> None:
    r = interpret(percentile=92, coverage=0.95, trait="Type 2 diabetes (synthetic)", pgs_id="DEMO002", kind="disease")
    assert r.trait_kind == "disease"
    assert r.details[0] == (
        "A higher score means more of the genetic variants this score counts as raising the chance of "
        "type 2 diabetes (synthetic); it is a relative position, not an absolute risk."
    )
    assert r.caveats[-1] == (
        "This is not a diagnosis: a polygenic score is one factor among many (age, family history, lifestyle, "
        "rare variants) and cannot tell whether you will or will not develop type 2 diabetes (synthetic)."
    )
    assert "measurement" not in " ".join(r.caveats)


def test_unknown_kind_uses_words_that_fit_both() -> None:
    r = interpret(percentile=50, trait="GBE_INI50")
    assert r.trait_kind == "unknown"
    assert "develop" not in r.caveats[-1] and r.caveats[-1].startswith("This is not a diagnosis or a measurement")
    # without a kind, the trait's words decide (the catalog's words when a report is built)
    assert interpret(percentile=50, trait="Standing height").trait_kind == "quantitative"
    assert interpret(percentile=50, trait="Breast cancer").trait_kind == "disease"
    assert interpret(percentile=50, quality=GOOD).trait_kind == "disease"  # evaluated on cases and controls


def test_reliability_is_unknown_without_an_evaluation() -> None:
    none = interpret(percentile=50, coverage=0.95, person_ancestry="EUR", evaluation_ancestry="European")
    assert none.reliability == "unknown"
    assert "No evaluation of this score's accuracy is available." in none.caveats
    # a known problem still makes it low, evaluated or not
    assert interpret(percentile=50, coverage=0.5).reliability == "low"
    assert interpret(percentile=50, coverage=0.95, quality=GOOD, person_ancestry="EUR",
                     evaluation_ancestry="European").reliability == "high"  # fmt: skip


def _report(**kw):  # type: ignore[no-untyped-def]
    results = [
        {"pgs_id": "H1", "trait": "Height (custom)", "trait_efo": ["EFO_0004339"], "status": "ok", "sum": 0.1,
         "n_variants": 10, "n_matched": 10, "overlap": 1.0},
        {"pgs_id": "D1", "trait": "PRS77", "trait_efo": ["EFO_9999999"], "status": "ok", "sum": 0.2,
         "n_variants": 10, "n_matched": 10, "overlap": 1.0},
    ]  # fmt: skip
    pct = [{"pgs_id": p, "superpopulation": "EUR", "percentile": v, "z": 0.0, "n_reference": 100}
           for p, v in (("H1", 12.0), ("D1", 88.0))]  # fmt: skip
    return build_report(sample_id="P", results=results, percentiles=pct, superpopulation="EUR",
                        superpopulations=["EUR"], **kw)  # fmt: skip


def test_report_takes_the_kind_from_the_efo_sheet_and_says_it() -> None:
    doc = _report(efo_traits={"EFO_9999999": ("breast carcinoma", "A carcinoma that arises from the breast.")})
    h, d = doc.scores
    assert (h.trait_kind, d.trait_kind) == ("quantitative", "disease")
    assert h.interpretation.trait_kind == "quantitative" and d.interpretation.trait_kind == "disease"
    text = doc.text()
    assert "Your Height (custom) score (H1) is at the 12th percentile, z = +0.00: lower than most people" in text
    assert "This is not a measurement: your height (custom) also depends on" in text
    assert "point to somewhat lower height (custom) than most" in h.interpretation.details[0]
    assert "cannot tell whether you will or will not develop PRS77" in text
    assert "develop Height" not in text and "develop height" not in text
    # neither score has an evaluation: no "[reliability: …]" beside "No evaluation … is available"
    assert "No evaluation of this score's accuracy is available." in text
    assert "[reliability:" not in text
    # without the sheet the unknown EFO id leaves the kind to the reported trait's words: unknown here
    assert _report().scores[1].trait_kind == "unknown"
    # an evaluated score shows its reliability
    evaluated = _report(quality={"D1": (GOOD, {"EUR": 1.0})})
    assert "[reliability: high]" in evaluated.text() and evaluated.scores[1].trait_kind == "disease"
