"""Slower bars from stored faster ones, exactly as the exchange builds them: a 4h candle is the
four 1h candles that open at 00, 04, 08, ... UTC (open of the first, high and low over all,
close of the last, volumes and trade counts summed). Only complete buckets are made: a bucket
missing one of its bars (a gap, or the hour still to come) is left out, never guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.dumps import KLINE_COLUMNS
from analysis.intervals import interval_ms
from analysis.models import Candle
from analysis.store import UpsertResult, upsert_candles

SUMMED = ["volume", "quote_volume", "trades", "taker_buy_base", "taker_buy_quote"]


class ResampleError(ValueError):
    """Intervals that cannot be built from each other, with the reason."""


def resample(frame: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """``frame``'s bars (``KLINE_COLUMNS``, open-time order) grouped into complete
    ``target`` buckets aligned on the epoch (UTC midnight for 4h and 1d)."""
    step, big = interval_ms(source), interval_ms(target)
    if big <= step or big % step:
        raise ResampleError(f"{target} bars cannot be built from {source} bars")
    per = big // step
    times = frame["open_time"].to_numpy(np.int64)
    if np.any(times % step):
        raise ResampleError(f"open times off the {source} grid")
    bucket = times // big * big
    g = frame.assign(bucket=bucket).groupby("bucket", sort=True)
    count = g["open_time"].count()
    complete = count[count == per].index
    out = pd.DataFrame(
        {
            "open_time": complete.to_numpy(np.int64),
            "open": g["open"].first().loc[complete].to_numpy(),
            "high": g["high"].max().loc[complete].to_numpy(),
            "low": g["low"].min().loc[complete].to_numpy(),
            "close": g["close"].last().loc[complete].to_numpy(),
        }
    )
    for column in SUMMED:
        # A sum over a bucket with a missing value is unknown, not smaller.
        known = g[column].count().loc[complete].to_numpy() == per
        total = g[column].sum(min_count=1).loc[complete].to_numpy(np.float64)
        out[column] = np.where(known, total, np.nan)
    out["close_time"] = out["open_time"] + big - 1
    return out[KLINE_COLUMNS]


def resample_stored(symbol: str, source: str, target: str) -> UpsertResult:
    """Build and store ``symbol``'s ``target`` bars from its stored ``source`` bars
    (idempotent: an unchanged bucket is left as it is)."""
    stored = Candle.objects.series(symbol, source).to_frame(
        ["open_time", "open", "high", "low", "close", *SUMMED]
    )
    if stored.empty:
        raise ResampleError(f"no {source} candles stored for {symbol}")
    return upsert_candles(symbol, target, resample(stored, source, target))
