"""Longer timeframes from closed buckets only; the analysis page and the universe's empty rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from django.contrib.auth.models import User
from django.test import Client

from analysis.ingest import import_file
from analysis.market import closed_buckets, multi_timeframe
from analysis.models import Candle
from analysis.tests.binance_replay import SHARED

H = 3_600_000


def test_closed_buckets_leave_out_the_forming_one():
    frame = pd.DataFrame(
        {
            "open_time": [i * H for i in range(10)],
            "open": range(10),
            "high": range(1, 11),
            "low": range(10),
            "close": range(10),
            "volume": [1.0] * 10,
        }
    )
    four = closed_buckets(frame, H, 4 * H)
    assert list(four["open_time"]) == [0, 4 * H]  # bars 8 and 9 are a bucket still forming
    assert list(four["open"]) == [0, 4] and list(four["close"]) == [3, 7]
    assert list(four["high"]) == [4, 8] and list(four["volume"]) == [4.0, 4.0]


@pytest.mark.django_db
def test_the_analysis_page_and_the_universe_without_data(settings):
    settings.SYMBOLS = ["BTCUSDT", "SOLUSDT"]
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    views = multi_timeframe("BTCUSDT", "1h")
    assert [v.interval for v in views] == ["1h", "4h", "1d"]
    assert views[1].open_time.hour == 8  # 12:00-15:59 had only 3 of its 4 bars stored
    client = Client()
    assert client.get("/analysis/BTCUSDT/").status_code == 302  # login first
    client.force_login(User.objects.create_user("t", password="x" * 12))
    page = client.get("/analysis/BTCUSDT/").content.decode()
    assert "RANGING" in page or "TRENDING" in page or "CHOPPY" in page
    # The figures against an independent computation: the last stored close, TA-Lib's RSI on
    # every stored close (Wilder's smoothing forgets its start: equal to 1e-6).
    closes = np.array(
        Candle.objects.filter(symbol="BTCUSDT", interval="1h")
        .order_by("open_time")
        .values_list("close", flat=True)
    )
    assert views[0].indicators["close"] == closes[-1]
    assert views[0].indicators["rsi_14"] == pytest.approx(talib.RSI(closes, 14)[-1], rel=1e-6)
    # Prices at the symbol's decimals (at least 2), indicators at fixed ones, states as words.
    close, rsi = views[0].indicators["close"], views[0].indicators["rsi_14"]
    assert f">{close:.2f}<" in page and f">{rsi:.2f}<" in page
    trend = page.split("Supertrend direction")[1].split("</tr>")[0]
    assert trend.count(">up<") + trend.count(">down<") == 3
    assert client.get("/analysis/NOPEUSDT/").status_code == 404
    market = client.get("/market/").content.decode()
    assert "fetch_klines --symbols SOLUSDT" in market and 'href="/analysis/BTCUSDT/' in market
