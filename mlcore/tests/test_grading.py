"""Grades from calibrated confidence and named confirmations; rules are data."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.models import GradingConfig
from mlcore.pipeline.common.confirmations import MarketContext
from mlcore.pipeline.common.grading import GradeRule, GradingRules, grade


def context(n: int, trend: int = 1, htf: int = 1, volume: bool = True) -> MarketContext:
    return MarketContext(
        np.arange(n),
        np.array(["TRENDING"] * n, dtype=object),
        np.full(n, trend),
        np.full(n, htf),
        np.full(n, volume),
    )


def probs(*rows: tuple[float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def test_hit_confidence_and_confirmations_decide_the_grade():
    p = probs(
        (0.05, 0.05, 0.90),  # buy, hit chance 0.62, all four confirmations -> A+
        (0.10, 0.10, 0.80),  # buy 0.58 -> A
        (0.20, 0.10, 0.70),  # buy 0.55 -> B
        (0.40, 0.20, 0.40),  # a tie goes to the first class: sell, 0.50 -> C
        (0.10, 0.80, 0.10),  # neutral: no signal, no grade
    )
    hit = np.array([0.62, 0.58, 0.55, 0.50, np.nan])
    g = grade(p, context(5), p, p, hit_confidence=hit)
    assert list(g.direction) == [1, 1, 1, -1, 0]
    assert list(g.grade) == ["A+", "A", "B", "C", ""]
    assert g.confidence[0] == pytest.approx(0.62)  # the call's hit probability
    assert g.confidence[4] == pytest.approx(0.80)  # a neutral row keeps its class probability
    # The sell signal lacks the regime and 4h confirmations (both point up).
    assert not g.confirmations["regime"][3] and not g.confirmations["htf_trend"][3]
    # A call with no hit probability (no calibrator yet) promises nothing: C.
    assert grade(p[:1], context(1), p[:1], p[:1], hit_confidence=np.array([np.nan])).grade[0] == "C"


def test_missing_confirmations_downgrade_and_required_ones_are_enforced():
    p = probs((0.02, 0.03, 0.95))
    hit = np.array([0.65])
    weak = grade(p, context(1, trend=-1, htf=-1, volume=False), p, p, hit_confidence=hit)
    assert weak.grade[0] == "A"  # 65 % likely a hit, but only the members agree
    members_disagree = grade(p, context(1), p, probs((0.9, 0.05, 0.05)), hit_confidence=hit)
    assert members_disagree.grade[0] == "A+"  # three of four still make A+
    rules = GradingRules(
        (
            GradeRule("A+", 0.60, 2, required=("members",)),
            GradeRule("A", 0.57, 1),
            GradeRule("B", 0.54, 0),
        )
    )
    disagree = grade(p, context(1), p, probs((0.9, 0.05, 0.05)), rules, hit)
    assert disagree.grade[0] == "A"
    assert rules.promise("A") == 0.57 and rules.promise("C") is None


def test_rules_are_validated_and_round_trip():
    with pytest.raises(ValueError, match="unknown confirmations"):
        GradeRule("A", 0.7, 1, required=("astrology",))
    with pytest.raises(ValueError, match="best first"):
        GradingRules((GradeRule("A", 0.7, 1), GradeRule("A+", 0.9, 1)))
    rules = GradingRules()
    assert GradingRules.from_dict(rules.to_dict()) == rules


@pytest.mark.django_db
def test_the_admin_config_feeds_the_rules():
    config = GradingConfig.current()
    assert config.rules() == GradingRules()  # the product spec's defaults
    config.a_plus_confidence, config.a_plus_required = 0.9, ["volume"]
    config.save()
    rule = GradingConfig.current().rules().rules[0]
    assert (rule.min_confidence, rule.required) == (0.9, ("volume",))
    config.b_confidence = 0.95
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="fall from A"):
        config.clean()


def test_a_confidence_exactly_at_a_promise_earns_that_grade_and_a_hair_below_does_not():
    """The boundaries are inclusive (``>=``) in both grading paths: the per-symbol rules with
    confirmations and the universe model's promises."""
    from mlcore.pipeline.common.grading import DEFAULT_PROMISES
    from mlcore.pipeline.common.hits import HitGrades, grade_calls

    below = {g: float(np.nextafter(v, 0)) for g, v in DEFAULT_PROMISES.items()}
    at = list(DEFAULT_PROMISES.values())
    hit = np.array([*at, *below.values()])
    p = probs(*[(0.05, 0.05, 0.90)] * len(hit))  # every row a buy with all confirmations
    g = grade(p, context(len(hit)), p, p, hit_confidence=hit)
    assert list(g.grade) == ["A+", "A", "B", "A", "B", "C"]
    universe = grade_calls(hit, np.ones(len(hit)), HitGrades())
    assert list(universe) == ["A+", "A", "B", "A", "B", "C"]
