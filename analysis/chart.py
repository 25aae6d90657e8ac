"""The analysis page's chart: candles with EMA 50/200, Bollinger bands (20, 2) and the regime of
every bar, for the newest ``bars`` closed candles. Computed over a longer look-back so the
EMA 200 and the regime's Wilder smoothers have forgotten their seeds; every value at a bar uses
candles up to that bar only (TA-Lib's recurrences run forward). The signals drawn on it come
from the signals API in the page (``analysis`` imports nothing above it)."""

from __future__ import annotations

import numpy as np
import talib

from analysis.market import LOOKBACK, candles_frame, price_decimals
from analysis.regime import classify


def _series(times: np.ndarray, values: np.ndarray) -> list[list[float]]:
    return [[int(t), float(v)] for t, v in zip(times, values, strict=True) if np.isfinite(v)]


def price_chart(symbol: str, interval: str, bars: int = 500) -> dict:
    """``{candles: [[t, o, h, l, c]], ema_50, ema_200, bb_upper, bb_middle, bb_lower:
    [[t, value]], regime: [[t, name]], decimals}``, times in seconds (what the chart takes)."""
    frame = candles_frame(symbol, interval, last=LOOKBACK + bars)
    o, h, low, c = (frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    ema_50, ema_200 = talib.EMA(c, 50), talib.EMA(c, 200)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    regime = classify(h, low, c).regime
    keep = slice(max(len(frame) - bars, 0), len(frame))
    t = frame["open_time"].to_numpy(np.int64)[keep] // 1000
    return {
        "symbol": symbol,
        "interval": interval,
        "decimals": price_decimals(list(c[-20:])),
        "candles": [
            [
                int(t[i]),
                float(o[keep][i]),
                float(h[keep][i]),
                float(low[keep][i]),
                float(c[keep][i]),
            ]
            for i in range(len(t))
        ],
        "ema_50": _series(t, ema_50[keep]),
        "ema_200": _series(t, ema_200[keep]),
        "bb_upper": _series(t, upper[keep]),
        "bb_middle": _series(t, middle[keep]),
        "bb_lower": _series(t, lower[keep]),
        "regime": [[int(ti), str(r)] for ti, r in zip(t, regime[keep], strict=True) if r],
    }
