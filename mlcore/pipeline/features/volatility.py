"""Volatility: ATR/NATR, Bollinger width and %b, Keltner position, historical volatility,
Parkinson and Garman-Klass estimators."""

from __future__ import annotations

import numpy as np
import talib

from analysis.indicators import (
    bollinger,
    ema_memory,
    garman_klass_volatility,
    log_returns,
    parkinson_volatility,
    wilder_memory,
)
from mlcore.pipeline.features.bars import Bars
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams


def atr(b: Bars, period: int = 14) -> np.ndarray:
    return b.memo(("atr", period), lambda: talib.ATR(b.high, b.low, b.close, period))


def _bbands(b: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return b.memo("bbands", lambda: bollinger(b.close, 20, 2.0))


def _bb_width(b: Bars) -> np.ndarray:
    upper, middle, lower = _bbands(b)
    return (upper - lower) / middle


def _bb_pctb(b: Bars) -> np.ndarray:
    upper, _, lower = _bbands(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(upper > lower, (b.close - lower) / (upper - lower), 0.5)


def _keltner_position(b: Bars) -> np.ndarray:
    """Where close sits in a Keltner channel (EMA20 +/- 2 ATR10): -1 lower band, +1 upper."""
    middle = b.memo(("ema", 20), lambda: talib.EMA(b.close, 20))
    return (b.close - middle) / (2.0 * atr(b, 10))


def _hv(b: Bars, window: int) -> np.ndarray:
    returns = b.memo(("logret", 1), lambda: log_returns(b.close, 1))
    return talib.STDDEV(returns, window, 1.0) * np.sqrt(window / (window - 1))


def definitions(p: FeatureParams) -> list[FeatureDef]:
    defs = [
        FeatureDef("atr_14_pct", wilder_memory(14), lambda b: atr(b) / b.close),
        FeatureDef("natr_14", wilder_memory(14), lambda b: talib.NATR(b.high, b.low, b.close, 14)),
        # ATR against its own recent mean: is volatility expanding or contracting?
        FeatureDef(
            "atr_rel_100", wilder_memory(14) + 100, lambda b: atr(b) / talib.SMA(atr(b), 100)
        ),
        FeatureDef("bb_width_20", 20, _bb_width),
        FeatureDef("bb_pctb_20", 20, _bb_pctb),
        FeatureDef("keltner_pos_20", max(ema_memory(20), wilder_memory(10)), _keltner_position),
        FeatureDef(
            f"parkinson_{p.range_window}",
            p.range_window,
            lambda b, w=p.range_window: parkinson_volatility(b.high, b.low, w),
        ),
        FeatureDef(
            f"garman_klass_{p.range_window}",
            p.range_window,
            lambda b, w=p.range_window: garman_klass_volatility(b.open, b.high, b.low, b.close, w),
        ),
    ]
    defs += [FeatureDef(f"hv_{w}", w + 1, lambda b, w=w: _hv(b, w)) for w in p.hv_windows]
    return defs
