"""Market regime per bar: TRENDING, RANGING or CHOPPY. Pure numpy; no Django.

- TRENDING: directional strength (ADX) with an efficient path (Kaufman ER) and an EMA that
  moves by a meaningful fraction of ATR per bar.
- CHOPPY: an inefficient path (low ER) whose bars are wide against the band price has moved
  in (ATR / (highest high - lowest low) over the ER window): each bar swings across most of
  the range, so price moves a lot and goes nowhere, the worst case for any rule.
- RANGING: neither: direction is weak and price drifts within its band in small steps.
Confidence is how far the deciding inputs sit beyond their thresholds, squashed to [0.5, 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
import talib

from analysis.indicators import kaufman_efficiency_ratio


class Regime(StrEnum):
    TRENDING = "TRENDING"
    RANGING = "RANGING"
    CHOPPY = "CHOPPY"


@dataclass(frozen=True)
class RegimeThresholds:
    adx_period: int = 14
    adx_trend: float = 25.0  # ADX at or above: directional
    er_window: int = 20
    er_trend: float = 0.30  # efficiency at or above: a clean path
    er_chop: float = 0.20  # efficiency below: a noisy path
    ema_period: int = 50
    slope_bars: int = 5
    slope_trend: float = 0.05  # |EMA change per bar| / ATR at or above: the mean is moving
    atr_period: int = 14
    noise_chop: float = 0.30  # ATR / band at or above: bars as wide as the range itself

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class RegimeSeries:
    regime: np.ndarray  # object array of Regime, None during warm-up
    confidence: np.ndarray
    adx: np.ndarray
    er: np.ndarray
    ema_slope: np.ndarray  # EMA change per bar, in ATRs
    noise: np.ndarray  # ATR / (highest high - lowest low) over the ER window


def _margin(value: np.ndarray, threshold: float, scale: float) -> np.ndarray:
    return (value - threshold) / scale


def _confidence(margin: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(np.abs(margin))


def classify(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, t: RegimeThresholds | None = None
) -> RegimeSeries:
    t = t or RegimeThresholds()
    adx = talib.ADX(high, low, close, t.adx_period)
    er = kaufman_efficiency_ratio(close, t.er_window)
    atr = talib.ATR(high, low, close, t.atr_period)
    ema = talib.EMA(close, t.ema_period)
    slope = np.full_like(close, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope[t.slope_bars :] = (ema[t.slope_bars :] - ema[: -t.slope_bars]) / t.slope_bars
        slope = slope / atr
        band = talib.MAX(high, t.er_window) - talib.MIN(low, t.er_window)
        noise = atr / band

    trend_margin = np.minimum.reduce(
        [
            _margin(adx, t.adx_trend, 10.0),
            _margin(er, t.er_trend, 0.2),
            _margin(np.abs(slope), t.slope_trend, 0.1),
        ]
    )
    chop_margin = np.minimum(_margin(t.er_chop, er, 0.2), _margin(noise, t.noise_chop, 0.1))
    trending = trend_margin >= 0
    choppy = ~trending & (chop_margin >= 0)
    ready = ~(np.isnan(adx) | np.isnan(er) | np.isnan(slope) | np.isnan(noise))

    regime = np.full(close.shape, None, dtype=object)
    regime[ready & trending] = Regime.TRENDING
    regime[ready & choppy] = Regime.CHOPPY
    regime[ready & ~trending & ~choppy] = Regime.RANGING
    # Confidence: distance beyond the deciding thresholds; for RANGING, distance from both.
    ranging_margin = np.minimum(-trend_margin, -chop_margin)
    margin = np.where(trending, trend_margin, np.where(choppy, chop_margin, ranging_margin))
    confidence = np.where(ready, _confidence(margin), np.nan)
    return RegimeSeries(regime, confidence, adx, er, slope, noise)
