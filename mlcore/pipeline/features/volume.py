"""Volume and order flow: OBV slope, volume z-score, rolling-VWAP distance, taker-buy ratio,
trade-count z-score. The last two need columns that Binance's API and dump files carry and the
shared CSVs do not; the spec drops them for such a source."""

from __future__ import annotations

import numpy as np
import talib

from analysis.indicators import rolling_sum, rolling_vwap, zscore
from mlcore.pipeline.features.bars import Bars
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams


def _obv_slope(b: Bars, window: int) -> np.ndarray:
    """OBV's change over the window as a share of the volume traded in it: in [-1, 1].
    OBV's level depends on where the series starts; its change over a window does not."""
    obv = b.memo("obv", lambda: talib.OBV(b.close, b.volume))
    change = np.full_like(obv, np.nan)
    change[window:] = obv[window:] - obv[:-window]
    traded = rolling_sum(b.volume, window + 1) - b.volume  # the bars that moved OBV
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(traded > 0, change / traded, 0.0) * np.where(np.isnan(change), np.nan, 1)


def _taker_ratio(b: Bars) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b.volume > 0, b.extra["taker_buy_base"] / b.volume, 0.5)


def definitions(p: FeatureParams) -> list[FeatureDef]:
    defs = [
        FeatureDef(f"obv_slope_{w}", w + 1, lambda b, w=w: _obv_slope(b, w)) for w in p.obv_windows
    ]
    defs += [
        FeatureDef(f"volume_z_{w}", w, lambda b, w=w: zscore(np.log1p(b.volume), w))
        for w in p.volume_windows
    ]
    defs += [
        FeatureDef(
            f"vwap_dist_{w}",
            w,
            lambda b, w=w: b.close / rolling_vwap(b.high, b.low, b.close, b.volume, w) - 1.0,
        )
        for w in p.volume_windows
    ]
    taker = frozenset({"taker_buy_base"})
    defs += [
        FeatureDef("taker_buy_ratio", 1, _taker_ratio, needs=taker),
        FeatureDef("taker_buy_ratio_24", 24, lambda b: talib.SMA(_taker_ratio(b), 24), needs=taker),
        FeatureDef(
            "trades_z_24",
            24,
            lambda b: zscore(np.log1p(b.extra["trades"]), 24),
            needs=frozenset({"trades"}),
        ),
    ]
    return defs
