"""Grades: what a prediction's calibrated confidence and its confirmations earn it.

The direction is the most probable class; a neutral prediction is not a signal and gets no
grade. A directional one gets the first grade whose rule it meets (minimum calibrated
confidence, minimum number of confirmations, and any confirmations that rule names as
required), else C. The rules are data: ``GradingRules`` comes from the admin-editable
``GradingConfig``; the defaults are the product spec's (A+ >= 0.85 with strong
confirmations, A 0.75-0.85 with good ones, B 0.65-0.75 moderate, C below or mixed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from mlcore.pipeline.confirmations import NAMES, MarketContext
from mlcore.pipeline.models.base import BUY, NEUTRAL, SELL

GRADES = ("A+", "A", "B", "C")
NO_GRADE = ""


@dataclass(frozen=True)
class GradeRule:
    grade: str
    min_confidence: float
    min_confirmations: int
    required: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.required) - set(NAMES)
        if unknown:
            raise ValueError(f"unknown confirmations {sorted(unknown)}; known: {NAMES}")


@dataclass(frozen=True)
class GradingRules:
    rules: tuple[GradeRule, ...] = field(
        default_factory=lambda: (
            GradeRule("A+", 0.85, 3),
            GradeRule("A", 0.75, 2),
            GradeRule("B", 0.65, 1),
        )
    )

    def __post_init__(self) -> None:
        if [r.grade for r in self.rules] != list(GRADES[: len(self.rules)]):
            raise ValueError(f"rules must be given best first as {GRADES[:-1]}")

    def to_dict(self) -> dict:
        return {"rules": [asdict(r) for r in self.rules]}

    @classmethod
    def from_dict(cls, data: dict) -> GradingRules:
        return cls(
            tuple(
                GradeRule(
                    r["grade"],
                    float(r["min_confidence"]),
                    int(r["min_confirmations"]),
                    tuple(r.get("required", ())),
                )
                for r in data["rules"]
            )
        )


@dataclass(frozen=True)
class Graded:
    direction: np.ndarray  # +1 buy, -1 sell, 0 neutral (no signal)
    confidence: np.ndarray  # calibrated probability of the predicted class
    grade: np.ndarray  # object: "A+", "A", "B", "C", or "" for neutral
    confirmations: dict[str, np.ndarray]  # name -> bool per row

    def __len__(self) -> int:
        return len(self.direction)


DIRECTION = np.array([-1, 0, 1])  # class index -> direction


def grade(
    probabilities: np.ndarray,
    context: MarketContext,
    p_xgb: np.ndarray,
    p_lstm: np.ndarray,
    rules: GradingRules | None = None,
) -> Graded:
    """Grade each row of calibrated ``probabilities`` (rows aligned with ``context``)."""
    rules = rules or GradingRules()
    predicted = probabilities.argmax(axis=1)
    direction = DIRECTION[predicted]
    confidence = probabilities[np.arange(len(predicted)), predicted]
    confirmations = {
        "regime": (context.trend_direction == direction) & (direction != 0),
        "htf_trend": (context.htf_direction == direction) & (direction != 0),
        "volume": context.volume_high & (direction != 0),
        "members": (p_xgb.argmax(axis=1) == predicted)
        & (p_lstm.argmax(axis=1) == predicted)
        & (direction != 0),
    }
    count = sum(c.astype(int) for c in confirmations.values())
    grades = np.full(len(direction), "C", dtype=object)
    decided = np.zeros(len(direction), dtype=bool)
    for rule in rules.rules:
        meets = (confidence >= rule.min_confidence) & (count >= rule.min_confirmations)
        for name in rule.required:
            meets &= confirmations[name]
        take = meets & ~decided
        grades[take] = rule.grade
        decided |= take
    grades[predicted == NEUTRAL] = NO_GRADE
    return Graded(direction, confidence, grades, confirmations)


__all__ = ["BUY", "GRADES", "NO_GRADE", "SELL", "GradeRule", "Graded", "GradingRules", "grade"]
