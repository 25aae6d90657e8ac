"""Grades: what a directional call's confidence and its confirmations earn it.

The direction is the most probable class; a neutral prediction is not a signal and gets no
grade. A directional call's confidence is the calibrated probability that it is a hit (its
move in its direction beats the round trip: ``mlcore.pipeline.common.hits``), so a rule's minimum
confidence is the hit rate the grade promises. A call gets the first grade whose rule it meets
(minimum confidence, minimum number of confirmations, and any confirmations that rule names as
required), else C. The rules are data: ``GradingRules`` comes from the admin-editable
``GradingConfig``; the defaults promise A+ >= 60 % with 2 confirmations, A >= 57 % with 1,
B >= 54 %. Whether a model's grades keep those promises out of sample is judged per model
(``hits.grade_figures``); a grade that does not is not shown as a signal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from mlcore.pipeline.common.confirmations import NAMES, MarketContext
from mlcore.pipeline.models.base import BUY, NEUTRAL, SELL

GRADES = ("A+", "A", "B", "C")  # best first; C promises nothing
NO_GRADE = ""
# The defaults, in one place (GradingRules, HitGrades and the GradingConfig row read these):
# the hit rate each grade promises, net of the round trip, and the confirmations it needs.
DEFAULT_PROMISES = {"A+": 0.60, "A": 0.57, "B": 0.54}
DEFAULT_CONFIRMATIONS = {"A+": 2, "A": 1, "B": 0}
# What a promise may be: a grade promising a hit rate below a coin's would make every call
# "supported" and the product would stop abstaining (a promise of 0 made every call A+).
PROMISE_RANGE = (0.5, 1.0)


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
        default_factory=lambda: tuple(
            GradeRule(grade, promise, DEFAULT_CONFIRMATIONS[grade])
            for grade, promise in DEFAULT_PROMISES.items()
        )
    )

    def __post_init__(self) -> None:
        """The one check of any thresholds, wherever they were edited (admin, settings page, a
        stored model's config): promises within ``PROMISE_RANGE``, confirmations between 0 and
        the number there are, both never easier for a better grade."""
        if [r.grade for r in self.rules] != list(GRADES[: len(self.rules)]):
            raise ValueError(f"rules must be given best first as {GRADES[:-1]}")
        low, high = PROMISE_RANGE
        for r in self.rules:
            if not low <= r.min_confidence <= high:
                raise ValueError(
                    f"{r.grade}: a promised hit rate must be between {low:g} and {high:g}, "
                    f"not {r.min_confidence:g}"
                )
            if not 0 <= r.min_confirmations <= len(NAMES):
                raise ValueError(
                    f"{r.grade}: confirmations must be between 0 and {len(NAMES)} "
                    f"(there are {len(NAMES)}: {', '.join(NAMES)}), not {r.min_confirmations}"
                )
        for better, worse in zip(self.rules, self.rules[1:], strict=False):
            if better.min_confidence < worse.min_confidence:
                raise ValueError(f"{better.grade} must promise at least what {worse.grade} does")
            if better.min_confirmations < worse.min_confirmations:
                raise ValueError(
                    f"{better.grade} must ask at least the confirmations {worse.grade} does"
                )

    def to_dict(self) -> dict:
        return {"rules": [asdict(r) for r in self.rules]}

    def promise(self, grade: str) -> float | None:
        """The hit rate a grade promises (its minimum confidence); None for C."""
        return next((r.min_confidence for r in self.rules if r.grade == grade), None)

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
    confidence: np.ndarray  # a call's hit probability; a neutral row's class probability
    grade: np.ndarray  # object: "A+", "A", "B", "C", or "" for neutral
    confirmations: dict[str, np.ndarray]  # name -> bool per row

    def __len__(self) -> int:
        return len(self.direction)

    def take(self, index: np.ndarray) -> Graded:
        return Graded(
            self.direction[index],
            self.confidence[index],
            self.grade[index],
            {k: v[index] for k, v in self.confirmations.items()},
        )


DIRECTION = np.array([-1, 0, 1])  # class index -> direction


def call_strength(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's call (+1 buy, -1 sell, 0 neutral: the most probable class) and its strength,
    |p(buy) - p(sell)|: what the hit calibrator turns into a confidence."""
    direction = DIRECTION[probabilities.argmax(axis=1)]
    return direction, np.abs(probabilities[:, 2] - probabilities[:, 0])


def grade(
    probabilities: np.ndarray,
    context: MarketContext,
    p_xgb: np.ndarray,
    p_lstm: np.ndarray,
    rules: GradingRules | None = None,
    hit_confidence: np.ndarray | None = None,
) -> Graded:
    """Grade each row of calibrated ``probabilities`` (rows aligned with ``context``), by
    ``hit_confidence`` (each call's hit probability; NaN grades C). Without it (a model from
    before hit calibration) the predicted class's probability stands in."""
    rules = rules or GradingRules()
    predicted = probabilities.argmax(axis=1)
    direction = DIRECTION[predicted]
    confidence = probabilities[np.arange(len(predicted)), predicted]
    if hit_confidence is not None:
        confidence = np.where(direction != 0, hit_confidence, confidence)
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


__all__ = [
    "BUY",
    "DEFAULT_CONFIRMATIONS",
    "DEFAULT_PROMISES",
    "GRADES",
    "NO_GRADE",
    "SELL",
    "GradeRule",
    "Graded",
    "GradingRules",
    "call_strength",
    "grade",
]
