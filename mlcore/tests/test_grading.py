"""Grades from calibrated confidence and named confirmations; rules are data."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.models import GradingConfig
from mlcore.pipeline.confirmations import MarketContext
from mlcore.pipeline.grading import GradeRule, GradingRules, grade


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


def test_confidence_and_confirmations_decide_the_grade():
    p = probs(
        (0.05, 0.05, 0.90),  # buy 0.90, all four confirmations -> A+
        (0.10, 0.10, 0.80),  # buy 0.80 -> A
        (0.20, 0.10, 0.70),  # buy 0.70 -> B
        (0.40, 0.20, 0.40),  # a tie goes to the first class: sell 0.40 -> C
        (0.10, 0.80, 0.10),  # neutral: no signal, no grade
    )
    g = grade(p, context(5), p, p)
    assert list(g.direction) == [1, 1, 1, -1, 0]
    assert list(g.grade) == ["A+", "A", "B", "C", ""]
    assert g.confidence[0] == pytest.approx(0.9)
    # The sell signal lacks the regime and 4h confirmations (both point up).
    assert not g.confirmations["regime"][3] and not g.confirmations["htf_trend"][3]


def test_missing_confirmations_downgrade_and_required_ones_are_enforced():
    p = probs((0.02, 0.03, 0.95))
    weak = grade(p, context(1, trend=-1, htf=-1, volume=False), p, p)
    assert weak.grade[0] == "B"  # 0.95 confident, but only the members agree
    members_disagree = grade(p, context(1), p, probs((0.9, 0.05, 0.05)))
    assert members_disagree.grade[0] == "A+"  # three of four still make A+
    rules = GradingRules(
        (
            GradeRule("A+", 0.85, 3, required=("members",)),
            GradeRule("A", 0.75, 2),
            GradeRule("B", 0.65, 1),
        )
    )
    assert grade(p, context(1), p, probs((0.9, 0.05, 0.05)), rules).grade[0] == "A"


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
