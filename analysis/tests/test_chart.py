"""The analysis chart's data: the newest bars with EMA 50/200, Bollinger bands and the regime,
each value what TA-Lib and the regime give on the candles up to that bar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import talib
from django.contrib.auth.models import User
from django.test import Client

from analysis.chart import price_chart
from analysis.ingest import import_file
from analysis.market import candles_frame
from analysis.regime import classify
from analysis.tests.binance_replay import SHARED


@pytest.mark.django_db
def test_the_chart_carries_the_indicators_and_regime_of_each_bar():
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    chart = price_chart("BTCUSDT", "1h", bars=300)
    frame = candles_frame("BTCUSDT", "1h")
    close = frame["close"].to_numpy(np.float64)
    assert len(chart["candles"]) == 300
    assert chart["candles"][-1][0] * 1000 == int(frame["open_time"].iloc[-1])
    assert chart["candles"][-1][4] == close[-1]
    # The whole stored history's indicators agree at every shown bar (the look-back is long
    # enough for the recurrences to forget their seeds).
    ema_200 = dict(zip(frame["open_time"] // 1000, talib.EMA(close, 200), strict=True))
    upper = dict(zip(frame["open_time"] // 1000, talib.BBANDS(close, 20, 2, 2)[0], strict=True))
    for t, value in chart["ema_200"]:
        assert value == pytest.approx(ema_200[t], rel=1e-9)
    for t, value in chart["bb_upper"]:
        assert value == pytest.approx(upper[t], rel=1e-9)
    h, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    regime = dict(zip(frame["open_time"] // 1000, classify(h, low, close).regime, strict=True))
    assert chart["regime"] and all(regime[t] == name for t, name in chart["regime"])
    assert {name for _, name in chart["regime"]} <= {"TRENDING", "RANGING", "CHOPPY"}
    client = Client()
    client.force_login(User.objects.create_user("t", password="x" * 12))
    page = client.get("/analysis/BTCUSDT/").content.decode()
    embedded = json.loads(
        page.split('id="analysis-data" type="application/json">')[1].split("</script>")[0]
    )
    assert embedded["candles"][-1] == price_chart("BTCUSDT", "1h")["candles"][-1]
    assert 'data-signals="/api/signals?ticker=BTCUSDT&amp;limit=500"' in page
    assert "js/analysis.js" in page
