"""Benchmark input shared by the scripts: the real BTCUSDT 1h history repeated end to end as
one continuous price path (each copy rescaled to open where the previous one closed), with
its funding history alongside. Needs only numpy and pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
H = 3_600_000


def continuous_bars(total: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(candles, funding) frames in the stored shape: epoch-ms times, OHLCV, rate."""
    base = pd.read_csv(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    funding = pd.read_csv(SHARED / "binance_futures_BTCUSDT_funding.csv.gz")
    copies = -(-total // len(base))
    shape = base[["open", "high", "low", "close"]].to_numpy() / base["open"].iloc[0]
    growth = base["close"].iloc[-1] / base["open"].iloc[0]
    scale = np.repeat(growth ** np.arange(copies), len(base))[:total]
    ohlc = np.tile(shape, (copies, 1))[:total] * scale[:, None] * base["open"].iloc[0]
    start = int(base["open_time"].iloc[0])
    candles = pd.DataFrame(ohlc, columns=["open", "high", "low", "close"])
    candles.insert(0, "open_time", start + np.arange(total, dtype=np.int64) * H)
    candles["volume"] = np.tile(base["volume"].to_numpy(), copies)[:total]
    span = len(base) * H
    rates = np.tile(funding["funding_rate"].to_numpy(), copies)
    times = (
        funding["funding_time"].to_numpy()[None, :] + span * np.arange(copies)[:, None]
    ).ravel()
    keep = times < candles["open_time"].iloc[-1] + H  # settlements inside the last bar at most
    return candles, pd.DataFrame({"funding_time": times[keep], "rate": rates[keep]})
