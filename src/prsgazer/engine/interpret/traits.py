"""What kind of trait a score is for — a disease (risk wording) or a quantity (higher/lower wording).

See docs/catalog.md ("Quality and interpretation"). Pure: the evidence is what the PGS Catalog says
about the trait — its ontology ids (`trait_efo` in the scoring file's header and the catalog's score
records), their labels and descriptions (the catalog's `efo_traits` metadata sheet, or the header's
`trait_mapped`), the reported trait — and, as a last hint, how it was evaluated (AUROC / C-index /
odds or hazard ratios are measured on cases and controls). Nothing is known: "unknown", and the
reading uses words that fit both.

Rules, first match wins:
1. an ontology id of a disease ontology (MONDO, Orphanet, DOID, HP) or a known id (`KNOWN_EFO`);
2. a label, the reported trait, then a description naming a measurement ("… measurement", "age at …", "level", "count",
   "height", "body mass index", …) is a quantity; one naming an illness ("disease", "cancer",
   "…itis", "…oma", "diabetes", …) is a disease. Across several ids or labels a disease wins
   (a score for "hypercholesterolemia, LDL cholesterol" speaks of risk);
3. an evaluation by case/control metrics: a disease.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

TraitKind = Literal["disease", "quantitative", "unknown"]

#: Ontologies whose terms are diseases or abnormal phenotypes.
DISEASE_ONTOLOGIES = ("MONDO", "ORPHANET", "DOID", "HP")

#: Frequent catalog traits, so the common cases do not depend on the metadata being stored.
KNOWN_EFO: dict[str, TraitKind] = {
    "EFO_0004339": "quantitative",  # body height
    "EFO_0004340": "quantitative",  # body mass index
    "EFO_0004611": "quantitative",  # low density lipoprotein cholesterol measurement
    "EFO_0004612": "quantitative",  # high density lipoprotein cholesterol measurement
    "EFO_0004530": "quantitative",  # triglyceride measurement
    "EFO_0004574": "quantitative",  # total cholesterol measurement
    "EFO_0004541": "quantitative",  # HbA1c measurement
    "EFO_0006335": "quantitative",  # systolic blood pressure
    "EFO_0006336": "quantitative",  # diastolic blood pressure
    "EFO_0004343": "quantitative",  # waist-hip ratio
    "EFO_0001645": "disease",  # coronary artery disease
    "EFO_0000305": "disease",  # breast carcinoma
    "EFO_0001360": "disease",  # type II diabetes mellitus
    "EFO_0000275": "disease",  # atrial fibrillation
    "EFO_0001663": "disease",  # prostate carcinoma
    "EFO_0000270": "disease",  # asthma
    "EFO_0000685": "disease",  # rheumatoid arthritis
    "EFO_0005842": "disease",  # colorectal cancer
}

_QUANTITY_PHRASES = (
    r"\bmeasurement\b", r"\bage at\b", r"\blevels?\b", r"\bcounts?\b", r"\bconcentrations?\b", r"\bheight\b",
    r"\bbody mass\b", r"\bbmi\b", r"\bweight\b", r"\bvolume\b", r"\bdensity\b", r"\bratio\b", r"\bcircumference\b",
    r"\bthickness\b", r"\bblood pressure\b", r"\bcholesterol\b", r"\blipoprotein\b", r"\btriglycerides?\b",
    r"\bglucose\b", r"\bhba1c\b", r"\bamount\b", r"\bduration\b", r"\bheart rate\b", r"\beducational attainment\b",
    r"\bintelligence\b", r"\bcognitive\b", r"\blongevity\b", r"\blifespan\b", r"\bsize\b", r"\bwidth\b",
    r"\blength\b", r"\bmass\b", r"\brate\b", r"\bquantity\b", r"\bintake\b",
)  # fmt: skip
_DISEASE_PHRASES = (
    r"\bdiseases?\b", r"\bdisorders?\b", r"\bcancers?\b", r"\bneoplasms?\b", r"\btumou?rs?\b", r"\bsyndrome\b",
    r"\bdiabetes\b", r"\binfections?\b", r"\bfailure\b", r"\bfibrillation\b", r"\basthma\b", r"\bstroke\b",
    r"\binfarction\b", r"\bhypertension\b", r"\bschizophrenia\b", r"\bdepressi\w*", r"\bdementia\b",
    r"\balzheimer\w*", r"\bobesity\b", r"\bglaucoma\b", r"\bdegeneration\b", r"\bdeficiency\b", r"\bdisease\w*",
    r"\bleuka?emia\b", r"\bhypercholesterol\w*", r"\bgout\b", r"\bmigraine\b", r"\banxiety\b", r"\bautism\b",
    r"\baddiction\b", r"\bdependence\b", r"\bcataract\b", r"\bfracture\b", r"\bhernia\b", r"\banemia\b",
    r"\b\w+itis\b", r"\b\w+omas?\b", r"\b\w+osis\b", r"\b\w+pathy\b", r"\b\w+emia\b",
)  # fmt: skip
_QUANTITY = re.compile("|".join(_QUANTITY_PHRASES), re.I)
_DISEASE = re.compile("|".join(_DISEASE_PHRASES), re.I)
#: Phrases that make a quantity of an illness word ("age at onset of diabetes", "… measurement").
_QUANTITY_FIRST = re.compile(r"\bmeasurement\b|\bage at\b|\bduration\b", re.I)


def kind_of_text(text: str | None) -> TraitKind:
    """A trait label, reported trait or description → its kind by the words it uses."""
    if not text or not text.strip():
        return "unknown"
    if _QUANTITY_FIRST.search(text):
        return "quantitative"
    if _DISEASE.search(text):
        return "disease"
    if _QUANTITY.search(text):
        return "quantitative"
    return "unknown"


def kind_of_id(efo_id: str | None) -> TraitKind:
    """An ontology id (EFO_0004339, MONDO_0005148, EFO:0004339) → its kind when the id alone says it."""
    if not efo_id:
        return "unknown"
    norm = efo_id.strip().replace(":", "_")
    if norm in KNOWN_EFO:
        return KNOWN_EFO[norm]
    if norm.split("_", 1)[0].upper() in DISEASE_ONTOLOGIES:
        return "disease"
    return "unknown"


def _combine(kinds: Iterable[TraitKind]) -> TraitKind:
    found = set(kinds)
    if "disease" in found:
        return "disease"
    if "quantitative" in found:
        return "quantitative"
    return "unknown"


def trait_kind(
    efo_ids: Iterable[str] = (),
    labels: Iterable[str | None] = (),
    *,
    descriptions: Iterable[str | None] = (),
    reported: str | None = None,
    case_control_evaluation: bool = False,
) -> TraitKind:
    """The kind of a score's trait from its catalog metadata (rules in the module docstring).

    Args:
        efo_ids: the mapped ontology ids (`trait_efo`).
        labels: their labels from the catalog's `efo_traits` sheet, or the header's `trait_mapped`.
        descriptions: their descriptions (same sheet), read only when the labels say nothing.
        reported: the trait as the authors reported it (`trait_reported`, the asset's `trait`).
        case_control_evaluation: the catalog evaluated it by AUROC / C-index / OR / HR.
    """
    by_id = _combine(kind_of_id(i) for i in efo_ids)
    if by_id != "unknown":
        return by_id
    by_label = _combine(kind_of_text(t) for t in labels)
    if by_label != "unknown":
        return by_label
    by_reported = kind_of_text(reported)
    if by_reported != "unknown":
        return by_reported
    by_description = _combine(kind_of_text(t) for t in descriptions)
    if by_description != "unknown":
        return by_description
    return "disease" if case_control_evaluation else "unknown"
