from __future__ import annotations

import gzip

import numpy as np
import pytest
import talib
from ninja.testing import TestClient

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from tradingai.api import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> TestClient:
    return TestClient(api)


@pytest.fixture
def btc() -> None:
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    import_file(SHARED / "binance_futures_BTCUSDT_funding.csv.gz")


def test_regime_of_the_newest_bar_and_its_history(client, btc):
    body = client.get("/analysis/btcusdt/regime?interval=1h&bars=24").json()
    assert body["success"]
    data = body["data"]
    assert data["symbol"] == "BTCUSDT" and len(data["history"]) == 24
    assert data["current"]["open_time"] == "2024-05-14T14:00:00Z"
    assert 0.5 <= data["current"]["confidence"] < 1
    assert data["thresholds"]["adx_trend"] == 25.0
    # The rule as the docs state it, from the file with TA-Lib: trending when ADX >= 25, the
    # efficiency ratio >= 0.30 and |EMA50 slope| >= 0.05 ATR a bar; choppy when the ratio is
    # <= 0.20 and ATR spans >= 0.30 of the 20-bar band; ranging otherwise.
    with gzip.open(SHARED / "binance_futures_BTCUSDT_1h.csv.gz", "rt") as handle:
        rows = [line.split(",") for line in handle.read().splitlines() if line[0].isdigit()]
    h, lo, c = (np.array([float(r[i]) for r in rows]) for i in (2, 3, 4))
    adx, atr, ema = talib.ADX(h, lo, c, 14)[-1], talib.ATR(h, lo, c, 14)[-1], talib.EMA(c, 50)
    er = abs(c[-1] - c[-21]) / np.abs(np.diff(c[-21:])).sum()
    slope = (ema[-1] - ema[-6]) / 5 / atr
    noise = atr / (h[-20:].max() - lo[-20:].min())
    if adx >= 25 and er >= 0.30 and abs(slope) >= 0.05:
        expected = "TRENDING"
    elif er <= 0.20 and noise >= 0.30:
        expected = "CHOPPY"
    else:
        expected = "RANGING"
    assert data["current"]["regime"] == expected, (adx, er, slope, noise)


def test_indicators_at_the_newest_candle(client, btc):
    data = client.get("/analysis/BTCUSDT/indicators").json()["data"]
    values = data["values"]
    assert data["open_time"] == "2024-05-14T14:00:00Z"
    with gzip.open(SHARED / "binance_futures_BTCUSDT_1h.csv.gz", "rt") as handle:
        rows = [line.split(",") for line in handle.read().splitlines() if line[0].isdigit()]
    close = np.array([float(r[4]) for r in rows])
    assert values["close"] == close[-1]
    # Computed here from the file with TA-Lib, not by the code under test. The endpoint reads a
    # window of recent bars, and Wilder's and the EMA's smoothing forget their start: 1e-6.
    assert values["rsi_14"] == pytest.approx(talib.RSI(close, 14)[-1], rel=1e-6)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    assert (values["bb_upper"], values["bb_middle"], values["bb_lower"]) == pytest.approx(
        (upper[-1], middle[-1], lower[-1]), rel=1e-9
    )
    assert values["ema_20"] == pytest.approx(talib.EMA(close, 20)[-1], rel=1e-6)
    with gzip.open(SHARED / "binance_futures_BTCUSDT_funding.csv.gz", "rt") as handle:
        funding = [line.split(",") for line in handle.read().splitlines() if line[0].isdigit()]
    assert values["funding_rate"] == pytest.approx(float(funding[-1][2]))


def test_unknown_symbol_and_interval_are_clear_errors(client, btc):
    missing = client.get("/analysis/NOPEUSDT/regime")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_symbol"
    assert "NOPEUSDT" in missing.json()["error"]["message"]
    bad = client.get("/analysis/BTCUSDT/indicators?interval=7x")
    # The schema lists the intervals, so validation names the field before any view code runs.
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert "interval" in str(bad.json()["error"]["details"])
    too_many = client.get("/analysis/BTCUSDT/regime?bars=5000")
    assert too_many.status_code == 422 and too_many.json()["success"] is False


def test_multi_timeframe_summary(db):
    from analysis.ingest import import_file
    from analysis.tests.binance_replay import SHARED

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    body = TestClient(api).get("/analysis/?ticker=btcusdt").json()["data"]
    assert [t["interval"] for t in body["timeframes"]] == ["1h", "4h", "1d"]
    assert body["timeframes"][2]["regime"]["regime"] in {"TRENDING", "RANGING", "CHOPPY"}
    assert TestClient(api).get("/analysis/?ticker=NOPEUSDT").status_code == 404
    assert TestClient(api).get("/analysis/").status_code == 422  # ticker is required
