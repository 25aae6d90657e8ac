from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pandas as pd
import pytest

from analysis import ingest
from analysis.exchange import ExchangeUnavailable
from analysis.models import Candle, FundingRate
from analysis.tasks import fetch_latest
from analysis.tests.binance_replay import SHARED, Scripted

pytestmark = pytest.mark.django_db(transaction=True)
START = datetime(2023, 1, 1, tzinfo=UTC)


def shared_frame(name: str) -> pd.DataFrame:
    with gzip.open(SHARED / name) as handle:
        return pd.read_csv(handle)


def test_fetch_pages_through_history_and_matches_the_source(exchange, binance):
    result = ingest.fetch_klines("BTCUSDT", "1h", since=START, exchange=exchange)
    source = shared_frame("binance_futures_BTCUSDT_1h.csv.gz")
    assert result.stored.inserted == len(source) == 11991
    kline_pages = [r for r in binance.requests if r[1] == "/fapi/v1/klines"]
    assert len(kline_pages) == 8 and all(r[2]["limit"] == "1500" for r in kline_pages)
    stored = Candle.objects.series("BTCUSDT", "1h").to_frame(
        ["open_time", "open", "high", "low", "close", "volume"]
    )
    pd.testing.assert_frame_equal(stored, source, check_dtype=False)
    # The API carries the columns the dump files lack.
    assert Candle.objects.filter(symbol="BTCUSDT", trades__isnull=True).count() == 0


def test_fetching_again_changes_nothing(exchange):
    ingest.fetch_klines("ETHUSDT", "1h", since=START, exchange=exchange)
    count = Candle.objects.count()
    again = ingest.fetch_klines("ETHUSDT", "1h", since=START, exchange=exchange)
    assert again.stored.inserted == again.stored.updated == 0
    assert Candle.objects.count() == count


def test_fetch_is_incremental_from_the_last_stored_candle(exchange, binance):
    ingest.fetch_klines(
        "ETHUSDT", "1h", since=START, until=datetime(2023, 6, 1, tzinfo=UTC), exchange=exchange
    )
    assert Candle.objects.last_open_time("ETHUSDT", "1h") == datetime(2023, 6, 1, tzinfo=UTC)
    binance.requests.clear()
    result = ingest.fetch_klines("ETHUSDT", "1h", exchange=exchange)
    first_request = next(r for r in binance.requests if r[1] == "/fapi/v1/klines")
    assert int(first_request[2]["startTime"]) == int(
        datetime(2023, 6, 1, 1, tzinfo=UTC).timestamp() * 1000
    )
    assert result.stored.inserted == result.stored.received
    assert Candle.objects.filter(symbol="ETHUSDT").count() == 11991


def test_only_closed_candles_are_stored(exchange, binance):
    binance.now_ms = int(datetime(2024, 5, 14, 13, 30, tzinfo=UTC).timestamp() * 1000)
    ingest.fetch_klines("BTCUSDT", "1h", since=datetime(2024, 5, 14, tzinfo=UTC), exchange=exchange)
    # 13:00 is still open at 13:30, so the last stored candle is 12:00.
    assert Candle.objects.last_open_time("BTCUSDT", "1h") == datetime(2024, 5, 14, 12, tzinfo=UTC)


def test_a_dying_exchange_keeps_what_was_stored(exchange, binance):
    binance.fail_after = 2
    binance.fail_always = Scripted(503, {"code": -1001, "msg": "Service unavailable"})
    with pytest.raises(ExchangeUnavailable, match="kept 3000 BTCUSDT 1h candles"):
        ingest.fetch_klines("BTCUSDT", "1h", since=START, exchange=exchange)
    assert Candle.objects.filter(symbol="BTCUSDT").count() == 3000
    binance.reset()  # the exchange comes back: the next run continues where it stopped
    ingest.fetch_klines("BTCUSDT", "1h", exchange=exchange)
    assert Candle.objects.filter(symbol="BTCUSDT").count() == 11991


def test_funding_history_is_fetched_incrementally(exchange):
    result = ingest.fetch_funding("BTCUSDT", since=START, exchange=exchange)
    assert result.stored.inserted == 1498
    odd = FundingRate.objects.get(
        symbol="BTCUSDT", funding_time=datetime(2023, 1, 1, 8, 0, 0, 8000, tzinfo=UTC)
    )
    assert odd.rate == pytest.approx(0.0001) and odd.mark_price == pytest.approx(16519.5)
    assert ingest.fetch_funding("BTCUSDT", exchange=exchange).stored.inserted == 0


def test_empty_mark_price_is_stored_as_null():
    frame = ingest.funding_frame(
        [{"symbol": "X", "fundingRate": "0.0001", "fundingTime": 1, "markPrice": ""}]
    )
    assert frame["mark_price"].isna().all()


def test_the_scheduled_task_fetches_every_series_and_reports_failures(binance, settings):
    settings.SYMBOLS = ["BTCUSDT", "NOPEUSDT"]
    settings.INTERVALS = ["1h"]
    settings.HISTORY_DAYS = 10
    outcome = fetch_latest()
    assert Candle.objects.filter(symbol="BTCUSDT").count() == 10 * 24
    funding = shared_frame("binance_futures_BTCUSDT_funding.csv.gz")
    ten_days_before = binance.now_ms - 10 * 86_400_000
    expected = int((funding.funding_time >= ten_days_before).sum())
    assert FundingRate.objects.filter(symbol="BTCUSDT").count() == expected
    assert len(outcome["errors"]) == 2 and all("NOPEUSDT" in e for e in outcome["errors"])


def test_a_rate_limited_round_stops_at_once_and_names_what_it_did_not_fetch(
    binance, exchange, settings
):
    """Every symbol goes to the same host: after a 429 (or a 418 ban) more requests would only
    lengthen the ban, so the round ends and says which symbols wait for the next one."""
    settings.SYMBOLS = ["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"]
    settings.INTERVALS = ["1h"]
    binance.fail_always = Scripted(
        429, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "1"}
    )
    results, errors = ingest.fetch_latest(exchange=exchange)
    assert results == []
    assert {q.get("symbol") for _, _, q in binance.requests} <= {"BTCUSDT", None}
    assert errors[-1] == "not fetched this round: ETHUSDT, 1000PEPEUSDT"
    assert "HTTP 429" in errors[0]


def test_every_fetched_series_is_announced_after_the_round_even_without_new_candles(
    binance, exchange, settings
):
    """A round killed between its commit and its event is redelivered: the re-run stores
    nothing new, and must still announce the newest bar (inference is idempotent per bar).
    No announcement comes before every symbol is in: the universe model reads them all."""
    from analysis.events import candles_stored

    settings.SYMBOLS, settings.INTERVALS, settings.HISTORY_DAYS = ["BTCUSDT", "ETHUSDT"], ["1h"], 2
    heard: list[tuple[str, int]] = []

    def listen(sender, series, **kwargs):
        eth_stored = Candle.objects.filter(symbol="ETHUSDT").count()
        heard.extend((symbol, eth_stored) for symbol, _, _ in series)

    candles_stored.connect(listen, dispatch_uid="test-listen")
    try:
        ingest.fetch_latest(exchange=exchange)
        first = list(heard)
        ingest.fetch_latest(exchange=exchange)  # nothing new to store
    finally:
        candles_stored.disconnect(dispatch_uid="test-listen")
    assert [s for s, _ in first] == ["BTCUSDT", "ETHUSDT"]
    assert all(eth_stored == 48 for _, eth_stored in first)  # BTC's event after ETH was in
    assert [s for s, _ in heard[2:]] == ["BTCUSDT", "ETHUSDT"]
