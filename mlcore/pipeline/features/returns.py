"""Returns and shape: log returns over 1..24 bars, rolling skew and kurtosis, Kaufman
efficiency ratio, distance to the rolling high and low, hour of day and day of week."""

from __future__ import annotations

import numpy as np

from analysis.indicators import (
    kaufman_efficiency_ratio,
    log_returns,
    rolling_max,
    rolling_min,
    rolling_skew_kurt,
)
from mlcore.pipeline.features.bars import Bars
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams

DAY_MS = 86_400_000


def _one_bar_returns(b: Bars) -> np.ndarray:
    return b.memo(("logret", 1), lambda: log_returns(b.close, 1))


def _moment(b: Bars, window: int, which: str) -> np.ndarray:
    skew, kurt = b.memo(("moments", window), lambda: rolling_skew_kurt(_one_bar_returns(b), window))
    return skew if which == "skew" else kurt


def _cyclical(b: Bars, period_ms: int, offset_ms: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The bar's close, when its features are known, placed on the cycle."""

    def compute() -> tuple[np.ndarray, np.ndarray]:
        angle = 2 * np.pi * ((b.available_ms + 1 + offset_ms) % period_ms) / period_ms
        return np.sin(angle), np.cos(angle)

    return b.memo(("cycle", period_ms, offset_ms), compute)


def definitions(p: FeatureParams) -> list[FeatureDef]:
    defs = [
        FeatureDef(f"logret_{n}", n + 1, lambda b, n=n: log_returns(b.close, n))
        for n in p.return_horizons
    ]
    for w in p.moment_windows:
        defs.append(FeatureDef(f"skew_{w}", w + 1, lambda b, w=w: _moment(b, w, "skew")))
        defs.append(FeatureDef(f"kurt_{w}", w + 1, lambda b, w=w: _moment(b, w, "kurt")))
    defs += [
        FeatureDef(f"er_{w}", w + 1, lambda b, w=w: kaufman_efficiency_ratio(b.close, w))
        for w in p.er_windows
    ]
    for w in p.extreme_windows:
        defs.append(
            FeatureDef(f"dist_high_{w}", w, lambda b, w=w: b.close / rolling_max(b.high, w) - 1)
        )
        defs.append(
            FeatureDef(f"dist_low_{w}", w, lambda b, w=w: b.close / rolling_min(b.low, w) - 1)
        )
    # 1970-01-01 was a Thursday: shift three days so the weekly cycle starts on Monday.
    week, monday = 7 * DAY_MS, 3 * DAY_MS
    defs += [
        FeatureDef("hour_sin", 1, lambda b: _cyclical(b, DAY_MS)[0]),
        FeatureDef("hour_cos", 1, lambda b: _cyclical(b, DAY_MS)[1]),
        FeatureDef("dow_sin", 1, lambda b: _cyclical(b, week, monday)[0]),
        FeatureDef("dow_cos", 1, lambda b: _cyclical(b, week, monday)[1]),
    ]
    return defs
