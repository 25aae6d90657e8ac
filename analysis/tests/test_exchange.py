from __future__ import annotations

import inspect
import socket

import pytest

from analysis.exchange import (
    READ_ONLY_ENDPOINTS,
    Exchange,
    ExchangeError,
    ExchangeUnavailable,
    ReadOnlyViolation,
    UnknownSymbol,
)
from analysis.tests.binance_replay import Scripted

EXPECTED_SURFACE = {
    "base_url",
    "ping",
    "server_time",
    "exchange_info",
    "symbols",
    "klines",
    "funding_rates",
    "mark_price",
    "open_interest",
    "open_interest_history",
    "account_balance",
    "account",
    "positions",
    "api_permissions",  # the key's own permissions: read to refuse a key that can trade
}
FORBIDDEN = ("order", "cancel", "leverage", "margin", "transfer", "withdraw", "deposit")


def test_the_wrapper_exposes_only_reads():
    exchange = Exchange("http://127.0.0.1:9")
    public = {name for name in dir(exchange) if not name.startswith("_")}
    assert public == EXPECTED_SURFACE
    for name in public:
        assert not any(word in name.lower() for word in FORBIDDEN), name
    for name, member in inspect.getmembers(Exchange, inspect.isfunction):
        if not name.startswith("_"):
            source = inspect.getsource(member)
            assert "create_order" not in source and "cancel" not in source


def test_allowlisted_endpoints_are_market_or_account_reads():
    for path in READ_ONLY_ENDPOINTS:
        assert not any(word in path.lower() for word in FORBIDDEN), path


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=1),
        lambda c: c.futures_cancel_order(symbol="BTCUSDT", orderId=1),
        lambda c: c.futures_cancel_all_open_orders(symbol="BTCUSDT"),
        lambda c: c.futures_change_leverage(symbol="BTCUSDT", leverage=20),
        lambda c: c.futures_change_margin_type(symbol="BTCUSDT", marginType="CROSSED"),
        lambda c: c.futures_account_transfer(asset="USDT", amount=1, type=1),
        lambda c: c.futures_get_open_orders(symbol="BTCUSDT"),
        lambda c: c.get_account(),
    ],
)
def test_even_the_private_client_cannot_reach_other_endpoints(binance, call):
    exchange = Exchange(binance.url, api_key="k", api_secret="s")
    client = exchange._Exchange__client  # digging it out on purpose
    with pytest.raises(ReadOnlyViolation):
        call(client)
    assert binance.requests == []  # refused before anything left the process


def test_klines_come_back_in_binance_shape(exchange):
    page = exchange.klines("BTCUSDT", "1h", 1672531200000)
    assert len(page) == 1500
    first = page[0]
    assert first[0] == 1672531200000 and first[1] == "16537.5" and first[6] == 1672534799999


def test_market_and_reference_reads(exchange):
    assert exchange.server_time() > 0
    assert {"BTCUSDT", "ETHUSDT"} <= exchange.symbols()
    assert exchange.mark_price("BTCUSDT")["symbol"] == "BTCUSDT"
    assert exchange.open_interest("BTCUSDT")["openInterest"]


def test_account_reads_need_a_key(exchange):
    with pytest.raises(ExchangeError, match="no Binance API key"):
        exchange.positions()


def test_rate_limits_back_off_honouring_retry_after(binance, exchange, sleeps):
    binance.fail_next = [
        Scripted(429, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "7"}),
        Scripted(418, {"code": -1003, "msg": "banned"}, {"Retry-After": "11"}),
    ]
    assert exchange.server_time() == binance.now_ms
    assert sleeps == [7.0, 11.0]


def test_server_errors_back_off_exponentially(binance, exchange, sleeps):
    binance.fail_next = [Scripted(503, {"code": -1001, "msg": "down"})] * 2
    exchange.ping()
    assert sleeps == [1.0, 2.0]


def test_timeouts_are_retried(binance, sleeps):
    exchange = Exchange(binance.url, timeout=0.2, max_retries=1, sleep=sleeps.append)
    binance.delay = 0.5
    with pytest.raises(ExchangeUnavailable, match="ReadTimeout"):
        exchange.ping()
    assert len(binance.requests) == 2 and sleeps == [1.0]


def test_a_dead_exchange_gives_a_clear_error(sleeps):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exchange = Exchange(f"http://127.0.0.1:{port}", max_retries=2, sleep=sleeps.append)
    with pytest.raises(ExchangeUnavailable) as err:
        exchange.klines("BTCUSDT", "1h", 0)
    assert f"127.0.0.1:{port}" in str(err.value) and "after 3 attempts" in str(err.value)
    assert sleeps == [1.0, 2.0]


def test_unknown_symbol_is_named_not_retried(binance, exchange, sleeps):
    with pytest.raises(UnknownSymbol, match="NOPEUSDT"):
        exchange.klines("NOPEUSDT", "1h", 0)
    assert sleeps == []


def test_other_client_errors_are_not_retried(binance, exchange, sleeps):
    binance.fail_next = [Scripted(400, {"code": -1100, "msg": "Illegal characters"})]
    with pytest.raises(ExchangeError, match="HTTP 400: Illegal characters"):
        exchange.ping()
    assert sleeps == []


def test_requests_timeout_is_configured(binance):
    exchange = Exchange(binance.url, timeout=3.5)
    assert exchange._Exchange__client._requests_params == {"timeout": 3.5}
