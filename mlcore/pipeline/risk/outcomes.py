"""What happened after each bar, from OHLC bars alone. Every value at bar t reads bars
t+1 .. t+h only; the last h bars have none (NaN): their outcome is not known yet."""

from __future__ import annotations

import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

TARGET, STOP, NEITHER = 0, 1, 2  # first-touch outcomes


def log_returns(close: np.ndarray) -> np.ndarray:
    """r[t] = log(close[t] / close[t-1]); r[0] is NaN."""
    close = np.asarray(close, dtype=np.float64)
    r = np.full(len(close), np.nan)
    r[1:] = np.log(close[1:] / close[:-1])
    return r


def _forward(values: np.ndarray, h: int, reduce) -> np.ndarray:
    """reduce over values[t+1 .. t+h] for each t (NaN where the window runs past the data)."""
    out = np.full(len(values), np.nan)
    if len(values) > h:
        out[: len(values) - h] = reduce(sliding_window_view(values[1:], h), axis=1)
    return out


def forward_move(close: np.ndarray, h: int) -> np.ndarray:
    """log(close[t+h] / close[t])."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    out[:-h] = np.log(close[h:] / close[:-h])
    return out


def forward_variance(close: np.ndarray, h: int) -> np.ndarray:
    """Realized variance over the next h bars: the sum of their squared log returns."""
    return _forward(log_returns(close) ** 2, h, np.sum)


def forward_extremes(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, h: int
) -> tuple[np.ndarray, np.ndarray]:
    """log(max high / close[t]) and log(min low / close[t]) over bars t+1 .. t+h."""
    close = np.asarray(close, dtype=np.float64)
    up = _forward(np.asarray(high, dtype=np.float64), h, np.max)
    down = _forward(np.asarray(low, dtype=np.float64), h, np.min)
    return np.log(up / close), np.log(down / close)


@numba.njit(cache=True)
def _first_touch(high, low, start, upper, lower, side, h):  # pragma: no cover - compiled
    out = np.full(len(start), -1, dtype=np.int64)
    n = len(high)
    for i in range(len(start)):
        t = start[i]
        if t + h >= n:
            continue  # unresolved: the horizon runs past the data
        out[i] = NEITHER
        for k in range(t + 1, t + h + 1):
            up = high[k] >= upper[i]
            down = low[k] <= lower[i]
            hit_target = up if side[i] > 0 else down
            hit_stop = down if side[i] > 0 else up
            # A bar whose range holds both cannot say which came first: the stop (the
            # cautious reading, and what a trader's stop order would have done).
            if hit_stop:
                out[i] = STOP
                break
            if hit_target:
                out[i] = TARGET
                break
    return out


def first_touch(
    high: np.ndarray,
    low: np.ndarray,
    start: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    side: np.ndarray,
    h: int,
) -> np.ndarray:
    """For each idea (entered at the close of bar ``start[i]``, with barrier prices ``upper``
    and ``lower``, ``side`` +1 long / -1 short), which was touched first within h bars:
    TARGET, STOP or NEITHER; -1 where the horizon runs past the data. A long's target is the
    upper barrier, a short's the lower one."""
    return _first_touch(
        np.asarray(high, dtype=np.float64),
        np.asarray(low, dtype=np.float64),
        np.asarray(start, dtype=np.int64),
        np.asarray(upper, dtype=np.float64),
        np.asarray(lower, dtype=np.float64),
        np.asarray(side, dtype=np.int64),
        int(h),
    )
