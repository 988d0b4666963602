"""Model quality labels, effect-size formatting and plain-English interpretation of a PRS result.

See docs/catalog.md ("Quality and interpretation"). Pure: no network, no storage; inputs are numbers
and labels, outputs pydantic models.

Quality bands for AUROC / C-index (the probability that a random case scores above a random control):
    ≤ 0.50 none (chance) · 0.50–0.60 poor · 0.60–0.70 modest · 0.70–0.80 good · ≥ 0.80 strong
Lower bounds are inclusive (0.60 is modest, 0.70 good, 0.80 strong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from prsgazer.engine.interpret.traits import TraitKind, trait_kind
from prsgazer.engine.scoring.match import DEFAULT_MIN_OVERLAP
from prsgazer.errors import InputError

QualityLabel = Literal["none", "poor", "modest", "good", "strong"]
#: "unknown": no evaluation of the score's accuracy exists to judge it by (and nothing makes it low).
Reliability = Literal["low", "moderate", "high", "unknown"]
Position = Literal["much lower", "lower", "typical", "higher", "much higher"]
EffectKind = Literal["OR", "HR", "β"]

#: (lower bound inclusive, label); values at or below 0.5 are "none".
QUALITY_BANDS: tuple[tuple[float, QualityLabel], ...] = (
    (0.8, "strong"),
    (0.7, "good"),
    (0.6, "modest"),
)
_QUALITY_WORDS: dict[QualityLabel, str] = {
    "none": "no better than chance",
    "poor": "poorly",
    "modest": "modestly",
    "good": "well",
    "strong": "strongly",
}
#: Overlap below which a score is unreliable (the engine's default minimum overlap).
MIN_COVERAGE = DEFAULT_MIN_OVERLAP
GOOD_COVERAGE = 0.9
#: Share of the evaluation samples in the person's ancestry group that counts as "evaluated like you".
ANCESTRY_MATCH_SHARE = 0.8


def quality_label(value: float) -> QualityLabel:
    """AUROC / C-index → label (bands in the module docstring). Values outside 0–1 are an InputError."""
    if value is None or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"AUROC / C-index must be between 0 and 1, got {value!r}", field="auroc")
    if value <= 0.5:
        return "none"
    for bound, label in QUALITY_BANDS:
        if value >= bound:
            return label
    return "poor"


class ModelQuality(BaseModel):
    """How well a score separated cases from controls in one evaluation."""

    metric: Literal["AUROC", "C-index"]
    value: float
    ci_lower: float | None = None
    ci_upper: float | None = None
    covariates: str | None = Field(default=None, description="Other predictors in the evaluated model.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> QualityLabel:
        return quality_label(self.value)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        """`AUROC 0.622 (95% CI 0.619–0.627): modest`."""
        return f"{self.value_text}: {self.label}"

    @property
    def value_text(self) -> str:
        ci = ""
        if self.ci_lower is not None and self.ci_upper is not None:
            ci = f" (95% CI {self.ci_lower:.3f}–{self.ci_upper:.3f})"
        return f"{self.metric} {self.value:.3f}{ci}"


def model_quality(
    *,
    auroc: float | None = None,
    c_index: float | None = None,
    ci_lower: float | None = None,
    ci_upper: float | None = None,
    covariates: str | None = None,
) -> ModelQuality | None:
    """A ModelQuality from AUROC (preferred) or C-index; None when neither is known.

    `ci_lower` / `ci_upper` belong to whichever metric is used.
    """
    for metric, value in (("AUROC", auroc), ("C-index", c_index)):
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return ModelQuality(
                metric=metric,
                value=float(value),
                ci_lower=ci_lower,
                ci_upper=ci_upper,
                covariates=covariates or None,
            )
    return None


_EFFECT_ALIASES: dict[str, EffectKind] = {
    "or": "OR",
    "odds ratio": "OR",
    "hr": "HR",
    "hazard ratio": "HR",
    "beta": "β",
    "β": "β",
    "b": "β",
}


def _kind(kind: str) -> EffectKind:
    try:
        return _EFFECT_ALIASES[kind.strip().lower()]
    except KeyError:
        raise InputError(f"unknown effect size kind {kind!r}", field="kind", hint="OR, HR or beta") from None


def _formatter(estimate: float, digits: int):
    """One number format for an estimate and its CI/SE: `digits` decimals for ordinary magnitudes,
    `digits` significant figures of the estimate below 0.1 (0.0123 → 0.012), scientific below 0.001."""
    a = abs(estimate)
    if a == 0 or a >= 0.1:
        return lambda v: f"{v:.{digits}f}"
    if a < 0.001:
        return lambda v: f"{v:.{max(digits - 1, 0)}e}"
    decimals = digits - 1 - math.floor(math.log10(a))
    return lambda v: f"{v:.{decimals}f}"


def format_effect_size(
    kind: str,
    estimate: float,
    ci_lower: float | None = None,
    ci_upper: float | None = None,
    se: float | None = None,
    *,
    digits: int = 2,
) -> str:
    """`OR 1.55 (95% CI 1.52–1.58)`, `HR 1.20 (95% CI 1.10–1.31)`, `β -0.70 (SE 0.15)`.

    The estimate and its CI / SE share one number format (see `_formatter`). A CI is shown when
    both bounds are given (joined by "to" when a bound is negative), else an SE when given, else the
    estimate alone. Ratios (OR, HR) must be positive.
    """
    k = _kind(kind)
    if k in ("OR", "HR") and not estimate > 0:
        raise InputError(f"{k} must be positive, got {estimate!r}", field="estimate")
    num = _formatter(estimate, digits)
    text = f"{k} {num(estimate)}"
    if ci_lower is not None and ci_upper is not None:
        sep = " to " if min(ci_lower, ci_upper) < 0 else "–"
        text += f" (95% CI {num(ci_lower)}{sep}{num(ci_upper)})"
    elif se is not None:
        text += f" (SE {num(se)})"
    return text


class EffectSize(BaseModel):
    """A reported effect size of a score (often per standard deviation; the publication says)."""

    kind: EffectKind
    estimate: float
    ci_lower: float | None = None
    ci_upper: float | None = None
    se: float | None = None

    @classmethod
    def of(cls, kind: str, estimate: float, **kw: float | None) -> EffectSize:
        return cls(kind=_kind(kind), estimate=estimate, **kw)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        return format_effect_size(self.kind, self.estimate, self.ci_lower, self.ci_upper, self.se)


# -- ancestry -------------------------------------------------------------------------------------
ANCESTRY_NAMES = {
    "EUR": "European",
    "AFR": "African",
    "EAS": "East Asian",
    "SAS": "South Asian",
    "AMR": "Hispanic or Latin American",
    "GME": "Greater Middle Eastern",
    "ASN": "other Asian",
    "MAE": "multi-ancestry (including European)",
    "MAO": "multi-ancestry (excluding European)",
    "OTH": "other",
}


def ancestry_code(label: str | None) -> str | None:
    """A catalog ancestry label or 1000 Genomes superpopulation → one group code; None = not reported.

    `European` / `EUR` → EUR; any African category → AFR; `East Asian` / `South East Asian` → EAS;
    `South Asian` → SAS; `Hispanic or Latin American` / `Native American` → AMR; `Greater Middle
    Eastern …` → GME; multi-ancestry → MAE / MAO; anything else reported → OTH.
    """
    if label is None:
        return None
    text = str(label).strip()
    low = text.lower()
    if low in {"", "nr", "not reported", "unknown", "na", "n/a"}:
        return None
    if text.upper() in ANCESTRY_NAMES:
        return text.upper()
    if low.startswith("multi"):
        return "MAO" if "excluding" in low else "MAE"
    for needle, code in (
        ("middle east", "GME"),
        ("european", "EUR"),
        ("african", "AFR"),
        ("east asian", "EAS"),
        ("south asian", "SAS"),
        ("hispanic", "AMR"),
        ("latin", "AMR"),
        ("native american", "AMR"),
        ("asian", "ASN"),
    ):
        if needle in low:
            return code
    return "OTH"


def ancestry_shares(evaluation: str | list[str] | dict[str, float] | None) -> dict[str, float]:
    """Evaluation ancestry as {group code: share}; a list or a single label counts each equally.

    A dict may hold shares (summing to ~1) or percentages (summing to ~100); unreported entries are
    dropped and the rest renormalised.
    """
    if evaluation is None:
        return {}
    if isinstance(evaluation, str):
        evaluation = [evaluation]
    weights: dict[str, float] = {}
    items = evaluation.items() if isinstance(evaluation, dict) else ((e, 1.0) for e in evaluation)
    for label, w in items:
        code = ancestry_code(label)
        if code is None or w is None or w <= 0:
            continue
        weights[code] = weights.get(code, 0.0) + float(w)
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()} if total else {}


# -- interpretation -------------------------------------------------------------------------------
class Interpretation(BaseModel):
    """A short, plain-English reading of one score result, with its limits spelled out."""

    pgs_id: str | None = None
    trait: str | None = None
    percentile: float | None = None
    z: float | None = None
    position: Position | None = None
    trait_kind: TraitKind = "unknown"
    headline: str
    details: list[str] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    reliability: Reliability

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        parts = [self.headline, *self.details]
        if self.caveats:
            parts.append("Limits: " + " ".join(self.caveats))
        return "\n".join(parts)


def position_of(percentile: float) -> Position:
    """<5 much lower · 5–20 lower · 20–80 typical · 80–95 higher · >95 much higher (20, 80 and 95
    belong to the band nearer the middle)."""
    if percentile < 5:
        return "much lower"
    if percentile < 20:
        return "lower"
    if percentile <= 80:
        return "typical"
    if percentile <= 95:
        return "higher"
    return "much higher"


_POSITION_TEXT: dict[Position, str] = {
    "much lower": "much lower than most people in the reference group",
    "lower": "lower than most people in the reference group",
    "typical": "in the typical range of the reference group",
    "higher": "higher than most people in the reference group",
    "much higher": "much higher than most people in the reference group",
}


def ordinal(n: int) -> str:
    """1 → 1st, 2 → 2nd, 11 → 11th, 23 → 23rd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _percentile_phrase(p: float) -> str:
    if p < 1:
        return "below the 1st percentile"
    if p > 99:
        return "above the 99th percentile"
    return f"at the {ordinal(round(p))} percentile"


def _is_missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def in_sentence(trait: str) -> str:
    """A trait inside a sentence: "Standing height" → "standing height", acronyms ("LDL …") kept."""
    if len(trait) > 1 and trait[0].isupper() and not trait[1].isupper():
        return trait[0].lower() + trait[1:]
    return trait


#: What a higher score means, per kind of trait ({t}: the trait in a sentence).
_MEANING: dict[TraitKind, str] = {
    "disease": (
        "A higher score means more of the genetic variants this score counts as raising the chance of {t}; "
        "it is a relative position, not an absolute risk."
    ),
    "quantitative": (
        "A higher score means more of the genetic variants this score links to a higher {t}; it is a relative "
        "position among the reference people, not a measurement of your {t}."
    ),
    "unknown": (
        "A higher score means more of the genetic variants this score counts toward {t}; it is a relative "
        "position among the reference people, not a diagnosis or a measurement."
    ),
}
#: Where the score points, for a quantity.
_TOWARD: dict[Position, str] = {
    "much lower": "Your genetic variants point to lower {t} than most people in the reference group.",
    "lower": "Your genetic variants point to somewhat lower {t} than most people in the reference group.",
    "typical": "Your genetic variants point to {t} in the typical range of the reference group.",
    "higher": "Your genetic variants point to somewhat higher {t} than most people in the reference group.",
    "much higher": "Your genetic variants point to higher {t} than most people in the reference group.",
}
#: The last caveat: what a polygenic score cannot tell.
_NOT_A: dict[TraitKind, str] = {
    "disease": (
        "This is not a diagnosis: a polygenic score is one factor among many (age, family history, lifestyle, "
        "rare variants) and cannot tell whether you will or will not develop {t}."
    ),
    "quantitative": (
        "This is not a measurement: your {t} also depends on age, sex, nutrition, lifestyle, medication and rare "
        "variants, and a polygenic score cannot tell what your {t} is or will be; a measurement can."
    ),
    "unknown": (
        "This is not a diagnosis or a measurement: a polygenic score is one factor among many (age, family "
        "history, lifestyle, rare variants) and cannot tell on its own how {t} will turn out for you."
    ),
}


def interpret(
    *,
    percentile: float | None = None,
    z: float | None = None,
    coverage: float | None = None,
    person_ancestry: str | None = None,
    evaluation_ancestry: str | list[str] | dict[str, float] | None = None,
    quality: ModelQuality | None = None,
    effect: EffectSize | None = None,
    trait: str | None = None,
    pgs_id: str | None = None,
    no_percentile_reason: str | None = None,
    kind: TraitKind | None = None,
) -> Interpretation:
    """Read one result in plain English and state its limits; never a diagnosis.

    Args:
        percentile: 0–100 against the reference group (None/NaN = not available).
        z: standard score; used for an approximate percentile when `percentile` is missing.
        coverage: fraction (0–1) of the score's variants matched in the person's data.
        person_ancestry: the person's genetic ancestry (EUR, AFR, … or a catalog label).
        evaluation_ancestry: ancestry of the samples the score was evaluated in: a label, labels,
            or {label: share or percent}.
        quality: discrimination in the evaluation (see `model_quality`).
        effect: reported effect size.
        trait, pgs_id: for the wording.
        no_percentile_reason: why no percentile exists (shown when percentile and z are missing).
        kind: what the trait is (`engine.interpret.traits.trait_kind` from the catalog's EFO metadata);
            None: judged from the `trait` words and whether there is a case/control evaluation. A disease
            is read as a chance ("cannot tell whether you will develop …"), a quantity as higher or lower
            than most ("not a measurement"); "unknown" uses words that fit both.

    Reliability is "low" when a percentile is missing, coverage is below 75%, the evaluation included
    no one of the person's ancestry group, or the quality label is none/poor; "moderate" when coverage
    is unknown or below 90%, either ancestry is unknown or only partly matched, quality is modest, or
    the percentile was approximated from z; "unknown" when nothing makes it low but no evaluation of the
    score's accuracy exists to judge it by; "high" otherwise.
    """
    if not _is_missing(percentile) and not 0 <= float(percentile) <= 100:  # type: ignore[arg-type]
        raise InputError(f"percentile must be between 0 and 100, got {percentile!r}", field="percentile")
    if not _is_missing(coverage) and not 0 <= float(coverage) <= 1:  # type: ignore[arg-type]
        raise InputError(f"coverage must be a fraction between 0 and 1, got {coverage!r}", field="coverage")
    notes = _Notes()
    name = f"{trait} score" if trait else "polygenic score"
    ident = f" ({pgs_id})" if pgs_id else ""
    if kind is None:
        kind = trait_kind(reported=trait, case_control_evaluation=quality is not None)
    the_trait = in_sentence(trait) if trait else {"disease": "the condition"}.get(kind, "the trait")
    place = _Placement.of(percentile, z)
    headline = _read_position(notes, place, f"{name}{ident}", no_percentile_reason, kind, the_trait)
    _read_quality(notes, quality, kind, the_trait)
    if effect is not None:
        notes.details.append(
            f"Reported effect size: {effect.text}, usually per standard deviation of the score "
            "(the publication gives the exact definition)."
        )
    _read_coverage(notes, coverage)
    _read_ancestry(notes, person_ancestry, evaluation_ancestry)
    caveats = [*notes.severe, *notes.mild, _NOT_A[kind].format(t=the_trait)]
    reliability: Reliability = (
        "low" if notes.severe else "unknown" if quality is None else "moderate" if notes.mild else "high"
    )
    pct = place.percentile
    return Interpretation(
        pgs_id=pgs_id,
        trait=trait,
        percentile=None if pct is None else round(pct, 2),
        z=place.z,
        position=place.position,
        trait_kind=kind,
        headline=headline,
        details=notes.details,
        caveats=caveats,
        reliability=reliability,
    )


@dataclass(frozen=True)
class _Notes:
    """What the reading says, by weight: `severe` caveats make it low reliability, `mild` ones moderate."""

    severe: list[str] = field(default_factory=list)
    mild: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Placement:
    """The percentile used (read, or approximated from z when missing), z, and the band it falls in."""

    percentile: float | None
    z: float | None
    approximate: bool
    position: Position | None

    @classmethod
    def of(cls, percentile: float | None, z: float | None) -> _Placement:
        pct = None if _is_missing(percentile) else float(percentile)  # type: ignore[arg-type]
        zval = None if _is_missing(z) else float(z)  # type: ignore[arg-type]
        approximate = False
        if pct is None and zval is not None:
            pct = 50.0 * (1.0 + math.erf(zval / math.sqrt(2.0)))
            approximate = True
        return cls(pct, zval, approximate, position_of(pct) if pct is not None else None)


def _read_position(
    notes: _Notes, place: _Placement, score: str, no_percentile_reason: str | None, kind: TraitKind, the_trait: str
) -> str:
    """The headline: where the person stands (or why that is unknown)."""
    pct, zval = place.percentile, place.z
    if pct is None:
        reason = f": {no_percentile_reason}" if no_percentile_reason else ""
        notes.severe.append("Without a reference group the raw score has no meaning on its own.")
        return f"Your {score} could not be placed against a reference group{reason}."
    assert place.position is not None  # placed with the percentile (`_Placement.of`)
    z_text = f", z = {zval:+.2f}" if zval is not None else ""
    about = "about " if place.approximate else ""
    headline = (
        f"Your {score} is {about}{_percentile_phrase(pct)}{z_text}: "
        f"{_POSITION_TEXT[place.position]}."
    )
    if place.approximate:
        notes.mild.append(
            "The percentile was estimated from the z-score assuming a normal distribution, "
            "not read from the reference distribution itself."
        )
    if kind == "quantitative":
        notes.details.append(_TOWARD[place.position].format(t=the_trait))
    notes.details.append(_MEANING[kind].format(t=the_trait))
    return headline


def _read_quality(notes: _Notes, quality: ModelQuality | None, kind: TraitKind, the_trait: str) -> None:
    """How well the score separated cases from controls in its evaluation."""
    if quality is None:
        notes.mild.append("No evaluation of this score's accuracy is available.")
        return
    groups = "with high and low" if kind == "quantitative" else "with and without"
    notes.details.append(
        f"In its evaluation the score separated people {groups} {the_trait} "
        f"{_QUALITY_WORDS[quality.label]}: {quality.value_text}, where 0.5 is chance and 1.0 perfect."
    )
    if quality.label in ("none", "poor"):
        notes.severe.append(
            "The score predicted poorly in its evaluation, so its percentile carries little information."
        )
    elif quality.label == "modest":
        notes.mild.append("Even in its evaluation the score separated cases from controls only modestly.")
    if quality.covariates:
        notes.mild.append(
            f"That accuracy is for a model that also includes {quality.covariates}; "
            "the score alone likely does less well."
        )


def _read_coverage(notes: _Notes, coverage: float | None) -> None:
    """How many of the score's variants the person's data had."""
    if _is_missing(coverage):
        notes.mild.append("How many of the score's variants were found in your data is unknown.")
        return
    cov = float(coverage)  # type: ignore[arg-type]
    share = f"{cov:.0%}"
    if cov < MIN_COVERAGE:
        notes.severe.append(
            f"Only {share} of the score's variants were found in your data; the score is incomplete "
            "and its percentile may be badly off."
        )
    elif cov < GOOD_COVERAGE:
        notes.mild.append(
            f"{share} of the score's variants were found in your data; the percentile may shift somewhat."
        )
    else:
        notes.details.append(f"{share} of the score's variants were found in your data.")


def _read_ancestry(
    notes: _Notes, person_ancestry: str | None, evaluation_ancestry: str | list[str] | dict[str, float] | None
) -> None:
    """Whether the people the score was evaluated in share the person's ancestry group."""
    shares = ancestry_shares(evaluation_ancestry)
    person = ancestry_code(person_ancestry)
    evaluated_in = ", ".join(ANCESTRY_NAMES.get(c, c) for c, _ in sorted(shares.items(), key=lambda kv: -kv[1]))
    if not shares:
        notes.mild.append("The ancestry of the people the score was evaluated in is not reported.")
    if person is None:
        notes.mild.append(
            "Your genetic ancestry was not given, so it is unknown how well the evaluation samples represent you."
        )
    elif shares:
        mine = shares.get(person, 0.0)
        pname = ANCESTRY_NAMES.get(person, person)
        if mine >= ANCESTRY_MATCH_SHARE:
            notes.details.append(f"It was evaluated mainly in people of {pname} ancestry, like you.")
        elif mine > 0:
            notes.mild.append(
                f"Only {mine:.0%} of the people it was evaluated in share your ancestry group ({pname}); "
                "accuracy for you may be lower."
            )
        else:
            notes.severe.append(
                f"It was evaluated in people of {evaluated_in} ancestry, not {pname}; polygenic scores "
                "usually predict less well outside the ancestries they were built and tested in, and "
                "percentiles can shift."
            )
