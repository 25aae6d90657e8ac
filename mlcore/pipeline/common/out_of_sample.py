"""How good are the predictions, on rows the model never trained on? Plain data out.

- Per grade (and per cumulative grade set): count, hit rate net of the round trip with a
  Wilson 95 % interval, mean and median realised return net of it, and whether the grade's
  calls back its promise (``hits.grade_figures``: the one tally every report uses).
- Calibration of the raw and calibrated probabilities: log loss and Brier score beside the
  class prior's (the prior is what the training rows alone would have said), top-label ECE and
  the reliability table; accuracy beside always guessing the prior's majority class.
- The information coefficient: Spearman's rank correlation of p(buy) - p(sell) with the
  forward return over the label horizon (p-value on the effective sample size).

Realised return of a signal: it enters at the bar's close and exits where its triple-barrier
label was decided: at the barrier it touched, else at the close of the bar that ended it
(timeout, or a bar touching both barriers). A hit is a call whose realised return in its
direction beats the round-trip cost: the event a call's confidence is the probability of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mlcore.pipeline.common.calibrate import (
    ReliabilityBin,
    brier,
    expected_calibration_error,
    log_loss,
    reliability,
)
from mlcore.pipeline.common.fills import (
    by_direction,
    credited,
    maker_filled,
    next_bar_extremes,
)
from mlcore.pipeline.common.grading import GRADES, Graded, GradingRules
from mlcore.pipeline.common.hits import GradeFigures, HitGrades, grade_figures, hit_ece
from mlcore.pipeline.common.judged import HIT_BARRIER, CallFigures
from mlcore.pipeline.common.labels import Labels
from mlcore.pipeline.common.rule_baselines import ic_with_p

GRADE_SETS: dict[str, tuple[str, ...]] = {
    "A+ only": ("A+",),
    "A and up": ("A+", "A"),
    "B and up": ("A+", "A", "B"),
    "all": GRADES,
}


@dataclass(frozen=True)
class Outcomes:
    """What happened after each row, aligned with the rows evaluated."""

    y: np.ndarray  # class index of the label (-1 unknown)
    exit_return: np.ndarray  # price change from the close to the label's exit (NaN unknown)
    forward_return: np.ndarray  # close to close over the label horizon (NaN unknown)
    long_fills: np.ndarray  # a limit buy at the close traded in the next bar (``fills``)
    short_fills: np.ndarray  # a limit sell at the close did

    def take(self, index: np.ndarray) -> Outcomes:
        return Outcomes(
            self.y[index],
            self.exit_return[index],
            self.forward_return[index],
            self.long_fills[index],
            self.short_fills[index],
        )

    def filled(self, direction: np.ndarray) -> np.ndarray:
        return by_direction(direction, self.long_fills, self.short_fills)


def outcomes(candles: pd.DataFrame, labels: Labels) -> Outcomes:
    """Outcomes for every bar of ``candles`` (the frame the labels were made from)."""
    close = candles["close"].to_numpy(np.float64)
    times = candles["open_time"].to_numpy(np.int64)
    label = labels.label.to_numpy()
    end = labels.end_time.to_numpy()
    known = ~np.isnan(label)
    end_pos = np.searchsorted(times, np.where(known, end, times[0]))
    exit_price = np.where(
        label == 1.0,
        labels.upper.to_numpy(),
        np.where(
            label == -1.0, labels.lower.to_numpy(), close[np.minimum(end_pos, len(close) - 1)]
        ),
    )
    exit_return = np.where(known, exit_price / close - 1.0, np.nan)
    h = labels.horizon
    forward = np.full(len(close), np.nan)
    if len(close) > h:
        forward[:-h] = close[h:] / close[:-h] - 1.0
    y = np.where(known, np.nan_to_num(label) + 1, -1).astype(np.int64)
    step = int(np.median(np.diff(times))) if len(times) > 1 else 0
    low, high = (candles[c].to_numpy(np.float64) for c in ("low", "high"))
    next_low, next_high = next_bar_extremes(times, low, high, step)
    ones = np.ones(len(close))
    return Outcomes(
        y,
        exit_return,
        forward,
        maker_filled(ones, close, next_low, next_high),
        maker_filled(-ones, close, next_low, next_high),
    )


@dataclass(frozen=True)
class CalibrationFigures:
    rows: int
    log_loss: float
    brier: float
    ece: float
    reliability: list[ReliabilityBin]


@dataclass(frozen=True)
class EvaluationFigures:
    rows: int  # rows with a known label
    class_counts: dict[str, int]
    accuracy: float
    majority_accuracy: float  # always predicting the prior's most likely class
    prior_log_loss: float
    prior_brier: float
    raw: CalibrationFigures  # the ensemble's probabilities before calibration
    calibrated: CalibrationFigures
    ic: float | None
    ic_p_value: float | None  # on the effective sample of non-overlapping forward returns
    hit_ece: float | None  # of the calls' hit probabilities against their hits
    hit_base_rate: float | None  # share of the calls with a known outcome that were hits
    entry: str  # "taker", or "maker": a call counts only where its limit filled
    unfilled: int  # calls a maker entry would have missed (no outcome)
    signals: int  # directional predictions (graded), with or without a known outcome
    per_grade: list[GradeFigures]
    grade_sets: list[GradeFigures]
    round_trip_cost: float
    horizon: int

    def as_dict(self) -> dict:
        return asdict(self)

    def judged(self, symbol: str = "") -> CallFigures:
        """The stored shape (``judged.CallFigures``): the class figures under ``classes``."""
        d = self.as_dict()
        return CallFigures(
            kind="symbol",
            hit_definition=HIT_BARRIER,
            horizon=self.horizon,
            round_trip_cost=self.round_trip_cost,
            rows=self.rows,
            signals=self.signals,
            ic=self.ic,
            ic_p_value=self.ic_p_value,
            hit_ece=self.hit_ece,
            hit_base_rate=self.hit_base_rate,
            entry=self.entry,
            unfilled=self.unfilled,
            per_grade=d["per_grade"],
            grade_sets=d["grade_sets"],
            symbol=symbol,
            classes={k: d[k] for k in CLASS_KEYS},
        )


CLASS_KEYS = (
    "class_counts",
    "accuracy",
    "majority_accuracy",
    "prior_log_loss",
    "prior_brier",
    "raw",
    "calibrated",
)


def net_returns(direction: np.ndarray, o: Outcomes, cost: float) -> np.ndarray:
    """What each call made: its direction times the realised return, less the round trip."""
    return direction * o.exit_return - cost


def _calibration(y: np.ndarray, p: np.ndarray) -> CalibrationFigures:
    return CalibrationFigures(
        len(y), log_loss(y, p), brier(y, p), expected_calibration_error(y, p), reliability(y, p)
    )


def information_coefficient(
    p: np.ndarray, forward: np.ndarray, horizon: int
) -> tuple[float | None, float | None]:
    """Spearman's rho of p(buy) - p(sell) with the forward return, and its two-sided p-value
    on n / horizon draws: the one IC every report uses (``rule_baselines.ic_with_p``)."""
    rho, p_value, _ = ic_with_p(p[:, 2] - p[:, 0], forward, horizon)
    return rho, p_value


def evaluate(
    raw: np.ndarray,
    calibrated: np.ndarray,
    prior: np.ndarray,
    graded: Graded,
    o: Outcomes,
    round_trip_cost: float,
    horizon: int,
    rules: GradingRules | None = None,
    min_calls: int = 30,
    min_independent: int = HitGrades.min_independent,
    maker_entry: bool = False,
) -> EvaluationFigures:
    """Figures for rows aligned across all arguments; ``prior`` is one row of class
    probabilities per row (or one row for all), from training labels only. With ``rules``,
    each grade is judged against the hit rate it promises, on its independent calls (the rows
    are one symbol's consecutive bars: one independent call per ``horizon`` bars)."""
    prior = np.broadcast_to(prior, calibrated.shape)
    net = net_returns(graded.direction, o, round_trip_cost)
    net, unfilled = credited(
        net, graded.direction, o.filled(graded.direction) if maker_entry else None
    )
    calls = (graded.direction != 0) & np.isfinite(net) & np.isfinite(graded.confidence)
    known = o.y >= 0
    y = o.y[known]
    if not len(y):
        raise ValueError("no row with a known outcome to evaluate")
    ic, ic_p = information_coefficient(calibrated, o.forward_return, horizon)
    slots = np.arange(len(net)) // max(horizon, 1)
    return EvaluationFigures(
        rows=len(y),
        class_counts={c: int((y == k).sum()) for k, c in enumerate(("sell", "neutral", "buy"))},
        accuracy=float((calibrated[known].argmax(axis=1) == y).mean()),
        majority_accuracy=float((prior[known].argmax(axis=1) == y).mean()),
        prior_log_loss=log_loss(y, prior[known]),
        prior_brier=brier(y, prior[known]),
        raw=_calibration(y, raw[known]),
        calibrated=_calibration(y, calibrated[known]),
        ic=ic,
        ic_p_value=ic_p,
        hit_ece=hit_ece(graded.confidence[calls], net[calls] > 0) if calls.any() else None,
        hit_base_rate=float((net[calls] > 0).mean()) if calls.any() else None,
        entry="maker" if maker_entry else "taker",
        unfilled=unfilled,
        signals=int((graded.direction != 0).sum()),
        per_grade=[
            grade_figures(
                g,
                graded.grade == g,
                net,
                graded.confidence,
                rules.promise(g) if rules else None,
                min_calls,
                slots,
                min_independent,
            )
            for g in GRADES
        ],
        grade_sets=[
            grade_figures(name, np.isin(graded.grade, grades), net, graded.confidence, slots=slots)
            for name, grades in GRADE_SETS.items()
        ],
        round_trip_cost=round_trip_cost,
        horizon=horizon,
    )
