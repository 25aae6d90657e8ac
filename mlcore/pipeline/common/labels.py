"""Triple-barrier labels (López de Prado): for each bar, does price touch the upper barrier
(BUY), the lower barrier (SELL), or neither within the holding horizon (NEUTRAL)?

Entry is the bar's close. The barriers sit ``multiplier x ATR`` away, and with a fee-aware
floor they are never closer than what a round trip costs plus a minimum edge, so "buy" means
a move big enough to pay for itself. Each label records its end time (the touching bar's open
time, or the horizon's), which purged validation needs. A bar touching both barriers in the
same later bar is ambiguous from OHLC alone and labelled NEUTRAL. Bars whose horizon runs past
the data without a touch get no label (NaN): their outcome is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import talib

BUY, NEUTRAL, SELL = 1, 0, -1


@dataclass(frozen=True)
class BarrierParams:
    atr_period: int = 14
    upper_atr: float = 2.0
    lower_atr: float = 2.0
    horizon: int = 24  # bars
    round_trip_cost: float = 0.0  # e.g. 2 x 0.05 % taker fee = 0.001
    min_edge: float = 0.0  # extra return beyond costs a barrier must demand
    # A limit entry at the close: a call counts only if the next bar traded through it
    # (``fills``); the cost above is then the maker round trip. Saved with every model.
    maker_entry: bool = False


@dataclass(frozen=True)
class Labels:
    label: pd.Series  # BUY/NEUTRAL/SELL as float (NaN: unknown), indexed by open_time
    end_time: pd.Series  # open time (epoch ms) of the bar where the outcome was decided
    upper: pd.Series  # barrier prices
    lower: pd.Series
    horizon: int  # bars; only the last ``horizon`` bars may have unknown labels


@numba.njit(cache=True)
def _scan(high, low, upper, lower, horizon):  # pragma: no cover - compiled
    n = high.shape[0]
    label = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        if np.isnan(upper[t]) or np.isnan(lower[t]):
            continue
        last = t + horizon
        for k in range(t + 1, min(last, n - 1) + 1):
            up = high[k] >= upper[t]
            down = low[k] <= lower[t]
            if up or down:
                label[t] = 0.0 if (up and down) else (1.0 if up else -1.0)
                end[t] = k
                break
        if end[t] < 0 and last <= n - 1:
            label[t] = 0.0  # timed out
            end[t] = last
    return label, end


def triple_barrier(candles: pd.DataFrame, params: BarrierParams | None = None) -> Labels:
    p = params or BarrierParams()
    high = candles["high"].to_numpy(np.float64)
    low = candles["low"].to_numpy(np.float64)
    close = candles["close"].to_numpy(np.float64)
    atr = talib.ATR(high, low, candles["close"].to_numpy(np.float64), p.atr_period)
    floor = close * (p.round_trip_cost + p.min_edge)
    upper = close + np.maximum(p.upper_atr * atr, floor)
    lower = close - np.maximum(p.lower_atr * atr, floor)
    label, end = _scan(high, low, upper, lower, p.horizon)
    times = candles["open_time"].to_numpy(np.int64)
    index = pd.Index(times, name="open_time")
    end_time = np.where(end >= 0, times[np.maximum(end, 0)], -1)
    return Labels(
        pd.Series(label, index=index, name="label"),
        pd.Series(end_time, index=index, name="end_time"),
        pd.Series(upper, index=index, name="upper"),
        pd.Series(lower, index=index, name="lower"),
        p.horizon,
    )
