"""The read-only portfolio against Binance's recorded account responses on the loopback fake:
not configured is a state, a trade-enabled key is refused with its reason, a read-only key shows
balances, positions and exposure computed by hand from the recordings."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from analysis.tests.binance_replay import RECORDED
from portfolio.checks import binance_key_is_read_only
from portfolio.holdings import UnsafeKey, snapshot

pytestmark = pytest.mark.django_db
READ_ONLY = json.loads((RECORDED / "sapi_v1_account_apiRestrictions.json").read_text()) | {
    flag: False
    for flag in (
        "enableInternalTransfer",
        "permitsUniversalTransfer",
        "enablePortfolioMarginTrading",
    )
}


@pytest.fixture
def keyed(binance, settings):
    settings.BINANCE_API_KEY, settings.BINANCE_API_SECRET = "k" * 64, "s" * 64
    return binance


def api(path: str) -> tuple[int, dict]:
    response = Client().get(f"/api/portfolio/{path}")
    return response.status_code, response.json()


def test_no_key_is_a_state_not_an_error(settings):
    settings.BINANCE_API_KEY = settings.BINANCE_API_SECRET = ""
    status, body = api("balance")
    assert status == 200 and body["data"]["configured"] is False
    assert "BINANCE_API_KEY" in body["data"]["message"]
    client = Client()
    client.force_login(User.objects.create_user("t", password="x" * 12))
    assert b"no Binance API key is configured" in client.get("/portfolio/").content


def test_the_recorded_key_can_trade_and_is_refused(keyed, settings):
    status, body = api("positions")
    assert status == 403 and body["error"]["code"] == "unsafe_key"
    message = body["error"]["message"]
    assert "trade portfolio margin" in message and "transfer funds" in message
    assert "reading permission only" in message
    [check] = binance_key_is_read_only()
    assert check.id == "portfolio.E001"
    with pytest.raises(UnsafeKey):
        snapshot()
    # The server refuses to start with it, saying why (the check comes before anything starts).
    import importlib
    import sys

    sys.modules.pop("tradingai.asgi", None)
    with pytest.raises(ImproperlyConfigured, match="can trade portfolio margin"):
        importlib.import_module("tradingai.asgi")
    settings.ALLOW_TRADE_ENABLED_KEY = True  # knowingly accepted: shown, and still read-only
    status, body = api("exposure")
    assert status == 200 and "trade portfolio margin" in body["data"]["key_powers"]


def test_a_read_only_key_shows_the_account(keyed):
    keyed.overrides["/sapi/v1/account/apiRestrictions"] = READ_ONLY
    assert binance_key_is_read_only() == []
    positions = json.loads((RECORDED / "fapi_v3_positionRisk.json").read_text())
    held = [p for p in positions if float(p["positionAmt"]) != 0]
    long = sum(abs(float(p["notional"])) for p in held if float(p["positionAmt"]) > 0)
    short = sum(abs(float(p["notional"])) for p in held if float(p["positionAmt"]) < 0)
    status, body = api("exposure")
    exposure = body["data"]
    assert status == 200 and exposure["configured"] and exposure["key_powers"] == []
    assert exposure["long"] == pytest.approx(long) and exposure["short"] == pytest.approx(short)
    assert exposure["net"] == pytest.approx(long - short)
    balance = api("balance")[1]["data"]
    assert balance["balances"][0]["asset"] == "USDT" and balance["balances"][0]["balance"] > 0
    listed = api("positions")[1]["data"]["positions"]
    assert len(listed) == len(held)
    first = listed[0]
    assert first["side"] in {"long", "short"} and first["notional"] > 0
    # Every request the portfolio made was a GET to a read-only path.
    assert {method for method, _, _ in keyed.requests} == {"GET"}


def test_a_dead_exchange_is_a_503(keyed):
    keyed.overrides["/sapi/v1/account/apiRestrictions"] = READ_ONLY
    from analysis.tests.binance_replay import Scripted

    keyed.fail_always = Scripted(503, {"code": -1, "msg": "down"})
    status, body = api("balance")
    assert status == 503 and body["error"]["code"] == "exchange_unavailable"
