"""The risk model that serves: a volatility forecast and a first-touch calibrator per horizon,
fitted on training rows only, and the figures it gives at a bar. Pure; no Django.

``fit_risk(series, step_ms, train_end_ms)`` fits every horizon (``HORIZON_HOURS`` in bars of
the interval) on the rows whose outcomes ended by ``train_end_ms``: the scale-free volatility
forecast pooled over the symbols (so it serves symbols it never saw), and the touch calibrator
on ideas at every few bars of the same period.

``figures_at(model, bars)`` reads a symbol's trailing bars (from ``span_first`` of its last
bar) and gives, at the last bar, per horizon: the forecast spread of the log return, the
expected absolute move (sqrt(2/pi) spreads, a normal's mean absolute value), and the 50 % and
90 % ranges of the close at the horizon and of the high and low reached within it. The ranges
are conformal, with adaptive conformal inference run over the trailing span: the same function
``evaluate`` judges, on the same span, so what is served is what was proven. The span starts
``SPAN_DAYS`` before the start of the bar's week (a fixed grid of 7 days from the epoch), so
every bar of a week reads from the same first bar, and ``intervals_over`` gives a week's bars
in one pass, equal to the live figure at each (the forecasts and ACI are causal: a bar's figure
reads bars up to it only); ``simulate`` and ``evaluate`` use it.

``idea_odds(model, h, spread, side, entry, stop, target)``: the calibrated probabilities that
the target is touched first, the stop first, or neither by the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlcore.pipeline.risk import outcomes, ranges, touch, volatility

HORIZON_HOURS = (4, 24, 72)
COVERAGES = (0.5, 0.9)
SPAN_DAYS = 150  # trailing bars the live figures read: a month of warm-up, then outcomes
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
IDEA_MULTIPLES = (0.5, 1.0, 1.5)  # stop and target distances of the calibration ideas
# A call's own levels, placed from the forecast: the stop one spread away, the target one and
# a half (the odds say what that is worth; neither is tuned to any data).
STOP_SPREADS, TARGET_SPREADS = 1.0, 1.5


@dataclass(frozen=True)
class HorizonModel:
    h: int  # bars
    vol: volatility.VolForecast
    touch: touch.TouchCalibrator

    def to_dict(self) -> dict:
        return {"h": self.h, "vol": self.vol.to_dict(), "touch": self.touch.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> HorizonModel:
        return cls(
            int(data["h"]),
            volatility.VolForecast.from_dict(data["vol"]),
            touch.TouchCalibrator.from_dict(data["touch"]),
        )


@dataclass(frozen=True)
class RiskModel:
    step_ms: int
    horizons: tuple[HorizonModel, ...]

    @staticmethod
    def span_first(bar_ms: int) -> int:
        """The open time from which the figures at ``bar_ms`` read: ``SPAN_DAYS`` before the
        start of the bar's week (the same for every bar of that week)."""
        return (bar_ms // WEEK_MS) * WEEK_MS - SPAN_DAYS * DAY_MS

    def horizon(self, h: int) -> HorizonModel:
        """The fitted horizon nearest ``h`` bars (at or above it where one is)."""
        above = [m for m in self.horizons if m.h >= h]
        return min(above, key=lambda m: m.h) if above else max(self.horizons, key=lambda m: m.h)

    def to_dict(self) -> dict:
        return {"step_ms": self.step_ms, "horizons": [m.to_dict() for m in self.horizons]}

    @classmethod
    def from_dict(cls, data: dict) -> RiskModel:
        return cls(int(data["step_ms"]), tuple(HorizonModel.from_dict(m) for m in data["horizons"]))


@dataclass(frozen=True)
class Bars:
    """One symbol's bars in time order."""

    open_time: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Bars:
        return cls(
            frame["open_time"].to_numpy(np.int64),
            frame["high"].to_numpy(np.float64),
            frame["low"].to_numpy(np.float64),
            frame["close"].to_numpy(np.float64),
        )

    def slice(self, first: int, stop: int) -> Bars:
        return Bars(*(x[first:stop] for x in (self.open_time, self.high, self.low, self.close)))

    def since(self, open_ms: int) -> Bars:
        return self.slice(int(np.searchsorted(self.open_time, open_ms)), len(self.open_time))


def horizons_in_bars(step_ms: int) -> tuple[int, ...]:
    return tuple(sorted({max(1, round(hours * HOUR_MS / step_ms)) for hours in HORIZON_HOURS}))


def ideas(bars: Bars, var: np.ndarray, rows: np.ndarray, h: int):
    """Calibration ideas entered at the close of ``rows``: both sides, every pair of stop and
    target distances in forecast spreads. Returns (a, b, horizon variance) and the outcomes."""
    spread = np.sqrt(var[rows])
    ok = np.isfinite(spread) & (spread > 0)
    rows, spread = rows[ok], spread[ok]
    pairs = [(s, kt, ks) for s in (1, -1) for kt in IDEA_MULTIPLES for ks in IDEA_MULTIPLES]
    k = len(pairs)
    start = np.repeat(rows, k)
    side = np.tile([p[0] for p in pairs], len(rows))
    a = np.repeat(spread, k) * np.tile([p[1] for p in pairs], len(rows))
    b = np.repeat(spread, k) * np.tile([p[2] for p in pairs], len(rows))
    close = bars.close[start]
    upper = np.where(side > 0, close * np.exp(a), close * np.exp(b))
    lower = np.where(side > 0, close * np.exp(-b), close * np.exp(-a))
    outcome = outcomes.first_touch(bars.high, bars.low, start, upper, lower, side, h)
    return np.column_stack([a, b, np.repeat(spread, k) ** 2]), outcome


def fit_risk(
    series: Sequence[Bars], step_ms: int, train_end_ms: int, idea_every: int = 6
) -> RiskModel:
    """Every horizon fitted on the rows whose outcome ended by ``train_end_ms``."""
    frames = [volatility.features(s.open_time, s.high, s.low, s.close, step_ms) for s in series]
    fitted = []
    for h in horizons_in_bars(step_ms):
        trained = [s.open_time + (h + 1) * step_ms <= train_end_ms for s in series]
        realized = [outcomes.forward_variance(s.close, h) for s in series]
        vol = volatility.fit(
            "model",
            [f.loc[m].reset_index(drop=True) for f, m in zip(frames, trained, strict=True)],
            [r[m] for r, m in zip(realized, trained, strict=True)],
            h,
            step_ms,
        )
        shapes, results = [], []
        for s, f, m in zip(series, frames, trained, strict=True):
            every = np.arange(len(s.close))[::idea_every]
            shape, result = ideas(s, vol.predict(f), every[m[every]], h)
            shapes.append(shape)
            results.append(result)
        calibrator = touch.TouchCalibrator.fit(*np.concatenate(shapes).T, np.concatenate(results))
        fitted.append(HorizonModel(h, vol, calibrator))
    return RiskModel(step_ms, tuple(fitted))


@dataclass(frozen=True)
class HorizonFigures:
    h: int  # bars
    spread: float  # forecast standard deviation of the log return over the horizon
    expected_move: float  # expected absolute move, as a fraction of the price
    close: dict[str, tuple[float, float]]  # "50"/"90" -> price range of the close at h
    high: dict[str, tuple[float, float]]  # ... of the highest price reached within h
    low: dict[str, tuple[float, float]]  # ... of the lowest

    def to_dict(self) -> dict:
        return {
            "h": self.h,
            "spread": self.spread,
            "expected_move": self.expected_move,
            "close": {k: list(v) for k, v in self.close.items()},
            "high": {k: list(v) for k, v in self.high.items()},
            "low": {k: list(v) for k, v in self.low.items()},
        }


def horizon_scores(bars: Bars, var: np.ndarray, h: int) -> dict[str, np.ndarray]:
    """Each bar's outcomes over h in forecast spreads (NaN where not resolved)."""
    spread = np.sqrt(var)
    up, down = outcomes.forward_extremes(bars.high, bars.low, bars.close, h)
    return {
        "close": outcomes.forward_move(bars.close, h) / spread,
        "high": up / spread,
        "low": down / spread,
    }


Found = list[tuple[HorizonModel, float, dict[str, dict[str, tuple[float, float]]]]]


def _span_arrays(model: RiskModel, bars: Bars, only: int | None):
    """Per horizon, over every bar of ``bars`` (one span): the forecast variance and each
    range's (lo, hi) arrays in spreads, keyed (what, "50"/"90")."""
    frame = volatility.features(
        bars.open_time, bars.high, bars.low, bars.close, model.step_ms, baselines=False
    )
    out = []
    for m in model.horizons:
        if only is not None and m.h != only:
            continue
        var = m.vol.predict(frame)
        buckets = ranges.volatility_buckets(np.sqrt(var))
        arrays = {}
        for what, z in horizon_scores(bars, var, m.h).items():
            for r in ranges.adaptive_ranges_at(z, m.h, COVERAGES, buckets):
                arrays[(what, f"{int(r.coverage * 100)}")] = (r.lo, r.hi)
        out.append((m, var, arrays))
    return out


def _found_at(spans, row: int) -> Found | None:
    out = []
    for m, var, arrays in spans:
        if not np.isfinite(var[row]):
            return None
        z_ranges: dict[str, dict[str, tuple[float, float]]] = {}
        for (what, key), (lo, hi) in arrays.items():
            if not (np.isfinite(lo[row]) and np.isfinite(hi[row])):
                return None
            z_ranges.setdefault(what, {})[key] = (float(lo[row]), float(hi[row]))
        out.append((m, float(np.sqrt(var[row])), z_ranges))
    return out


def intervals_at(model: RiskModel, bars: Bars, only: int | None = None) -> Found | None:
    """Per horizon (``only``: that one of bars), at the last of ``bars`` (read from
    ``span_first``): the forecast spread and each range in spreads (z units) of the close, high
    and low; None where the volatility is not measurable yet or too few outcomes have resolved
    in the span."""
    bars = bars.since(model.span_first(int(bars.open_time[-1])))
    return _found_at(_span_arrays(model, bars, only), len(bars.close) - 1)


def intervals_over(
    model: RiskModel, bars: Bars, rows: np.ndarray, only: int | None = None
) -> list[Found | None]:
    """``intervals_at`` at each of ``rows`` (indices into ``bars``), one pass per week: equal
    to ``intervals_at(model, bars up to the row)`` at each."""
    rows = np.asarray(rows, dtype=np.int64)
    out: list[Found | None] = [None] * len(rows)
    if not len(rows):
        return out
    firsts = np.array([model.span_first(int(t)) for t in bars.open_time[rows]], dtype=np.int64)
    for first in np.unique(firsts):
        mine = np.flatnonzero(firsts == first)
        start = int(np.searchsorted(bars.open_time, first))
        spans = _span_arrays(model, bars.slice(start, int(rows[mine].max()) + 1), only)
        for i in mine:
            out[i] = _found_at(spans, int(rows[i]) - start)
    return out


def in_prices(found: Found, price: float) -> list[HorizonFigures]:
    """The figures of ``intervals_at`` in prices around ``price`` (the bar's close)."""

    def prices(z: dict[str, tuple[float, float]], spread: float) -> dict:
        return {k: (price * float(np.exp(lo * spread)), price * float(np.exp(hi * spread)))
                for k, (lo, hi) in z.items()}  # fmt: skip

    return [
        HorizonFigures(
            m.h,
            spread,
            float(np.sqrt(2 / np.pi) * spread),
            prices(z["close"], spread),
            prices(z["high"], spread),
            prices(z["low"], spread),
        )
        for m, spread, z in found
    ]


def figures_at(
    model: RiskModel, bars: Bars, only: int | None = None
) -> list[HorizonFigures] | None:
    """The risk figures at the last of ``bars``, in prices (``intervals_at``)."""
    found = intervals_at(model, bars, only)
    return None if found is None else in_prices(found, float(bars.close[-1]))


@dataclass(frozen=True)
class Odds:
    target: float  # P(the target is touched first within the horizon)
    stop: float
    neither: float
    baseline: tuple[float, float, float]  # the driftless closed form's, before recalibration

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "stop": self.stop,
            "neither": self.neither,
            "baseline": list(self.baseline),
        }


def idea_odds(
    model: HorizonModel, spread: float, side: int, entry: float, stop: float, target: float
) -> Odds:
    """The odds of an idea entered at ``entry``, whose stop and target lie on its side's
    proper sides (the caller checks)."""
    if side > 0:
        a, b = np.log(target / entry), np.log(entry / stop)
    else:
        a, b = np.log(entry / target), np.log(stop / entry)
    args = (np.array([a]), np.array([b]), np.array([spread**2]))
    base = touch.driftless(*args)[0]
    p = model.touch.apply(*args)[0]
    return Odds(float(p[0]), float(p[1]), float(p[2]), tuple(float(x) for x in base))


def call_levels(
    model: HorizonModel, spread: float, direction: int, entry: float, round_trip: float
) -> dict:
    """A directional call's stop and target placed from the forecast, their odds, and the
    round trip's cost in units of the stop distance (what a hit must first pay back)."""
    stop = entry * float(np.exp(-direction * STOP_SPREADS * spread))
    target = entry * float(np.exp(direction * TARGET_SPREADS * spread))
    odds = idea_odds(model, spread, direction, entry, stop, target)
    return {
        "h": model.h,
        "stop": stop,
        "target": target,
        "odds": odds.to_dict(),
        "cost_in_stop": round_trip * entry / abs(entry - stop),
    }
