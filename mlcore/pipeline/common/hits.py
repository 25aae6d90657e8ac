"""A directional call's confidence as the probability that the call is a hit, and grades that
keep their promise. Pure.

A *hit* is a call whose move in its direction over the label horizon beats the round-trip
cost: ``direction * forward_return > round_trip_cost``. So a stated confidence of 0.56 means
"56 % of such calls made more than their fees and slippage", the same thing a grade's hit
rate counts.

- ``HitCalibrator``: a logistic regression (scikit-learn) of the hit on the call's strength
  (|score|) and on the round-trip cost in units of the move the horizon typically makes
  (``cost / (volatility x sqrt(horizon))``), fitted on out-of-fold calls only. The cost term
  matters: the same signal pays its fees easily in a wild month and rarely in a calm one, and
  a calibrator that ignored it was off by 8 points on three symbols (ECE 0.078 against 0.024
  with it, measured walk-forward). Saved as three numbers.
- ``walk_forward_confidence``: fold k's confidences from a calibrator fitted on the calls of
  earlier folds whose outcome was known before fold k opened; the first fold(s) only feed it.
- ``grade_calls``: the first grade whose promised hit rate the confidence reaches, else C.
- ``grade_evidence``: per grade, count, hit rate with its Wilson 95 % interval and mean net
  return; a grade is *supported* only when its Wilson lower bound reaches its promise and its
  calls made money on average net of costs, on at least ``min_independent`` independent calls.
  A grade that is not supported is not shown as a signal: the product abstains and says why.

Independent calls: calls on one symbol less than a horizon apart share most of their move (a
72-bar horizon on hourly bars is one independent call every 72 bars), so counting each as a
draw makes the Wilson interval too narrow. Given the calls' ``slots`` (``independent_slots``:
the symbol and the horizon-long block of time a call falls in), the interval is computed on
the number of slots the calls fill and the hit rate they had.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression

from mlcore.pipeline.common.grading import DEFAULT_PROMISES, GRADES


@dataclass(frozen=True)
class HitCalibrator:
    coef: tuple[float, float]  # strength, cost in volatility units
    intercept: float
    base_rate: float  # share of hits among the calls it was fitted on

    @classmethod
    def fit(cls, strength: np.ndarray, cost_z: np.ndarray, hit: np.ndarray) -> HitCalibrator:
        ok = np.isfinite(strength) & np.isfinite(cost_z)
        h = hit[ok].astype(int)
        if ok.sum() < 10 or len(set(h)) < 2:
            raise ValueError("a hit calibrator needs calls with known outcomes, hits and misses")
        model = LogisticRegression(C=100.0).fit(np.c_[strength[ok], cost_z[ok]], h)
        return cls(
            (float(model.coef_[0, 0]), float(model.coef_[0, 1])),
            float(model.intercept_[0]),
            float(h.mean()),
        )

    @classmethod
    def constant(cls, rate: float) -> HitCalibrator:
        """Every call at the same chance (a model that made too few calls to learn from)."""
        rate = float(np.clip(rate, 1e-3, 1 - 1e-3))
        return cls((0.0, 0.0), float(np.log(rate / (1 - rate))), rate)

    def apply(self, strength: np.ndarray, cost_z: np.ndarray) -> np.ndarray:
        z = self.intercept + self.coef[0] * strength + self.coef[1] * cost_z
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HitCalibrator:
        return cls(tuple(data["coef"]), float(data["intercept"]), float(data["base_rate"]))


def known_before(
    fold: np.ndarray, number: int, open_time: np.ndarray, end_time: np.ndarray
) -> np.ndarray:
    """The rows of earlier folds whose outcome was known (``end_time``) before fold ``number``
    opened: all a fold's calibration, or choice, may learn from."""
    return (fold < number) & (end_time < open_time[fold == number].min())


def walk_forward_confidence(
    strength: np.ndarray,
    cost_z: np.ndarray,
    hit: np.ndarray,
    settled: np.ndarray,
    fold: np.ndarray,
    open_time: np.ndarray,
    end_time: np.ndarray,
    min_calls: int,
) -> tuple[np.ndarray, list[int]]:
    """Per row, the confidence from a calibrator fitted on earlier folds' settled calls whose
    outcome was known (``end_time``) before the row's fold opened; NaN on folds that had too
    few such calls. Returns the confidences and the folds that got them."""
    confidence = np.full(len(strength), np.nan)
    done = []
    for number in np.unique(fold):
        here = fold == number
        past = settled & known_before(fold, number, open_time, end_time)
        if past.sum() < min_calls:
            continue
        calibrator = HitCalibrator.fit(strength[past], cost_z[past], hit[past])
        confidence[here] = calibrator.apply(strength[here], cost_z[here])
        done.append(int(number))
    return confidence, done


@dataclass(frozen=True)
class HitGrades:
    """Promised out-of-sample hit rates (net of the round trip), best grade first."""

    promises: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PROMISES))
    min_calls: int = 30  # a grade with fewer out-of-sample calls has no evidence either way
    min_independent: int = 300  # nor one whose calls fill fewer horizon-long blocks

    def __post_init__(self) -> None:
        if list(self.promises) != list(GRADES[: len(self.promises)]):
            raise ValueError(f"promises must be given best first as {GRADES[:-1]}")
        values = list(self.promises.values())
        if any(a <= b for a, b in itertools.pairwise(values)):
            raise ValueError("a better grade must promise a higher hit rate")

    def to_dict(self) -> dict:
        return asdict(self)


def grade_calls(confidence: np.ndarray, direction: np.ndarray, grades: HitGrades) -> np.ndarray:
    out = np.full(len(confidence), "C", dtype=object)
    decided = np.zeros(len(confidence), dtype=bool)
    for name, promise in grades.promises.items():
        take = (confidence >= promise) & ~decided
        out[take] = name
        decided |= take
    out[(direction == 0) | ~np.isfinite(confidence)] = ""
    return out


@dataclass(frozen=True)
class GradeFigures:
    """One grade's (or grade set's) out-of-sample calls: what came of them, and whether that
    backs the grade's promise."""

    grade: str
    count: int  # calls with a known outcome
    hits: int
    hit_rate: float | None
    hit_rate_low: float | None  # Wilson 95 %
    hit_rate_high: float | None
    mean_return: float | None  # net of the round-trip cost
    median_return: float | None
    promise: float | None = None  # None: it promises nothing (C, or a grade set)
    mean_confidence: float | None = None
    supported: bool = False
    reason: str = ""
    independent: int | None = None  # horizon-long blocks per symbol its calls fill


def wilson(hits: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def independent_slots(symbol: np.ndarray, open_time: np.ndarray, span_ms: np.ndarray | int):
    """Per call, the symbol and the ``span_ms``-long block of time (its horizon) it falls in:
    calls sharing a slot share most of their move."""
    codes = np.unique(symbol, return_inverse=True)[1].astype(np.int64).reshape(-1)
    span = np.broadcast_to(np.asarray(span_ms, dtype=np.int64), codes.shape)
    spans = np.unique(span, return_inverse=True)[1].astype(np.int64).reshape(-1)
    block = open_time.astype(np.int64) // span  # < 2^40 for any bar of this era
    return (codes << 50) | (spans << 40) | block


def _verdict(f: GradeFigures, min_calls: int, min_independent: int = 0) -> tuple[bool, str]:
    if f.count == 0:
        return False, "no calls"
    if f.promise is None:
        return False, "promises nothing: never shown as a signal"
    if f.count < min_calls:
        return False, f"{f.count} calls out of sample (need {min_calls})"
    if f.independent is not None and f.independent < min_independent:
        return False, (
            f"{f.count} calls fill {f.independent} independent horizons out of sample "
            f"(need {min_independent})"
        )
    if f.hit_rate_low < f.promise:
        return False, (
            f"hit rate {f.hit_rate:.1%} (Wilson low {f.hit_rate_low:.1%}) under its {f.promise:.0%}"
        )
    if f.mean_return <= 0:
        return False, f"right {f.hit_rate:.1%} of the time but lost {f.mean_return:+.3%} a call"
    return True, (
        f"hit rate {f.hit_rate:.1%} (Wilson low {f.hit_rate_low:.1%}), "
        f"net {f.mean_return:+.3%} a call"
    )


def grade_figures(
    name: str,
    take: np.ndarray,
    net_return: np.ndarray,
    confidence: np.ndarray | None = None,
    promise: float | None = None,
    min_calls: int = 30,
    slots: np.ndarray | None = None,
    min_independent: int = 0,
) -> GradeFigures:
    """The calls in ``take`` with a known ``net_return`` (direction x realised return - round
    trip): a hit is a positive net return, the same event the confidence is the chance of.
    With ``slots`` (``independent_slots``), the Wilson interval is on the independent calls."""
    take = take & np.isfinite(net_return)
    n = int(take.sum())
    independent = len(np.unique(slots[take])) if slots is not None else None
    if n == 0:
        empty = GradeFigures(name, 0, 0, None, None, None, None, None, promise)
        empty = replace(empty, independent=independent)
        return replace(empty, reason=_verdict(empty, min_calls, min_independent)[1])
    net = net_return[take]
    hits = int((net > 0).sum())
    draws = independent or n
    low, high = wilson(round(hits * draws / n), draws)
    conf = confidence[take] if confidence is not None else None
    f = GradeFigures(
        name,
        n,
        hits,
        hits / n,
        low,
        high,
        float(net.mean()),
        float(np.median(net)),
        promise,
        float(np.nanmean(conf)) if conf is not None and np.isfinite(conf).any() else None,
    )
    f = replace(f, independent=independent)
    supported, reason = _verdict(f, min_calls, min_independent)
    return replace(f, supported=supported, reason=reason)


def grade_evidence(
    grade: np.ndarray,
    confidence: np.ndarray,
    net_return: np.ndarray,
    grades: HitGrades,
    slots: np.ndarray | None = None,
) -> list[GradeFigures]:
    """Per grade (A+, A, B, C): its calls' figures and whether they back its promise."""
    return [
        grade_figures(
            name,
            grade == name,
            net_return,
            confidence,
            grades.promises.get(name),
            grades.min_calls,
            slots,
            grades.min_independent if slots is not None else 0,
        )
        for name in GRADES
    ]


def supported_grades(figures: list[GradeFigures] | list[dict]) -> list[str]:
    """The grades the evidence backs (figures as dataclasses or as stored dicts)."""
    rows = [f if isinstance(f, dict) else asdict(f) for f in figures]
    return [r["grade"] for r in rows if r.get("supported")]


def hit_ece(confidence: np.ndarray, hit: np.ndarray, bins: int = 10) -> float | None:
    """Expected calibration error of a binary confidence: the count-weighted gap between the
    mean stated confidence and the hit rate, in equal-width bins."""
    ok = np.isfinite(confidence)
    if not ok.any():
        return None
    c, h = confidence[ok], hit[ok].astype(np.float64)
    which = np.clip((c * bins).astype(int), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.sum() * abs(c[inside].mean() - h[inside].mean())
    return float(gap / ok.sum())
