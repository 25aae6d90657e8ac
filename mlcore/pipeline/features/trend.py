"""Trend: price against SMAs and EMAs, EMA slopes, ADX/ADXR/DI, Aroon, Supertrend, Ichimoku."""

from __future__ import annotations

import numpy as np
import talib

from analysis.indicators import ema_memory, ichimoku, supertrend, wilder_memory
from mlcore.pipeline.features.bars import Bars
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams


def ema(b: Bars, period: int) -> np.ndarray:
    return b.memo(("ema", period), lambda: talib.EMA(b.close, period))


def _slope(b: Bars, period: int, bars: int) -> np.ndarray:
    line = ema(b, period)
    out = np.full_like(line, np.nan)
    out[bars:] = line[bars:] / line[:-bars] - 1.0
    return out


def _aroon(b: Bars) -> tuple[np.ndarray, np.ndarray]:
    return b.memo("aroon", lambda: talib.AROON(b.high, b.low, 25))


def _supertrend(b: Bars) -> tuple[np.ndarray, np.ndarray]:
    return b.memo("supertrend", lambda: supertrend(b.high, b.low, b.close, 10, 3.0))


def _ichimoku(b: Bars) -> dict[str, np.ndarray]:
    return b.memo("ichimoku", lambda: ichimoku(b.high, b.low))


def definitions(p: FeatureParams) -> list[FeatureDef]:
    defs = [
        FeatureDef(f"close_sma_{n}", n, lambda b, n=n: b.close / talib.SMA(b.close, n) - 1.0)
        for n in p.sma_periods
    ]
    defs += [
        FeatureDef(f"close_ema_{n}", ema_memory(n), lambda b, n=n: b.close / ema(b, n) - 1.0)
        for n in p.ema_periods
    ]
    defs += [
        FeatureDef(
            f"ema_slope_{n}",
            ema_memory(n) + p.slope_bars,
            lambda b, n=n: _slope(b, n, p.slope_bars),
        )
        for n in p.ema_slope_periods
    ]
    adx_memory = 2 * wilder_memory(14)
    defs += [
        FeatureDef("adx_14", adx_memory, lambda b: talib.ADX(b.high, b.low, b.close, 14)),
        FeatureDef("adxr_14", adx_memory + 14, lambda b: talib.ADXR(b.high, b.low, b.close, 14)),
        FeatureDef(
            "plus_di_14", wilder_memory(14), lambda b: talib.PLUS_DI(b.high, b.low, b.close, 14)
        ),
        FeatureDef(
            "minus_di_14", wilder_memory(14), lambda b: talib.MINUS_DI(b.high, b.low, b.close, 14)
        ),
        FeatureDef("aroon_up_25", 26, lambda b: _aroon(b)[1]),
        FeatureDef("aroon_down_25", 26, lambda b: _aroon(b)[0]),
        FeatureDef("aroon_osc_25", 26, lambda b: talib.AROONOSC(b.high, b.low, 25)),
        # The Supertrend's ratcheting bands forget their past at each flip; a generous memory.
        FeatureDef("supertrend_dir", 4 * wilder_memory(10), lambda b: _supertrend(b)[0]),
        FeatureDef(
            "supertrend_dist",
            4 * wilder_memory(10),
            lambda b: (b.close - _supertrend(b)[1]) / b.close,
        ),
    ]
    defs += [
        FeatureDef(
            f"ichimoku_{line}_dist",
            52 + 26,
            lambda b, line=line: b.close / _ichimoku(b)[line] - 1.0,
        )
        for line in ("tenkan", "kijun", "senkou_a", "senkou_b")
    ]
    return defs
