"""Multi-timeframe: core indicators on 4h and 1d candles built from the base interval.

Bar t sees a higher-timeframe candle only once that candle has closed, i.e. when its last base
bar is t or earlier; an incomplete bucket (the one still forming, or one with missing bars) is
never used. The core set is finite-window on purpose, so that the warm-up, and with it the
tail window, stays short."""

from __future__ import annotations

import numpy as np
import talib

from analysis.indicators import bollinger, kaufman_efficiency_ratio
from analysis.intervals import interval_ms
from mlcore.pipeline.features.bars import Bars, counts_upto
from mlcore.pipeline.features.momentum import stoch
from mlcore.pipeline.features.spec import FeatureDef, FeatureParams


def resample(b: Bars, htf_ms: int) -> Bars:
    """Complete higher-timeframe candles, aligned to the epoch like Binance's."""
    per_bucket = htf_ms // b.step_ms
    bucket = b.open_time // htf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    counts = np.diff(np.r_[starts, len(bucket)])
    keep = counts == per_bucket
    ends = starts + counts - 1
    htf = Bars(
        open_time=(bucket[starts] * htf_ms)[keep],
        open=b.open[starts][keep],
        high=np.maximum.reduceat(b.high, starts)[keep] if len(starts) else b.high[:0],
        low=np.minimum.reduceat(b.low, starts)[keep] if len(starts) else b.low[:0],
        close=b.close[ends][keep],
        volume=np.add.reduceat(b.volume, starts)[keep] if len(starts) else b.volume[:0],
        step_ms=htf_ms,
    )
    return htf


def _range_pct(b: Bars) -> np.ndarray:
    return talib.SMA((b.high - b.low) / b.close, 14)


CORE: list[tuple[str, int, object]] = [
    ("close_sma_20", 20, lambda h: h.close / talib.SMA(h.close, 20) - 1.0),
    ("bb_pctb_20", 20, lambda h: _pctb(h)),
    ("roc_6", 7, lambda h: talib.ROCP(h.close, 6)),
    ("er_10", 11, lambda h: kaufman_efficiency_ratio(h.close, 10)),
    ("stoch_k_14", 20, lambda h: stoch(h.high, h.low, h.close)[0]),
    ("range_pct_14", 14, _range_pct),
]


def _pctb(h: Bars) -> np.ndarray:
    upper, _, lower = bollinger(h.close, 20, 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(upper > lower, (h.close - lower) / (upper - lower), 0.5)


def on_base(b: Bars, htf_ms: int, compute) -> np.ndarray:
    """``compute`` on complete higher-timeframe candles, as bar t of ``b`` knows it."""
    return _on_base(b, "", htf_ms, compute)


def _on_base(b: Bars, name: str, htf_ms: int, compute) -> np.ndarray:
    htf = b.memo(("htf", htf_ms), lambda: resample(b, htf_ms))
    if not len(htf):
        return np.full(len(b), np.nan)
    # The latest complete higher candle whose last millisecond is at or before bar t's, and
    # the bars that have one.
    idx, none_yet = b.memo(("htf_idx", htf_ms), lambda: _latest_complete(b, htf))
    values = compute(htf)[idx]
    values[none_yet] = np.nan
    return values


def _latest_complete(b: Bars, htf: Bars) -> tuple[np.ndarray, np.ndarray]:
    idx = counts_upto(htf.available_ms, b.available_ms) - 1
    return np.maximum(idx, 0), idx < 0


def definitions(p: FeatureParams, step_ms: int) -> list[FeatureDef]:
    defs = []
    for label in p.higher_timeframes:
        htf_ms = interval_ms(label)
        if htf_ms <= step_ms or htf_ms % step_ms:
            continue
        ratio = htf_ms // step_ms
        defs += [
            FeatureDef(
                f"{label}_{name}",
                (memory + 1) * ratio + ratio,
                lambda b, name=name, f=fn, ms=htf_ms: _on_base(b, name, ms, f),
            )
            for name, memory, fn in CORE
        ]
    return defs
