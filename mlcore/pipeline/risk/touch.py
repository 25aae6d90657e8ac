"""First-touch odds: for an idea (side, entry, stop, target, horizon), the probability that
the target is touched first, the stop first, or neither by the horizon.

The baseline is the driftless closed form: a Brownian log price with the forecast variance per
bar, absorbed at the stop and the target. On an interval of width L = a + b (a: the log distance
to the target, b: to the stop), started b above the stop, the probability of leaving through
the target by time T is

    P_target(T) = b / L + sum_n 2 (-1)^n / (n pi) sin(n pi b / L) exp(-n^2 pi^2 s2 T / (2 L^2))

(the eigenfunction expansion of the heat equation with absorbing ends), and by symmetry
P_stop(T) the same with a and b swapped; neither is the rest. With no time limit it is
b / (a + b), the gambler's ruin of a fair game.

``TouchCalibrator`` recalibrates the baseline on resolved outcomes from earlier folds (a
multinomial logistic regression on the baseline's log odds), as the hit calibrator does for
direction; with too few outcomes it keeps the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from mlcore.pipeline.risk.outcomes import NEITHER, STOP, TARGET


def _terms(ratio: np.ndarray) -> int:
    """Terms for the series to reach 1e-17: exp(-n^2 pi^2 ratio / 2) < e^-40."""
    smallest = float(np.nanmin(ratio)) if len(ratio) else 1.0
    return int(np.clip(np.ceil(np.sqrt(80.0 / (np.pi**2 * max(smallest, 1e-12)))) + 5, 20, 50_000))


def driftless(a: np.ndarray, b: np.ndarray, var_total: np.ndarray) -> np.ndarray:
    """(n, 3): P(target first), P(stop first), P(neither) for log distances ``a`` (to the
    target) and ``b`` (to the stop), both > 0, and the variance of the log price over the
    horizon ``var_total`` (per-bar variance times bars). The series is summed to convergence
    (few terms for ordinary ideas; thousands for a horizon far shorter than the distances),
    in chunks of rows so that memory stays bounded."""
    a, b, v = (np.asarray(x, dtype=np.float64).reshape(-1) for x in (a, b, var_total))
    out = np.empty((len(a), 3))
    for start in range(0, len(a), CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = _driftless(a[part], b[part], v[part])
    return out


CHUNK = 4_096


def _driftless(a: np.ndarray, b: np.ndarray, v: np.ndarray) -> np.ndarray:
    width = a + b
    ratio = v / width**2
    n = np.arange(1, _terms(ratio) + 1, dtype=np.float64)[None, :]
    decay = np.exp(-(n**2) * np.pi**2 * ratio[:, None] / 2.0)
    sign = np.where(n % 2 == 0, 1.0, -1.0)

    def through(start: np.ndarray) -> np.ndarray:
        # Leaving through the far end, started ``start`` from the near one.
        x = start[:, None] / width[:, None]
        series = (2.0 * sign / (n * np.pi)) * np.sin(n * np.pi * x) * decay
        return start / width + series.sum(axis=1)

    p_target = np.clip(through(b), 0.0, 1.0)
    p_stop = np.clip(through(a), 0.0, 1.0)
    total = p_target + p_stop
    scale = np.where(total > 1.0, 1.0 / total, 1.0)  # rounding in the tail of the series
    p_target, p_stop = p_target * scale, p_stop * scale
    return np.column_stack([p_target, p_stop, 1.0 - p_target - p_stop])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _inputs(base: np.ndarray, a: np.ndarray, b: np.ndarray, var_total: np.ndarray) -> np.ndarray:
    """The baseline's log odds, and the idea's shape: the horizon's spread against the width
    between stop and target, and the target's distance against the stop's. Price paths are
    not Brownian within and between bars (jumps, fat tails, mean reversion); these let the
    calibrator learn where the closed form errs."""
    width = a + b
    return np.column_stack(
        [
            _logit(base[:, TARGET]),
            _logit(base[:, STOP]),
            np.log(var_total / width**2),
            np.log(a / b),
        ]
    )


@dataclass(frozen=True)
class TouchCalibrator:
    """The baseline's odds mapped to the outcomes' frequencies on earlier resolved ideas."""

    coef: np.ndarray | None  # (3, 4) multinomial weights; None: the baseline as it is
    intercept: np.ndarray | None
    rows: int

    MIN_ROWS = 300
    # Fifteen weights need far fewer than the millions of ideas a universe's history gives: a
    # fixed random sample of this many fits them as well, in a fifth of the time (the fit was
    # 94 % of a risk model's, which ``simulate`` refits at every window).
    MAX_ROWS = 50_000

    @classmethod
    def fit(
        cls, a: np.ndarray, b: np.ndarray, var_total: np.ndarray, outcome: np.ndarray
    ) -> TouchCalibrator:
        """Fit on resolved ideas (outcome TARGET, STOP or NEITHER; -1: unresolved, ignored)."""
        resolved = np.flatnonzero(outcome >= 0)
        if len(resolved) > cls.MAX_ROWS:
            pick = np.random.default_rng(0).choice(len(resolved), cls.MAX_ROWS, replace=False)
            resolved = resolved[np.sort(pick)]
        a, b, var_total, outcome = (np.asarray(x)[resolved] for x in (a, b, var_total, outcome))
        base = driftless(a, b, var_total)
        X = _inputs(base, a, b, var_total)
        ok = np.isfinite(X).all(axis=1)
        if ok.sum() < cls.MIN_ROWS or len(np.unique(outcome[ok])) < 3:
            return cls(None, None, int(ok.sum()))
        model = LogisticRegression(C=1.0, max_iter=1000)
        model.fit(X[ok], outcome[ok])
        order = np.argsort(model.classes_)  # TARGET, STOP, NEITHER are 0, 1, 2
        return cls(model.coef_[order], model.intercept_[order], int(ok.sum()))

    def apply(self, a: np.ndarray, b: np.ndarray, var_total: np.ndarray) -> np.ndarray:
        """(n, 3): the calibrated P(target first), P(stop first), P(neither)."""
        base = driftless(a, b, var_total)
        if self.coef is None:
            return base
        logits = (
            _inputs(base, *(np.asarray(x, dtype=np.float64).reshape(-1) for x in (a, b, var_total)))
            @ self.coef.T
            + self.intercept
        )
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {
            "coef": None if self.coef is None else self.coef.tolist(),
            "intercept": None if self.intercept is None else self.intercept.tolist(),
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TouchCalibrator:
        coef, intercept = data.get("coef"), data.get("intercept")
        return cls(
            None if coef is None else np.asarray(coef, dtype=np.float64),
            None if intercept is None else np.asarray(intercept, dtype=np.float64),
            int(data.get("rows", 0)),
        )


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    """The multi-class Brier score of (n, 3) probabilities against outcomes 0/1/2."""
    onehot = np.eye(3)[outcome]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def ece(p: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of each outcome's probability (target, stop, neither), the
    worst of the three: in equal-count bins, |mean probability - frequency| weighted."""
    worst = 0.0
    for k in (TARGET, STOP, NEITHER):
        prob, hit = p[:, k], (outcome == k).astype(float)
        order = np.argsort(prob, kind="mergesort")
        error = 0.0
        for part in np.array_split(order, bins):
            if len(part):
                error += len(part) * abs(prob[part].mean() - hit[part].mean())
        worst = max(worst, error / len(prob))
    return worst
