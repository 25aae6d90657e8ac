"""Momentum: RSI, MACD, Stochastic, StochRSI, CCI, ROC, Williams %R, MFI (all TA-Lib)."""

from __future__ import annotations

import numpy as np
import talib

from analysis.indicators import ema_memory, wilder_memory
from mlcore.pipeline.features.bars import Bars
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams


def _macd(b: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return b.memo("macd", lambda: talib.MACD(b.close, 12, 26, 9))


def mean3(x: np.ndarray) -> np.ndarray:
    """The mean of each value and the two before it, summed afresh: TA-Lib's SMA inside STOCH
    and STOCHRSI carries a running sum, whose drift left -1e-12 where %D is exactly 0, more
    than a live computation over the last bars may differ from the full one."""
    out = np.full_like(x, np.nan)
    out[2:] = (x[2:] + x[1:-1] + x[:-2]) / 3.0
    return out


def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (14, 3, 3) as TA-Lib's STOCH: %K the 3-bar mean of the fast %K."""
    slow_k = mean3(talib.STOCHF(high, low, close, 14, 1, 0)[0])
    return slow_k, mean3(slow_k)


def stochrsi(rsi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """StochRSI (5, 3) of an RSI series, as TA-Lib's STOCHRSI (14, 5, 3) of the closes."""
    fast_k = talib.STOCHF(rsi, rsi, rsi, 5, 1, 0)[0]
    return fast_k, mean3(fast_k)


def _stoch(b: Bars) -> tuple[np.ndarray, np.ndarray]:
    return b.memo("stoch", lambda: stoch(b.high, b.low, b.close))


def _stochrsi(b: Bars) -> tuple[np.ndarray, np.ndarray]:
    return b.memo("stochrsi", lambda: stochrsi(talib.RSI(b.close, 14)))


def definitions(p: FeatureParams) -> list[FeatureDef]:
    defs = [
        FeatureDef(f"rsi_{n}", wilder_memory(n), lambda b, n=n: talib.RSI(b.close, n))
        for n in p.rsi_periods
    ]
    macd_memory = ema_memory(26) + ema_memory(9)
    defs += [
        # MACD is in price units: divided by price it compares across symbols and years.
        FeatureDef("macd", macd_memory, lambda b: _macd(b)[0] / b.close),
        FeatureDef("macd_signal", macd_memory, lambda b: _macd(b)[1] / b.close),
        FeatureDef("macd_hist", macd_memory, lambda b: _macd(b)[2] / b.close),
        FeatureDef("stoch_k", 20, lambda b: _stoch(b)[0]),
        FeatureDef("stoch_d", 20, lambda b: _stoch(b)[1]),
        FeatureDef("stochrsi_k", wilder_memory(14) + 8, lambda b: _stochrsi(b)[0]),
        FeatureDef("stochrsi_d", wilder_memory(14) + 8, lambda b: _stochrsi(b)[1]),
        FeatureDef("cci_20", 20, lambda b: talib.CCI(b.high, b.low, b.close, 20)),
        FeatureDef("willr_14", 14, lambda b: talib.WILLR(b.high, b.low, b.close, 14)),
        FeatureDef("mfi_14", 15, lambda b: talib.MFI(b.high, b.low, b.close, b.volume, 14)),
    ]
    defs += [
        FeatureDef(f"roc_{n}", n + 1, lambda b, n=n: talib.ROCP(b.close, n)) for n in p.roc_horizons
    ]
    return defs
