"""Quality labels, effect-size formatting and interpretation (engine/quality.py: pure)."""

from __future__ import annotations

import math

import pytest

from prsgazer.engine.interpret.quality import (
    EffectSize,
    ancestry_code,
    ancestry_shares,
    format_effect_size,
    interpret,
    model_quality,
    ordinal,
    position_of,
    quality_label,
)
from prsgazer.errors import InputError


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0.0, "none"),
        (0.3, "none"),
        (0.5, "none"),
        (0.5001, "poor"),
        (0.5999, "poor"),
        (0.6, "modest"),
        (0.6999, "modest"),
        (0.7, "good"),
        (0.7999, "good"),
        (0.8, "strong"),
        (1.0, "strong"),
    ],
)
def test_quality_bands_at_their_boundaries(value: float, label: str) -> None:
    assert quality_label(value) == label


@pytest.mark.parametrize("bad", [-0.1, 1.01, math.nan])
def test_quality_rejects_impossible_values(bad: float) -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        quality_label(bad)


def test_model_quality_prefers_auroc_and_formats() -> None:
    q = model_quality(auroc=0.6221, c_index=0.9, ci_lower=0.619, ci_upper=0.627, covariates="age")
    assert q is not None
    assert (q.metric, q.label) == ("AUROC", "modest")
    assert q.text == "AUROC 0.622 (95% CI 0.619–0.627): modest"
    c = model_quality(c_index=0.71)
    assert c is not None and c.text == "C-index 0.710: good"
    assert model_quality() is None
    assert model_quality(auroc=math.nan) is None
    assert q.model_dump()["label"] == "modest"  # computed fields travel with the model


@pytest.mark.parametrize(
    ("args", "kw", "text"),
    [
        (("OR", 1.55, 1.52, 1.58), {}, "OR 1.55 (95% CI 1.52–1.58)"),
        (("odds ratio", 1.5), {"se": 0.02}, "OR 1.50 (SE 0.02)"),
        (("HR", 1.2, 1.1, 1.31), {}, "HR 1.20 (95% CI 1.10–1.31)"),
        (("hazard ratio", 0.85), {}, "HR 0.85"),
        (("beta", -0.7), {"se": 0.15}, "β -0.70 (SE 0.15)"),
        (("β", -0.7, -0.9, -0.5), {}, "β -0.70 (95% CI -0.90 to -0.50)"),
        (("beta", 0.12, -0.01, 0.25), {}, "β 0.12 (95% CI -0.01 to 0.25)"),
        (("b", 0.0123, 0.0101, 0.0144), {}, "β 0.012 (95% CI 0.010–0.014)"),
        (("beta", 0.0), {}, "β 0.00"),
        (("OR", 1.234), {"digits": 3}, "OR 1.234"),
        (("beta", 1.2e-05), {"se": 3e-06}, "β 1.2e-05 (SE 3.0e-06)"),
    ],
)
def test_effect_size_formatting(args: tuple, kw: dict, text: str) -> None:
    assert format_effect_size(*args, **kw) == text


def test_effect_size_errors_and_model() -> None:
    with pytest.raises(InputError, match="OR must be positive"):
        format_effect_size("OR", -1.2)
    with pytest.raises(InputError, match="unknown effect size kind"):
        format_effect_size("RR", 1.2)
    e = EffectSize.of("Odds Ratio", 1.55, ci_lower=1.52, ci_upper=1.58)
    assert e.kind == "OR" and e.text == "OR 1.55 (95% CI 1.52–1.58)"
    assert e.model_dump()["text"] == e.text


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("European", "EUR"),
        ("eur", "EUR"),
        ("African American or Afro-Caribbean", "AFR"),
        ("Sub-Saharan African", "AFR"),
        ("East Asian", "EAS"),
        ("South East Asian", "EAS"),
        ("South Asian", "SAS"),
        ("Hispanic or Latin American", "AMR"),
        ("Greater Middle Eastern (Middle Eastern, North African or Persian)", "GME"),
        ("Multi-ancestry (including European)", "MAE"),
        ("Multi-ancestry (excluding European)", "MAO"),
        ("Asian unspecified", "ASN"),
        ("Oceanian", "OTH"),
        ("NR", None),
        ("Not Reported", None),
        (None, None),
    ],
)
def test_ancestry_codes(label: str | None, code: str | None) -> None:
    assert ancestry_code(label) == code


def test_ancestry_shares() -> None:
    assert ancestry_shares({"European": 80, "East Asian": 20, "NR": 50}) == pytest.approx({"EUR": 0.8, "EAS": 0.2})
    assert ancestry_shares(["European", "South Asian"]) == {"EUR": 0.5, "SAS": 0.5}
    assert ancestry_shares("European") == {"EUR": 1.0}
    assert ancestry_shares(None) == {} == ancestry_shares(["NR"])


@pytest.mark.parametrize(
    ("p", "pos"),
    [
        (0, "much lower"),
        (4.99, "much lower"),
        (5, "lower"),
        (19.99, "lower"),
        (20, "typical"),
        (50, "typical"),
        (80, "typical"),
        (80.01, "higher"),
        (95, "higher"),
        (95.01, "much higher"),
        (100, "much higher"),
    ],
)
def test_position_bands(p: float, pos: str) -> None:
    assert position_of(p) == pos


def test_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 100, 101, 111, 112)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "100th",
        "101st",
        "111th",
        "112th",
    ]


GOOD = model_quality(auroc=0.72)


def test_a_well_supported_result_is_high_reliability() -> None:
    r = interpret(
        percentile=62.4,
        z=0.32,
        coverage=0.97,
        person_ancestry="EUR",
        evaluation_ancestry={"European": 100},
        quality=GOOD,
        trait="breast cancer",
        pgs_id="PGS000001",
    )
    assert r.reliability == "high"
    assert r.position == "typical"
    assert r.headline == (
        "Your breast cancer score (PGS000001) is at the 62nd percentile, z = +0.32: "
        "in the typical range of the reference group."
    )
    assert any("97% of the score's variants" in d for d in r.details)
    assert any("evaluated mainly in people of European ancestry, like you" in d for d in r.details)
    assert any("separated people with and without breast cancer well: AUROC 0.720" in d for d in r.details)
    assert r.caveats == [
        "This is not a diagnosis: a polygenic score is one factor among many (age, family history, "
        "lifestyle, rare variants) and cannot tell whether you will or will not develop breast cancer."
    ]
    assert "Limits: This is not a diagnosis" in r.text


def test_low_coverage_makes_it_low() -> None:
    r = interpret(percentile=97, coverage=0.6, person_ancestry="EUR", evaluation_ancestry="European", quality=GOOD)
    assert r.reliability == "low" and r.position == "much higher"
    assert r.caveats[0].startswith("Only 60% of the score's variants were found")
    mid = interpret(percentile=97, coverage=0.8, person_ancestry="EUR", evaluation_ancestry="European", quality=GOOD)
    assert mid.reliability == "moderate"
    assert any(
        "80% of the score's variants were found in your data; the percentile may shift" in c for c in mid.caveats
    )


def test_ancestry_mismatch_is_stated() -> None:
    r = interpret(
        percentile=50,
        coverage=0.95,
        person_ancestry="AFR",
        evaluation_ancestry={"European": 92.8, "East Asian": 7.2},
        quality=GOOD,
    )
    assert r.reliability == "low"
    assert r.caveats[0].startswith("It was evaluated in people of European, East Asian ancestry, not African")
    partial = interpret(
        percentile=50,
        coverage=0.95,
        person_ancestry="East Asian",
        evaluation_ancestry={"European": 92.8, "East Asian": 7.2},
        quality=GOOD,
    )
    assert partial.reliability == "moderate"
    assert any(
        "Only 7% of the people it was evaluated in share your ancestry group (East Asian)" in c for c in partial.caveats
    )
    unknown = interpret(percentile=50, coverage=0.95, evaluation_ancestry="European", quality=GOOD)
    assert unknown.reliability == "moderate"
    assert any("Your genetic ancestry was not given" in c for c in unknown.caveats)


def test_quality_shapes_the_reading() -> None:
    poor = interpret(
        percentile=50,
        coverage=0.95,
        person_ancestry="EUR",
        evaluation_ancestry="European",
        quality=model_quality(auroc=0.55),
    )
    assert poor.reliability == "low" and any("predicted poorly" in c for c in poor.caveats)
    none = interpret(percentile=50, coverage=0.95, person_ancestry="EUR", evaluation_ancestry="European")
    # nothing to judge its accuracy by: "unknown", never "moderate" beside "no evaluation is available"
    assert none.reliability == "unknown" and any("No evaluation of this score's accuracy" in c for c in none.caveats)
    cov = interpret(
        percentile=50,
        coverage=0.95,
        person_ancestry="EUR",
        evaluation_ancestry="European",
        quality=model_quality(c_index=0.75, covariates="age, sex"),
    )
    assert cov.reliability == "moderate" and any("also includes age, sex" in c for c in cov.caveats)
    eff = interpret(percentile=50, quality=GOOD, effect=EffectSize.of("OR", 1.55, ci_lower=1.52, ci_upper=1.58))
    assert any(d.startswith("Reported effect size: OR 1.55 (95% CI 1.52–1.58)") for d in eff.details)


def test_missing_or_approximate_percentile() -> None:
    r = interpret(percentile=None, coverage=0.95, no_percentile_reason="no reference panel for this build")
    assert r.reliability == "low" and r.position is None and r.percentile is None
    assert r.headline == (
        "Your polygenic score could not be placed against a reference group: no reference panel for this build."
    )
    nan = interpret(percentile=math.nan)
    assert nan.percentile is None and nan.reliability == "low"
    z = interpret(z=1.0, coverage=0.95, person_ancestry="EUR", evaluation_ancestry="European", quality=GOOD)
    assert z.percentile == pytest.approx(84.13, abs=0.01)
    assert z.headline.startswith("Your polygenic score is about at the 84th percentile, z = +1.00")
    assert z.reliability == "moderate"


def test_extreme_percentiles_and_bad_inputs() -> None:
    assert "above the 99th percentile" in interpret(percentile=99.6).headline
    assert "below the 1st percentile" in interpret(percentile=0.4).headline
    with pytest.raises(InputError, match="percentile must be between 0 and 100"):
        interpret(percentile=150)
    with pytest.raises(InputError, match="coverage must be a fraction"):
        interpret(percentile=50, coverage=75)
