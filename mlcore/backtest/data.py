"""Market data for the engine from plain frames (candles and funding as stored)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.intervals import interval_ms
from mlcore.backtest.engine import Market


def market_from_frames(
    candles: pd.DataFrame, funding: pd.DataFrame | None, interval: str
) -> Market:
    funding = funding if funding is not None else pd.DataFrame(columns=["funding_time", "rate"])
    mark = funding["mark_price"] if "mark_price" in funding else pd.Series(np.nan, funding.index)
    return Market(
        open_time=candles["open_time"].to_numpy(np.int64),
        open=candles["open"].to_numpy(np.float64),
        high=candles["high"].to_numpy(np.float64),
        low=candles["low"].to_numpy(np.float64),
        close=candles["close"].to_numpy(np.float64),
        funding_time=funding["funding_time"].to_numpy(np.int64),
        funding_rate=funding["rate"].to_numpy(np.float64),
        funding_mark=mark.to_numpy(np.float64, na_value=np.nan),
        step_ms=interval_ms(interval),
    )


def funding_within(funding: pd.DataFrame, candles: pd.DataFrame) -> pd.DataFrame:
    """The settlements inside the candles' span (what a backtest of the span is charged)."""
    if funding.empty:
        return funding
    first = int(candles["open_time"].iloc[0])
    last = int(candles["open_time"].iloc[-1])
    return funding[(funding["funding_time"] >= first) & (funding["funding_time"] <= last)]
