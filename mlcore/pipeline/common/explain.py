"""Why the XGBoost member leans the way it does: exact TreeSHAP, stored with every signal.

XGBoost's own ``pred_contribs`` (and ``pred_interactions``) is exact TreeSHAP in its C++ core;
measured against shap's ``TreeExplainer`` on our boosters it gives identical values (max
difference 0.0) in the same time (0.34 vs 0.36 ms a row), runs on the booster's device, and
needs no second library. One trap, handled here: the raw booster predicts with every tree, but
the member predicts with the trees kept by early stopping, so the explanation is computed on the
same ``iteration_range``; then the contributions plus the base value sum to the member's margin
(log-odds score) for the class, and softmax of the margins is its probability.

Only the XGBoost member is explained; the page says so. Pure; no Django.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xgboost as xgb

from mlcore.pipeline.models.base import CLASSES
from mlcore.pipeline.models.xgb import XGBMember


@dataclass(frozen=True)
class Driver:
    feature: str
    value: float | None  # the feature's value at the bar (None: missing, for the universe model)
    contribution: float  # to the class's log-odds score


@dataclass(frozen=True)
class Explanation:
    predicted_class: str
    base_value: float  # the score before any feature is known
    score: float  # base + contributions: the member's margin for the class
    probability: float | None  # the XGBoost member's own class probability (None: a regressor)
    drivers_for: list[Driver]  # largest positive contributions first
    drivers_against: list[Driver]  # largest negative contributions first
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


SMALL = 256  # rows below which one thread explains faster than a team


def _iteration_range(member: XGBMember) -> tuple[int, int]:
    assert member.model is not None
    return (0, int(member.model.best_iteration) + 1)


def contributions(member: XGBMember, X: np.ndarray) -> np.ndarray:
    """(rows, classes, features + 1): TreeSHAP values, the last column the base value."""
    X = np.asarray(X, dtype=np.float32)
    # A live bar is one row: OpenMP threads only add their start-up and, with two worker
    # processes on two cores, spin against each other (SHAP took 7 ms there, 1 ms alone).
    dmatrix = xgb.DMatrix(X, nthread=1 if len(X) < SMALL else -1)
    return member.booster.predict(
        dmatrix, pred_contribs=True, iteration_range=_iteration_range(member)
    )


def _describe(direction: str, drivers_for: list[Driver], drivers_against: list[Driver]) -> str:
    def listed(drivers: list[Driver]) -> str:
        return ", ".join(
            f"{d.feature} at {'n/a' if d.value is None else f'{d.value:.4g}'} "
            f"({d.contribution:+.3f})"
            for d in drivers
        )

    text = f"The XGBoost member leans {direction} mostly because of {listed(drivers_for[:3])}."
    if drivers_against:
        text += f" Pulling the other way: {listed(drivers_against[:2])}."
    return text


def explain(
    member: XGBMember, row: np.ndarray, names: tuple[str, ...], predicted: int, top: int = 5
) -> Explanation:
    """The top ``top`` drivers for and against class ``predicted`` at one bar."""
    row = np.asarray(row, dtype=np.float32).reshape(1, -1)
    values = contributions(member, row)[0, predicted]
    shap, base = values[:-1], float(values[-1])
    order = np.argsort(-shap)
    drivers_for = [
        Driver(names[i], float(row[0, i]), float(shap[i])) for i in order[:top] if shap[i] > 0
    ]
    drivers_against = [
        Driver(names[i], float(row[0, i]), float(shap[i])) for i in order[::-1][:top] if shap[i] < 0
    ]
    probability = float(member.predict_proba_rows(row)[0, predicted])
    direction = {0: "short", 1: "neutral", 2: "long"}[predicted]
    return Explanation(
        CLASSES[predicted],
        base,
        base + float(shap.sum()),
        probability,
        drivers_for,
        drivers_against,
        _describe(direction, drivers_for, drivers_against),
    )


@dataclass(frozen=True)
class Interaction:
    first: str
    second: str
    value: float  # SHAP interaction value (off-diagonal terms count both halves)


def interactions(
    member: XGBMember,
    row: np.ndarray,
    names: tuple[str, ...],
    predicted: int,
    features: list[str],
    top: int = 10,
) -> list[Interaction]:
    """The strongest pairwise TreeSHAP interactions among ``features`` (the top drivers)."""
    dmatrix = xgb.DMatrix(np.asarray(row, dtype=np.float32).reshape(1, -1), nthread=1)
    matrix = member.booster.predict(
        dmatrix, pred_interactions=True, iteration_range=_iteration_range(member)
    )[0, predicted]
    index = [names.index(f) for f in features if f in names]
    pairs = [
        Interaction(names[i], names[j], float(matrix[i, j] + matrix[j, i]))
        for a, i in enumerate(index)
        for j in index[a + 1 :]
    ]
    return sorted(pairs, key=lambda p: -abs(p.value))[:top]


def explain_score(
    booster: xgb.Booster, row: np.ndarray, names: list[str], direction: int, top: int = 5
) -> Explanation:
    """The universe model's XGBoost member (a regressor of the forward return in volatility
    units): its TreeSHAP contributions to the score, read in the call's direction, so a
    driver "for" a short call is one pushing the score down."""
    return explain_scores(booster, np.asarray(row).reshape(1, -1), names, np.array([direction]),
                          top)[0]  # fmt: skip


def explain_scores(
    booster: xgb.Booster, X: np.ndarray, names: list[str], direction: np.ndarray, top: int = 5
) -> list[Explanation]:
    """``explain_score`` for many rows in one TreeSHAP pass (a simulation's window)."""
    X = np.asarray(X, dtype=np.float32)
    values = booster.predict(
        xgb.DMatrix(X, nthread=1 if len(X) < SMALL else -1), pred_contribs=True
    )
    return [
        _score_explanation(X[i], values[i], names, int(direction[i]), top) for i in range(len(X))
    ]


def _score_explanation(
    row: np.ndarray, values: np.ndarray, names: list[str], direction: int, top: int
) -> Explanation:
    shap, base = values[:-1], float(values[-1])
    sign = 1.0 if direction >= 0 else -1.0
    signed = sign * shap

    def driver(i: int) -> Driver:
        # A missing input (no funding, a context symbol absent) has no value to show.
        value = float(row[i])
        return Driver(names[i], value if np.isfinite(value) else None, float(shap[i]))

    order = np.argsort(-signed)
    drivers_for = [driver(i) for i in order[:top] if signed[i] > 0]
    drivers_against = [driver(i) for i in order[::-1][:top] if signed[i] < 0]
    label = {1: "buy", -1: "sell", 0: "neutral"}[int(np.sign(direction))]
    text = _describe({"buy": "long", "sell": "short", "neutral": "neutral"}[label], drivers_for,
                     drivers_against)  # fmt: skip
    score = base + float(shap.sum())
    return Explanation(label, base, score, None, drivers_for, drivers_against, text)
