"""Calibration: make a stated confidence of 0.7 right about 70 % of the time.

One-vs-rest per class with scikit-learn (isotonic regression, or Platt's sigmoid via a
logistic regression on the logit), then rows renormalised to sum to one, as scikit-learn's
``CalibratedClassifierCV`` does. Fitted on out-of-fold predictions only (the walk-forward
decides which). Saved as plain JSON: isotonic as its breakpoints (applied with ``np.interp``,
exactly what ``IsotonicRegression.predict`` computes with ``out_of_bounds="clip"``), sigmoid
as two numbers per class.

Also the figures that judge calibration: log loss, Brier score, expected calibration error
(top-label, equal-width bins) and the reliability table behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss as sk_log_loss

Method = Literal["isotonic", "sigmoid"]
EPS = 1e-6
# Isotonic steps reach 0 and 1 on finite data; no market outcome is that certain, and one
# "impossible" outcome would cost log(1e-6) in log loss. Calibrated probabilities are clipped
# to it before the rows are renormalised (so none ends below FLOOR / 3).
FLOOR = 1e-3


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Calibrator:
    method: Method
    # isotonic: per class (x breakpoints, y values); sigmoid: per class (slope, intercept)
    params: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]

    @classmethod
    def fit(cls, p: np.ndarray, y: np.ndarray, method: Method = "isotonic") -> Calibrator:
        params = []
        for k in range(p.shape[1]):
            target = (y == k).astype(np.float64)
            if method == "isotonic":
                iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                iso.fit(p[:, k], target)
                params.append((tuple(iso.X_thresholds_), tuple(iso.y_thresholds_)))
            elif method == "sigmoid":
                lr = LogisticRegression(C=1e6).fit(_logit(p[:, k])[:, None], target)
                params.append(((float(lr.coef_[0, 0]),), (float(lr.intercept_[0]),)))
            else:
                raise ValueError(f"unknown calibration method {method!r}: isotonic or sigmoid")
        return cls(method, tuple(params))

    def apply(self, p: np.ndarray) -> np.ndarray:
        out = np.empty_like(p, dtype=np.float64)
        for k, (a, b) in enumerate(self.params):
            if self.method == "isotonic":
                out[:, k] = np.interp(p[:, k], a, b)
            else:
                out[:, k] = 1.0 / (1.0 + np.exp(-(a[0] * _logit(p[:, k]) + b[0])))
        out = np.clip(out, FLOOR, 1.0)
        return out / out.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {"method": self.method, "params": [[list(a), list(b)] for a, b in self.params]}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        params = tuple((tuple(a), tuple(b)) for a, b in data["params"])
        return cls(data["method"], params)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPS, 1.0)
    return float(sk_log_loss(y, p / p.sum(axis=1, keepdims=True), labels=[0, 1, 2]))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Multi-class Brier score: mean squared distance to the one-hot outcome."""
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    confidence: float | None  # mean stated confidence of the predicted class
    accuracy: float | None  # how often the predicted class happened


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[ReliabilityBin]:
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        table.append(
            ReliabilityBin(
                float(edges[b]),
                float(edges[b + 1]),
                n,
                float(confidence[inside].mean()) if n else None,
                float(correct[inside].mean()) if n else None,
            )
        )
    return table


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Top-label ECE: the count-weighted gap between confidence and accuracy per bin."""
    table = reliability(y, p, bins)
    n = sum(b.count for b in table)
    return float(
        sum(b.count * abs(b.confidence - b.accuracy) for b in table if b.count) / max(n, 1)
    )
