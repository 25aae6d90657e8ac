"""Derivatives: funding rate, its z-score, cumulative funding over 24h and 7d, hours to the
next funding. All as-of: a settlement is known from its funding_time on, so bar t sees only
settlements stamped at or before the last millisecond of bar t. Where the latest known
settlement is older than ``funding_max_age_hours`` (a hole in the funding history) every
funding input is NaN: a stale rate is not forward-filled."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.indicators import zscore
from mlcore.pipeline.features.bars import Bars, counts_upto
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Funding:
    time: np.ndarray  # epoch ms, ascending, as Binance stamped it
    rate: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Funding:
        frame = frame.sort_values("funding_time")
        return cls(
            frame["funding_time"].to_numpy(dtype=np.int64),
            frame["rate"].to_numpy(dtype=np.float64),
        )


def _latest(b: Bars, f: Funding) -> np.ndarray:
    """Index of the latest settlement known at each bar's close (-1: none yet)."""
    return b.memo("funding_idx", lambda: counts_upto(f.time, b.available_ms) - 1)


def _fresh(b: Bars, f: Funding, max_age_ms: int) -> np.ndarray:
    """Bars whose latest known settlement is at most ``max_age_ms`` old."""

    def compute() -> np.ndarray:
        idx = _latest(b, f)
        age = b.available_ms - f.time[np.maximum(idx, 0)]
        return (idx >= 0) & (age <= max_age_ms)

    return b.memo(("funding_fresh", max_age_ms), compute)


def _asof(b: Bars, f: Funding, values: np.ndarray, max_age_ms: int) -> np.ndarray:
    idx = _latest(b, f)
    return np.where(_fresh(b, f, max_age_ms), values[np.maximum(idx, 0)], np.nan)


def _cumulative(b: Bars, f: Funding, span_ms: int, max_age_ms: int) -> np.ndarray:
    """Sum of the rates settled in (close - span, close]."""
    csum = np.concatenate([[0.0], np.cumsum(f.rate)])
    upto = _latest(b, f) + 1
    since = counts_upto(f.time, b.available_ms - span_ms)
    total = csum[upto] - csum[np.minimum(since, upto)]
    # Until a full span of settlements is known the sum would be short: NaN, not a guess.
    known_from = f.time[0] + span_ms if len(f.time) else np.iinfo(np.int64).max
    return np.where((b.available_ms >= known_from) & _fresh(b, f, max_age_ms), total, np.nan)


def _hours_to_next(b: Bars, f: Funding, max_age_ms: int) -> np.ndarray:
    """The schedule is public: the next settlement is one funding interval after the last,
    the interval being the spacing of the last two settlements (8h, or 4h on some symbols)."""
    hour = np.round(f.time / HOUR_MS) * HOUR_MS  # Binance stamps a few ms late
    interval = np.concatenate([[np.nan], np.diff(hour)])
    nxt = _asof(b, f, hour + interval, max_age_ms)
    return (nxt - b.available_ms - 1) / HOUR_MS


def definitions(p: FeatureParams, funding: Funding | None, step_ms: int) -> list[FeatureDef]:
    if funding is None or not len(funding.time):
        return []
    f = funding
    age = p.funding_max_age_hours * HOUR_MS

    def bars_for(ms: int) -> int:
        return math.ceil(ms / step_ms) + 1

    return [
        FeatureDef("funding_rate", 1, lambda b: _asof(b, f, f.rate, age), needs_funding=True),
        FeatureDef(
            f"funding_z_{p.funding_z_events}",
            bars_for((p.funding_z_events + 1) * 8 * HOUR_MS),
            lambda b: _asof(b, f, zscore(f.rate, p.funding_z_events), age),
            needs_funding=True,
        ),
        FeatureDef(
            "funding_cum_24h",
            bars_for(DAY_MS),
            lambda b: _cumulative(b, f, DAY_MS, age),
            needs_funding=True,
        ),
        FeatureDef(
            "funding_cum_7d",
            bars_for(7 * DAY_MS),
            lambda b: _cumulative(b, f, 7 * DAY_MS, age),
            needs_funding=True,
        ),
        FeatureDef(
            "hours_to_funding",
            bars_for(16 * HOUR_MS),
            lambda b: _hours_to_next(b, f, age),
            needs_funding=True,
        ),
    ]
