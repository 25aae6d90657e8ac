"""API keys, the read setting, the rate limit, and the journal and signals endpoints' errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from journal.models import Trade
from signals.tests.factories import signal_row
from tests.payloads import TRADE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def btc() -> None:
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")


def post(client: Client, path: str, body: dict, key: str | None = None):
    headers = {"X-API-Key": key} if key else {}
    return client.post(path, body, content_type="application/json", headers=headers)


def test_writes_need_a_key_and_a_revoked_key_is_refused(key, btc):
    client = Client()
    refused = post(client, "/api/trades/", TRADE)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "http_401"
    created = post(client, "/api/trades/", TRADE, key)
    assert created.status_code == 201
    assert created.json()["data"]["pnl"] == pytest.approx(50 - 6.2)
    call_command("apikey", "revoke", "bot", stdout=io.StringIO())
    assert post(client, "/api/trades/", TRADE, key).status_code == 401
    assert Trade.objects.count() == 1
    assert post(client, "/api/trades/", TRADE, "nonsense.key").status_code == 401


def test_invalid_payloads_name_the_field_and_store_nothing(key, btc):
    client = Client()
    bad = post(client, "/api/trades/", TRADE | {"quantity": -1}, key)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == [
        {"loc": ["body", "quantity"], "msg": "must be a positive number"}
    ]
    unknown = post(client, "/api/trades/", TRADE | {"ticker": "NOPEUSDT"}, key)
    assert unknown.status_code == 422 and "NOPEUSDT" in unknown.json()["error"]["details"][0]["msg"]
    missing = post(client, "/api/trades/", {"ticker": "BTCUSDT"}, key)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_request"
    assert not Trade.objects.exists()
    assert (
        client.put(
            "/api/trades/999", TRADE, content_type="application/json", headers={"X-API-Key": key}
        ).status_code
        == 404
    )


def test_reads_follow_the_setting_and_health_stays_open(key, settings):
    client = Client()
    assert client.get("/api/signals/").status_code == 200  # open (the embedded default)
    settings.API_AUTH = "required"
    assert client.get("/api/signals/").status_code == 401
    assert client.get("/api/signals/", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/api/system/health").status_code == 200
    trader = Client(enforce_csrf_checks=True)
    trader.force_login(User.objects.create_user("t", password="x" * 12))
    assert trader.get("/api/signals/").status_code == 200  # the dashboard's own session


def test_the_rate_limit_answers_429_with_retry_after(settings, key):
    settings.API_RATE_LIMIT = 3
    client = Client()
    codes = [client.get("/api/signals/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/signals/")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 0 < int(limited["Retry-After"]) <= 60
    # A key has its own allowance, apart from the address's.
    assert client.get("/api/signals/", headers={"X-API-Key": key}).status_code == 200


def test_signals_endpoints_and_acknowledge(key):
    s = signal_row()
    client = Client()
    page = client.get("/api/signals/?ticker=btcusdt&grade=B&limit=10").json()["data"]
    assert page["count"] == 1 and page["items"][0]["id"] == s.pk
    assert client.get("/api/signals/?limit=0").status_code == 422
    assert client.get(f"/api/signals/{s.pk + 1}").status_code == 404
    assert post(client, f"/api/signals/{s.pk}/acknowledge", {}).status_code == 401
    done = post(client, f"/api/signals/{s.pk}/acknowledge", {}, key)
    assert done.status_code == 200 and done.json()["data"]["acknowledged"]


def test_the_daily_summary(key, btc):
    signal_row(
        open_time=datetime(2024, 5, 13, 3, tzinfo=UTC),
        direction="short",
        grade="C",
        confidence=0.5,
        p_sell=0.5,
        p_neutral=0.2,
        p_buy=0.3,
    )
    post(Client(), "/api/trades/", TRADE, key)
    report = Client().get("/api/performance/summary?day=2024-05-13").json()["data"]
    assert report["signals"] == {"total": 1, "by_grade": {"C": 1}, "acknowledged": 0}
    assert report["trades_today"]["count"] == 1
    assert report["trades_today"]["pnl"] == pytest.approx(43.8)
    assert report["journal"]["overall"]["trades"] == 1
    assert report["models"][0]["version"] == "BTCUSDT-1h-stub"
    assert Client().get("/api/performance/summary?day=yesterday").status_code == 422
    assert Client().get("/api/performance/summary?day=0").status_code == 422  # not 1970-01-01
    performance = Client().get("/api/trades/performance").json()["data"]  # not the PUT route
    assert performance["overall"]["trades"] == 1


def test_made_up_keys_count_against_the_address_and_cannot_spend_a_real_keys_allowance(
    settings, key
):
    """The limit counts a key only once it is verified: a client rotating made-up keys stays
    its address, and a wrong secret with a real prefix spends the sender's address, not the
    key's allowance."""
    settings.API_RATE_LIMIT = 3
    client = Client()
    codes = [
        client.get("/api/signals/", headers={"X-API-Key": f"made{i:04d}.x"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    prefix = key.split(".", 1)[0]
    for _ in range(5):
        client.get("/api/signals/", headers={"X-API-Key": f"{prefix}.wrong-secret"})
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert other.get("/api/signals/", headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("entry_price", "Infinity", "finite"),
        ("fees", "NaN", "finite"),
        ("quantity", 1e308, "less than or equal"),
        ("quantity", True, "valid number"),
        ("entry_price", "62000", "valid number"),
        ("entry_time", 0, "ISO 8601"),
        ("entry_time", "0001-01-01T00:00:00Z", "between 2000 and 2100"),
        ("entry_time", "2024-05-13T00:30:00", "timezone"),
    ],
)
def test_numbers_and_times_a_trade_cannot_have_are_a_422_naming_the_field(
    key, btc, field, value, message
):
    """Non-finite or absurd numbers, booleans and strings posing as numbers, epoch integers and
    zoneless or out-of-range times: each a 422 naming the field, nothing stored, and the
    journal's answers stay valid JSON."""
    client = Client()
    raw = json.dumps(TRADE | {field: value})
    if value in ("Infinity", "NaN"):  # JSON's non-standard literals, as a careless client sends
        raw = raw.replace(f'"{value}"', value)
    response = client.post(
        "/api/trades/", raw, content_type="application/json", headers={"X-API-Key": key}
    )
    assert response.status_code == 422, response.content
    detail = response.json()["error"]["details"][0]
    assert detail["loc"][-1] == field and message in detail["msg"]
    assert Trade.objects.count() == 0
    listed = client.get("/api/trades/")
    assert listed.status_code == 200 and json.loads(listed.content)  # plain JSON still


def test_a_write_without_a_valid_key_is_a_401_saying_so_even_with_csrf_enforced(key, btc):
    """Through the CSRF checks a real browser meets: no key, a wrong key or a revoked key is a
    401 in the envelope saying what is wrong (not a 403 about CSRF); the signed-in dashboard
    session still needs its CSRF token; a valid key writes."""
    client = Client(enforce_csrf_checks=True)
    body = json.dumps(TRADE)

    def write(headers: dict) -> object:
        return client.post("/api/trades/", body, content_type="application/json", headers=headers)

    none = write({})
    assert none.status_code == 401 and "key is needed" in none.json()["error"]["message"]
    wrong = write({"X-API-Key": "abcd1234.not-the-secret"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]["message"]
    assert write({"X-API-Key": key}).status_code == 201
    call_command("apikey", "revoke", "bot", stdout=io.StringIO())
    assert write({"X-API-Key": key}).status_code == 401
    client.force_login(User.objects.create_user("t", password="x" * 12))
    no_token = write({})
    assert no_token.status_code == 403 and "CSRF" in no_token.json()["error"]["message"]
    assert Trade.objects.count() == 1


def test_a_new_keys_secret_is_shown_once_and_never_travels_in_a_cookie():
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "b@x.y", "x" * 12))
    created = client.post("/admin/tradingai/apikey/add/", {"name": "desk"})
    assert created.status_code == 302
    assert all("desk" not in morsel.value for morsel in created.cookies.values())
    assert "messages" not in created.cookies
    shown = client.get(created["Location"]).content.decode()
    assert "The key for desk, shown only now: " in shown
    secret = shown.split("shown only now: ")[1].split("<")[0].strip()
    from tradingai.models import ApiKey

    assert ApiKey.verify(secret) is not None
    assert secret not in client.get(created["Location"]).content.decode()  # once


def test_answers_given_before_our_handlers_are_the_envelope_and_never_a_5xx(key, btc, settings):
    """A 405 for a method a path does not take, a body over the upload limit (413), a day whose
    bounds overflow, fees of NaN: each a 4xx in the envelope."""
    client = Client()
    wrong_method = client.delete("/api/signals/")
    assert wrong_method.status_code == 405 and "GET" in wrong_method["Allow"]
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method["Cache-Control"] == "no-store"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    too_big = post(client, "/api/trades/", TRADE | {"notes": "x" * 2_000}, key)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    for day in ("9999-12-31", "0001-01-01"):  # valid days, far from any data: empty, not 5xx
        far = client.get(f"/api/performance/summary?day={day}")
        assert far.status_code == 200 and far.json()["data"]["signals"]["total"] == 0
    nan_fees = json.dumps(TRADE).replace('"fees": 6.2', '"fees": NaN')
    refused = client.post(
        "/api/trades/", nan_fees, content_type="application/json", headers={"X-API-Key": key}
    )
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["loc"][-1] == "fees"
    assert not Trade.objects.exists()


def test_tickers_are_read_in_any_common_spelling_and_shown_as_stored(key, btc):
    """``BTC-USD`` (the seed's form), ``btc/usdt``: read as BTCUSDT everywhere, shown back as
    stored; a well-formed symbol the product has never heard of is a 404, as /api/explain's."""
    signal = signal_row()
    client = Client()
    created = post(client, "/api/trades/", TRADE | {"ticker": "BTC-USD"}, key)
    assert created.status_code == 201 and created.json()["data"]["ticker"] == "BTCUSDT"
    assert client.get("/api/trades/?ticker=btc/usdt").json()["data"][0]["ticker"] == "BTCUSDT"
    listed = client.get("/api/signals/?ticker=BTC-USD").json()["data"]
    assert [item["id"] for item in listed["items"]] == [signal.pk]
    unknown = client.get("/api/signals/?ticker=NOPEUSDT")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_symbol"
    assert client.get("/api/explain/NOPEUSDT").status_code == 404
    from analysis.cli import symbol_list
    from analysis.models import Universe

    assert symbol_list("BTC-USD, eth/usdt,SOLUSDT") == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    universe = Universe(symbols="BTC-USD,ETH_USDT", intervals="1h")
    universe.clean()
    assert universe.symbols == "BTCUSDT,ETHUSDT"


def test_a_skipped_signal_needs_no_side_prices_or_quantity(key, btc):
    signal = signal_row(direction="short")
    client = Client()
    skipped = post(
        client,
        "/api/trades/",
        {"ticker": "BTC-USD", "action": "missed", "signal_id": signal.pk, "notes": "asleep"},
        key,
    )
    assert skipped.status_code == 201, skipped.content
    data = skipped.json()["data"]
    assert (data["side"], data["entry_price"], data["quantity"], data["pnl"]) == (
        "short", None, None, None,
    )  # fmt: skip
    entered = datetime.fromisoformat(data["entry_time"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - entered).total_seconds()) < 60
    bare = post(client, "/api/trades/", {"ticker": "BTCUSDT", "action": "skipped"}, key)
    assert bare.status_code == 201 and bare.json()["data"]["side"] is None
    executed = post(client, "/api/trades/", {"ticker": "BTCUSDT", "action": "executed"}, key)
    assert executed.status_code == 422
    assert {d["loc"][-1] for d in executed.json()["error"]["details"]} == {
        "side", "entry_price", "quantity",
    }  # fmt: skip
    assert client.get("/api/trades/performance").status_code == 200
    assert client.get("/api/performance/summary").status_code == 200
