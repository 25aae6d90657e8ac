"""Technical indicators: TA-Lib where it has them, the rest here. Pure numpy; no Django.

Every function is causal: the value at bar t uses bars up to t only. Inputs are float64 arrays
of equal length; outputs are NaN until their window has filled.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import talib

# How little of an exponential smoother's seed may survive before two runs of it, started at
# different bars, count as equal. Used to size warm-up windows (see ``exponential_memory``).
SEED_TOLERANCE = 1e-13


def exponential_memory(alpha: float) -> int:
    """Bars after which an exponential smoother with weight ``alpha`` has forgotten its seed
    to ``SEED_TOLERANCE``: the warm-up that makes a tail-window computation equal the full one."""
    return math.ceil(math.log(SEED_TOLERANCE) / math.log(1.0 - alpha))


def wilder_memory(period: int) -> int:
    """Memory of TA-Lib's Wilder smoothing (RSI, ATR, ADX): alpha = 1/period."""
    return exponential_memory(1.0 / period) + period


def ema_memory(period: int) -> int:
    return exponential_memory(2.0 / (period + 1)) + period


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    return talib.SUM(x, window)


def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    return talib.MAX(x, window)


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    return talib.MIN(x, window)


def log_returns(close: np.ndarray, bars: int = 1) -> np.ndarray:
    out = np.full_like(close, np.nan)
    out[bars:] = np.log(close[bars:] / close[:-bars])
    return out


def kaufman_efficiency_ratio(close: np.ndarray, window: int) -> np.ndarray:
    """|net change over the window| / sum of |bar-to-bar changes|: 1 = a straight line,
    0 = pure noise. TA-Lib uses it inside KAMA but does not expose it."""
    change = np.full_like(close, np.nan)
    change[window:] = np.abs(close[window:] - close[:-window])
    step = np.full_like(close, np.nan)
    step[1:] = np.abs(np.diff(close))
    path = rolling_sum(step, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        er = np.where(path > 0, change / path, 0.0)
    er[np.isnan(change) | np.isnan(path)] = np.nan
    return er


@numba.njit(cache=True)
def _supertrend(high, low, close, atr, multiplier):  # pragma: no cover - compiled
    n = close.shape[0]
    direction = np.full(n, np.nan)
    line = np.full(n, np.nan)
    upper = np.nan
    lower = np.nan
    trend = 1.0
    for t in range(n):
        if np.isnan(atr[t]):
            continue
        mid = (high[t] + low[t]) / 2.0
        basic_upper = mid + multiplier * atr[t]
        basic_lower = mid - multiplier * atr[t]
        if np.isnan(upper):
            upper, lower = basic_upper, basic_lower
        else:
            # The bands only ratchet towards price, unless price closed through them.
            upper = basic_upper if (basic_upper < upper or close[t - 1] > upper) else upper
            lower = basic_lower if (basic_lower > lower or close[t - 1] < lower) else lower
        if trend > 0 and close[t] < lower:
            trend = -1.0
        elif trend < 0 and close[t] > upper:
            trend = 1.0
        direction[t] = trend
        line[t] = lower if trend > 0 else upper
    return direction, line


def supertrend(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 10, multiplier: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Supertrend direction (+1 up, -1 down) and its trailing line."""
    atr = talib.ATR(high, low, close, period)
    return _supertrend(high, low, close, atr, float(multiplier))


@numba.njit(cache=True)
def _neumaier(total, compensation, value):  # pragma: no cover - compiled
    """Add ``value`` to a compensated sum: the rounding lost is kept, so a large value added
    and later taken out (a crash bar's fourth power) leaves no error behind."""
    t = total + value
    if abs(total) >= abs(value):
        compensation += (total - t) + value
    else:
        compensation += (value - t) + total
    return t, compensation


@numba.njit(cache=True)
def skew_kurt_from_sums(s1, s2, s3, s4, n):  # pragma: no cover - compiled
    """Bias-corrected sample skewness and excess kurtosis (pandas' definitions) from the
    window's sums of x, x^2, x^3, x^4."""
    a = s1 / n
    r = a * a
    b = s2 / n - r
    r = r * a
    c = s3 / n - r - 3.0 * a * b
    r = r * a
    d = s4 / n - r - 6.0 * b * a * a - 4.0 * c * a
    if b <= 0.0:
        return np.nan, np.nan
    skew = np.sqrt(n * (n - 1.0)) * c / ((n - 2.0) * b**1.5)
    kurt = ((n * n - 1.0) * d / (b * b) - 3.0 * (n - 1.0) ** 2) / ((n - 2.0) * (n - 3.0))
    return skew, kurt


@numba.njit(cache=True)
def _rolling_skew_kurt(x, window):  # pragma: no cover - compiled
    n = x.shape[0]
    skew = np.full(n, np.nan)
    kurt = np.full(n, np.nan)
    sums = np.zeros(4)  # x, x^2, x^3, x^4 over the window, each with its compensation
    comp = np.zeros(4)
    valid = 0
    run = 0  # consecutive equal values ending at t
    for t in range(n):
        v = x[t]
        run = run + 1 if t > 0 and v == x[t - 1] else 1
        if not np.isnan(v):
            p = v
            for k in range(4):
                sums[k], comp[k] = _neumaier(sums[k], comp[k], p)
                p *= v
            valid += 1
        if t >= window:
            old = x[t - window]
            if not np.isnan(old):
                p = old
                for k in range(4):
                    sums[k], comp[k] = _neumaier(sums[k], comp[k], -p)
                    p *= old
                valid -= 1
        if valid == window and run < window:  # a constant window has no shape: NaN
            skew[t], kurt[t] = skew_kurt_from_sums(
                sums[0] + comp[0],
                sums[1] + comp[1],
                sums[2] + comp[2],
                sums[3] + comp[3],
                float(window),
            )
    return skew, kurt


def rolling_skew_kurt(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling bias-corrected skewness and excess kurtosis over ``window`` values (pandas'
    definitions; NaN where the window holds a NaN or is constant), from compensated running
    sums of the powers. pandas' own rolling drifted by up to 2e-8 from the window's exact
    value on real returns, which a live computation over the window alone cannot reproduce."""
    return _rolling_skew_kurt(np.ascontiguousarray(x, dtype=np.float64), int(window))


@numba.njit(cache=True)
def _rolling_mean_std(x, window):  # pragma: no cover - compiled
    n = x.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    for t in range(window - 1, n):
        total = 0.0
        for i in range(t - window + 1, t + 1):
            total += x[i]
        m = total / window
        squares = 0.0
        for i in range(t - window + 1, t + 1):
            d = x[i] - m
            squares += d * d
        mean[t] = m
        std[t] = np.sqrt(squares / window)
    return mean, std


def bollinger(
    close: np.ndarray, window: int = 20, width: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands (upper, middle, lower) as TA-Lib's BBANDS with an SMA middle, but each
    window summed afresh and its deviations centred (two passes). TA-Lib's running sums of
    price squared lose the variance to cancellation: on BTC at 60,000 its %b near zero was off
    by 1e-8 relative, more than a tail or a live computation may differ from the full one."""
    middle, std = _rolling_mean_std(np.ascontiguousarray(close, dtype=np.float64), int(window))
    return middle + width * std, middle, middle - width * std


def donchian_mid(high: np.ndarray, low: np.ndarray, window: int) -> np.ndarray:
    return (rolling_max(high, window) + rolling_min(low, window)) / 2.0


def ichimoku(
    high: np.ndarray, low: np.ndarray, tenkan: int = 9, kijun: int = 26, senkou: int = 52
) -> dict[str, np.ndarray]:
    """Tenkan, kijun and the cloud as it stands at each bar. The spans are drawn 26 bars
    ahead, so the cloud *at* bar t was computed at bar t-26: shifting them forward here is
    causal. The chikou span (close drawn 26 bars back) would be look-ahead and is left out."""
    tenkan_line = donchian_mid(high, low, tenkan)
    kijun_line = donchian_mid(high, low, kijun)
    span_a = (tenkan_line + kijun_line) / 2.0
    span_b = donchian_mid(high, low, senkou)
    return {
        "tenkan": tenkan_line,
        "kijun": kijun_line,
        "senkou_a": _shift_forward(span_a, kijun),
        "senkou_b": _shift_forward(span_b, kijun),
    }


def _shift_forward(x: np.ndarray, bars: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    out[bars:] = x[:-bars]
    return out


def parkinson_volatility(high: np.ndarray, low: np.ndarray, window: int) -> np.ndarray:
    """Per-bar volatility from the high-low range (Parkinson 1980)."""
    term = np.log(high / low) ** 2
    return np.sqrt(talib.SMA(term, window) / (4.0 * math.log(2.0)))


def garman_klass_volatility(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int
) -> np.ndarray:
    """Per-bar volatility from OHLC (Garman and Klass 1980)."""
    term = 0.5 * np.log(high / low) ** 2 - (2.0 * math.log(2.0) - 1.0) * np.log(close / open_) ** 2
    return np.sqrt(np.maximum(talib.SMA(term, window), 0.0))


def rolling_vwap(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, window: int
) -> np.ndarray:
    typical = (high + low + close) / 3.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return rolling_sum(typical * volume, window) / rolling_sum(volume, window)


@numba.njit(cache=True)
def _rolling_mean_std_running(x, window):  # pragma: no cover - compiled
    n = x.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    s1 = c1 = s2 = c2 = 0.0
    nans = 0
    for t in range(n):
        v = x[t]
        if np.isnan(v):
            nans += 1
        else:
            s1, c1 = _neumaier(s1, c1, v)
            s2, c2 = _neumaier(s2, c2, v * v)
        if t >= window:
            old = x[t - window]
            if np.isnan(old):
                nans -= 1
            else:
                s1, c1 = _neumaier(s1, c1, -old)
                s2, c2 = _neumaier(s2, c2, -old * old)
        if t >= window - 1 and nans == 0:
            m = (s1 + c1) / window
            mean[t] = m
            std[t] = np.sqrt(max((s2 + c2) / window - m * m, 0.0))
    return mean, std


def zscore(x: np.ndarray, window: int) -> np.ndarray:
    """(x - mean) / population deviation over the window (TA-Lib's SMA and STDDEV), from
    compensated running sums: TA-Lib's plain ones drifted by 3e-9 relative over 1M bars of log
    volume. For series far from zero relative to their spread (prices), use ``bollinger``'s
    two passes instead."""
    mean, std = _rolling_mean_std_running(np.ascontiguousarray(x, dtype=np.float64), int(window))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, (x - mean) / std, 0.0) * np.where(np.isnan(std), np.nan, 1.0)
