"""Market confirmations a grade may ask for, per bar, from candles known at that bar's close.

- ``regime``: the regime is TRENDING and its EMA slope points the signal's way;
- ``htf_trend``: the last closed 4h candle sits on the signal's side of its 20-period SMA;
- ``volume``: volume above normal (log-volume z-score over 24 bars above zero);
- ``members``: XGBoost and the LSTM both pick the signal's direction (see ``grading``).
The first three are causal like the features (TA-Lib on the past, closed 4h candles only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

from analysis.indicators import zscore
from analysis.intervals import interval_ms
from analysis.regime import Regime, classify
from mlcore.pipeline.features.bars import Bars
from mlcore.pipeline.features.timeframes import on_base

NAMES = ("regime", "htf_trend", "volume", "members")
HTF = "4h"


@dataclass(frozen=True)
class MarketContext:
    """Per bar of the candles it was built from."""

    open_time: np.ndarray
    regime: np.ndarray  # object: "TRENDING" / "RANGING" / "CHOPPY" / None in warm-up
    trend_direction: np.ndarray  # +1/-1 where TRENDING (the EMA slope's sign), else 0
    htf_direction: np.ndarray  # +1/-1: close above/below the 4h SMA20; 0 unknown
    volume_high: np.ndarray  # bool

    def at(self, open_times: np.ndarray) -> MarketContext:
        """The rows for ``open_times`` (each must be one of ours)."""
        idx = np.searchsorted(self.open_time, open_times)
        if np.any(idx >= len(self.open_time)) or np.any(self.open_time[idx] != open_times):
            raise KeyError("open times outside the market context")
        return MarketContext(
            open_times,
            self.regime[idx],
            self.trend_direction[idx],
            self.htf_direction[idx],
            self.volume_high[idx],
        )


def market_context(candles: pd.DataFrame, interval: str) -> MarketContext:
    step = interval_ms(interval)
    b = Bars.from_frame(candles, step)
    series = classify(b.high, b.low, b.close)
    trending = np.array([r == Regime.TRENDING for r in series.regime])
    trend_direction = np.where(trending, np.sign(np.nan_to_num(series.ema_slope)), 0.0)
    htf_ms = interval_ms(HTF)
    if htf_ms > step and htf_ms % step == 0:
        above = on_base(b, htf_ms, lambda h: h.close / talib.SMA(h.close, 20) - 1.0)
        htf_direction = np.sign(np.nan_to_num(above))
    else:  # a 4h or slower base interval has no faster-than-itself 4h trend to ask
        htf_direction = np.zeros(len(b))
    with np.errstate(invalid="ignore"):
        volume_high = np.nan_to_num(zscore(np.log1p(b.volume), 24)) > 0
    return MarketContext(
        b.open_time,
        np.array([None if r is None else str(r) for r in series.regime], dtype=object),
        trend_direction.astype(np.int64),
        htf_direction.astype(np.int64),
        volume_high,
    )
