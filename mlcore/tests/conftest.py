from __future__ import annotations

import pandas as pd
import pytest

from analysis.tests.binance_replay import SHARED


def load(symbol: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    candles = pd.read_csv(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
    funding = pd.read_csv(SHARED / f"binance_futures_{symbol}_funding.csv.gz").rename(
        columns={"funding_rate": "rate"}
    )
    return candles, funding


@pytest.fixture(scope="session")
def btc() -> tuple[pd.DataFrame, pd.DataFrame]:
    return load("BTCUSDT")


@pytest.fixture(scope="session")
def pepe() -> tuple[pd.DataFrame, pd.DataFrame]:
    return load("1000PEPEUSDT")
