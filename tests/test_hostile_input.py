"""The second hostile-client review (issue 30): input the database cannot store is a 400 that says
where it was, never a 500; sockets close when what let them in lapses."""

from __future__ import annotations

import io
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from journal.models import Trade
from tests.payloads import TRADE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def trader() -> Client:
    browser = Client()
    browser.force_login(User.objects.create_user("trader", password="x" * 12))
    return browser


# Each reached PostgreSQL as a 500 (on SQLite most pass through: the guard is the same).
API_GETS = [
    "/api/trades?ticker=%00",
    "/api/models?symbol=%00",
    "/api/explain/BTCUSDT?interval=%00",
    "/api/signals?ticker=%00",
    "/api/signals?since=2024-05-13T00:00:00%2B23:59",
    "/api/market/BTC%00USDT/candles",
]
PAGE_GETS = ["/?ticker=%00", "/analysis/%00/", "/admin/journal/trade/?ticker__exact=%00"]


@pytest.mark.parametrize("path", API_GETS)
def test_unstorable_query_input_is_a_400_in_the_envelope(path, key):
    answer = Client().get(path, headers={"X-API-Key": key})
    assert answer.status_code == 400, answer.content[:300]
    body = answer.json()
    assert body["success"] is False and body["error"]["code"] == "unstorable_input"
    assert "nothing was stored" in body["error"]["message"]


@pytest.mark.parametrize("path", PAGE_GETS)
def test_unstorable_page_input_is_a_plain_400(path, trader):
    trader.get("/")  # a staff-less trader: the admin answer is the guard's, before any redirect
    answer = trader.get(path)
    assert answer.status_code == 400 and b"NUL" in answer.content


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("notes", "a\u0000b", "NUL"),
        ("notes", "\ud800", "surrogate"),
        ("entry_time", "2024-05-13T07:30:00+23:59", "offset"),
    ],
)
def test_unstorable_json_is_a_400_naming_the_field_and_stores_nothing(key, field, value, what):
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    body = json.dumps(TRADE | {field: value})  # json escapes the NUL and the lone surrogate
    answer = Client().post(
        "/api/trades/", body, content_type="application/json", headers={"X-API-Key": key}
    )
    assert answer.status_code == 400, answer.content[:300]
    message = answer.json()["error"]["message"]
    assert f"the body.{field}" in message and what in message
    assert Trade.objects.count() == 0


def test_a_lawful_offset_and_a_surrogate_pair_pass(key):
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    body = TRADE | {"entry_time": "2024-05-13T15:30:00+08:00", "notes": "moon \U0001f680"}
    answer = Client().post(
        "/api/trades/",
        json.dumps(body),
        content_type="application/json",
        headers={"X-API-Key": key},
    )
    assert answer.status_code == 201, answer.content[:300]


def test_a_thousand_query_fields_is_a_400_not_an_error(key):
    query = "&".join(f"f{i}=1" for i in range(1100))
    answer = Client().get(f"/api/signals?{query}", headers={"X-API-Key": key})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "too_many_fields"


def test_a_nul_in_a_session_cookie_is_a_400(settings):
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "abc\x00defghijk"
    assert client.get("/api/system/health").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_socket_key_the_database_cannot_store_is_refused_at_the_handshake(settings):
    from tradingai.asgi import application

    settings.API_AUTH = "required"

    async def opens(path: str, headers: list[tuple[bytes, bytes]]) -> bool:
        socket = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await socket.connect()
        if connected:
            message = await socket.receive_output(timeout=1)
            await socket.disconnect()
            return message["type"] != "websocket.close"
        return False

    async def scenario() -> list[bool]:
        return [
            await opens("/api/realtime/signals?key=%00", []),
            await opens("/api/realtime/signals", [(b"x-api-key", b"ab\xff.cd")]),
            await opens("/api/realtime/signals", [(b"x-api-key", b"ab\x00.cd")]),
        ]

    assert async_to_sync(scenario)() == [False, False, False]


@pytest.mark.django_db(transaction=True)
def test_open_sockets_close_once_their_key_is_revoked_or_their_session_signs_out(settings):
    """Defect 1: an open stream used to keep receiving pushes after ``apikey revoke`` or a
    sign-out. Each closes with 4401 within the key cache's 5 s."""
    from signals.consumers import RECHECK_SECONDS
    from tradingai.asgi import application
    from tradingai.models import ApiKey

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.API_AUTH = "required"
    _, raw = ApiKey.issue("revoked-soon")
    browser = Client()
    browser.force_login(User.objects.create_user("leaving", password="x" * 12))
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    own = [
        (b"cookie", cookie.encode()),
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
    ]

    async def closes_after(path: str, headers: list, lapse) -> int | None:
        socket = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await socket.connect()
        assert connected
        # open, and it stays open while the credential holds
        assert await socket.receive_nothing(timeout=RECHECK_SECONDS + 0.5)
        await lapse()
        message = await socket.receive_output(timeout=5)
        await socket.disconnect()
        return message.get("code") if message["type"] == "websocket.close" else None

    async def revoke() -> None:
        from channels.db import database_sync_to_async

        await database_sync_to_async(
            lambda: call_command("apikey", "revoke", "revoked-soon", stdout=io.StringIO())
        )()

    async def sign_out() -> None:
        from channels.db import database_sync_to_async

        await database_sync_to_async(lambda: browser.post("/accounts/logout/"))()

    async def scenario() -> list:
        return [
            await closes_after("/api/realtime/signals", [(b"x-api-key", raw.encode())], revoke),
            await closes_after("/ws/signals/", own, sign_out),
        ]

    assert async_to_sync(scenario)() == [4401, 4401]


def test_health_asks_the_workers_once_per_few_seconds_not_on_every_call(settings, monkeypatch):
    """Defect 6: every health call waited a whole second for Celery's ping. A real ping (no
    worker listens on the suite's Redis, or one does: either answer is cached alike)."""
    from tradingai import health

    if not settings.REDIS_URL:
        pytest.skip("the worker check needs Redis (CI sets REDIS_URL)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(health, "_workers_seen", None)
    first = health.check_workers()
    assert first is not None
    again = [health.check_workers() for _ in range(5)]
    assert all(answer is first for answer in again)  # the same answer, not five more pings
    monkeypatch.setattr(health, "WORKER_CHECK_SECONDS", 0.0)
    assert health.check_workers() is not first  # once the window has passed, asked again


@pytest.mark.parametrize(
    "change",
    [
        {"a_plus_confidence": 0.0},  # every call would be A+ and "supported"
        {"b_confidence": -1.0, "a_confidence": -1.0, "a_plus_confidence": -1.0},
        {"a_plus_confidence": 1.5},
        {"a_plus_confirmations": 30_000},
        {"b_confirmations": 2, "a_confirmations": 1},  # B asks more than A
    ],
)
def test_grade_settings_that_would_break_the_engine_are_refused(change):
    """Defect 5, through the settings page as staff would save them: nothing is stored."""
    from mlcore.models import GradingConfig

    staff = Client()
    staff.force_login(User.objects.create_user("boss", password="x" * 12, is_staff=True))
    config = GradingConfig.current()
    fields = {
        "form": "grades",
        **{f: getattr(config, f) for f in ("a_plus_confidence", "a_confidence", "b_confidence")},
        **{
            f: getattr(config, f)
            for f in ("a_plus_confirmations", "a_confirmations", "b_confirmations")
        },
    }
    page = staff.post("/settings/", fields | change)
    assert page.status_code == 200
    stored = GradingConfig.current()
    assert stored.rules() == config.rules()  # unchanged


def test_a_watched_list_of_thousands_of_symbols_is_refused():
    from django.core.exceptions import ValidationError

    from analysis.models import Universe
    from analysis.symbols import MAX_WATCHED

    made_up = ",".join(f"FAKE{i}USDT" for i in range(MAX_WATCHED + 1))
    with pytest.raises(ValidationError, match=f"at most {MAX_WATCHED} symbols"):
        Universe(symbols=made_up, intervals="1h").full_clean()


def _trade_error(key: str, change: dict) -> tuple[int, str]:
    answer = Client().post(
        "/api/trades/",
        json.dumps(TRADE | change),
        content_type="application/json",
        headers={"X-API-Key": key},
    )
    details = answer.json()["error"]["details"] if answer.status_code == 422 else []
    return answer.status_code, " ".join(f"{d['loc'][-1]}: {d['msg']}" for d in details)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"entry_price": 1}, "entry_price", "outside the 1h bar"),
        ({"exit_price": 1e12}, "exit_price", "outside the 1h bar"),
        ({"leverage": 1e12}, "leverage", "between 1 and 125"),
        ({"leverage": 1e-300}, "leverage", "at least"),
        ({"quantity": 5e-324}, "quantity", "at least"),
        ({"exit_time": "2099-01-01T00:00:00Z"}, "exit_time", "future"),
    ],
)
def test_trades_that_cannot_have_happened_are_refused(key, change, field, says):
    """Defect 4: the journal's totals read -1e24 from trades like these."""
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    status, message = _trade_error(key, change)
    assert status == 422 and f"{field}:" in message and says in message, message
    assert Trade.objects.count() == 0


def test_a_trade_must_fit_the_signal_it_is_linked_to(key):
    """Defect 4: a trade before its signal, marked followed; an executed trade on a neutral
    prediction; a skipped short signal recorded as long."""
    from datetime import UTC, datetime

    from signals.tests.factories import signal_row

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    later = signal_row(open_time=datetime(2024, 5, 13, 9, tzinfo=UTC))  # made at 10:00
    status, message = _trade_error(key, {"signal_id": later.pk})
    assert status == 422 and "entry_time:" in message and "after this entry" in message
    model = {"model_version": later.model_version}
    neutral = signal_row(
        open_time=datetime(2024, 5, 13, 6, tzinfo=UTC), direction="neutral", **model
    )
    status, message = _trade_error(key, {"signal_id": neutral.pk})
    assert status == 422 and "neutral" in message
    short = signal_row(open_time=datetime(2024, 5, 13, 5, tzinfo=UTC), direction="short", **model)
    skipped = {"signal_id": short.pk, "action": "skipped", "side": "long"}
    status, message = _trade_error(key, skipped)
    assert status == 422 and "side:" in message and "short" in message
    assert Trade.objects.count() == 0
    earlier = signal_row(open_time=datetime(2024, 5, 13, 4, tzinfo=UTC), **model)  # made 05:00
    assert _trade_error(key, {"signal_id": earlier.pk})[0] == 201  # the lawful one stands


@pytest.fixture
def behind_nginx(settings):
    """As docker-compose runs it: one proxy hop, the proxy at 127.0.0.1."""
    settings.PROXY_HOPS = 1
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.API_RATE_LIMIT = 5


def via_proxy(client_address: str, claimed: str = "") -> Client:
    """A client behind nginx: REMOTE_ADDR is the proxy, which appends the peer it saw."""
    forwarded = f"{claimed}, {client_address}" if claimed else client_address
    return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)


def test_behind_the_proxy_strangers_do_not_use_up_a_trader_s_allowance(behind_nginx):
    """Defect 2: made-up keys from one client used to 429 everyone behind the proxy, the
    signed-in trader and health included."""
    stranger = via_proxy("203.0.113.7")
    codes = [
        stranger.get("/api/signals/", headers={"X-API-Key": f"{i:08x}.{'x' * 43}"}).status_code
        for i in range(7)
    ]
    assert codes[-1] == 429  # the stranger's own bucket is spent
    # A client claiming another address in its own header is still counted as itself.
    assert via_proxy("203.0.113.7", claimed="198.51.100.1").get("/api/signals/").status_code == 429
    assert via_proxy("198.51.100.20").get("/api/signals/").status_code != 429  # someone else
    trader = via_proxy("203.0.113.7")  # even from the stranger's address (one office, one NAT)
    trader.force_login(User.objects.create_user("trader", password="x" * 12))
    assert trader.get("/api/signals/").status_code == 200  # counted as the user
    assert stranger.get("/api/system/health").status_code != 429  # health is never limited


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(behind_nginx):
    """A client reaching the app directly cannot pick its bucket by sending the header."""
    direct = [
        Client(REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}") for i in range(7)
    ]
    assert [c.get("/api/signals/").status_code for c in direct][-1] == 429


def test_behind_the_proxy_wrong_passwords_lock_out_only_their_own_address(behind_nginx):
    """Defect 2: five wrong passwords through nginx locked the right password out for all."""
    User.objects.create_user("boss", password="correct horse battery staple")
    guesser = via_proxy("203.0.113.7")
    for _ in range(5):
        guesser.post("/accounts/login/", {"username": "boss", "password": "guess"})
    locked = guesser.post(
        "/accounts/login/", {"username": "boss", "password": "correct horse battery staple"}
    )
    assert locked.status_code == 429
    owner = via_proxy("198.51.100.20")
    signed_in = owner.post(
        "/accounts/login/", {"username": "boss", "password": "correct horse battery staple"}
    )
    assert signed_in.status_code == 302


def test_the_api_takes_json_bodies_only(key):
    """Defect 8: text/plain, form and XML bodies were read as JSON."""
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    headers = {"X-API-Key": key}
    for kind, body in [
        ("text/plain", json.dumps(TRADE)),
        ("application/x-www-form-urlencoded", "ticker=BTCUSDT&action=executed"),
        ("application/xml", "<trade><ticker>BTCUSDT</ticker></trade>"),
    ]:
        answer = Client().post("/api/trades/", body, content_type=kind, headers=headers)
        assert answer.status_code == 415, (kind, answer.content[:200])
        assert answer.json()["error"]["code"] == "unsupported_media_type"
    assert Trade.objects.count() == 0


def test_a_foreign_host_and_a_head_request_get_api_answers(settings, key):
    """Defect 8: ``Host: evil.example`` under /api/ was an HTML 400; HEAD was a 405."""
    settings.ALLOWED_HOSTS = ["testserver"]
    foreign = Client().get("/api/signals", headers={"X-API-Key": key}, HTTP_HOST="evil.example")
    assert foreign.status_code == 400 and foreign.json()["success"] is False
    head = Client().head("/api/signals", headers={"X-API-Key": key})
    assert head.status_code == 200 and head.content == b""
    assert head["Cache-Control"] == "no-store" or "no-store" in head["Cache-Control"]


def test_a_partial_put_changes_only_what_it_sends_and_notes_have_a_cap(key):
    """Defect 8: a PUT of a partial trade wiped its signal link and its prices; a 2 MB note was
    stored."""
    from datetime import UTC, datetime

    from signals.tests.factories import signal_row

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    signal = signal_row(open_time=datetime(2024, 5, 13, 4, tzinfo=UTC))
    headers = {"X-API-Key": key}
    made = (
        Client()
        .post(
            "/api/trades/",
            json.dumps(TRADE | {"signal_id": signal.pk}),
            content_type="application/json",
            headers=headers,
        )
        .json()["data"]
    )
    for method in ("put", "patch"):
        changed = getattr(Client(), method)(
            f"/api/trades/{made['id']}",
            json.dumps({"ticker": "BTCUSDT", "action": "executed", "notes": method}),
            content_type="application/json",
            headers=headers,
        )
        assert changed.status_code == 200, changed.content[:300]
        after = changed.json()["data"]
        assert after["notes"] == method and after["signal_id"] == signal.pk
        assert (after["entry_price"], after["exit_price"]) == (62000, 62500)
    huge = Client().post(
        "/api/trades/",
        json.dumps(TRADE | {"notes": "x" * 5_001}),
        content_type="application/json",
        headers=headers,
    )
    assert huge.status_code == 422 and Trade.objects.count() == 1


def test_no_password_reset_without_a_mail_server(settings):
    """Defect 8: the reset view logged an SMTP traceback per POST with no mail configured."""
    assert not settings.EMAIL_HOST
    assert Client().get("/accounts/password_reset/").status_code == 404
    assert Client().get("/accounts/login/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_one_key_opens_at_most_twenty_sockets(settings):
    """Defect 8: no cap on sockets per key or address. The 21st of one key is closed (4429);
    closing one makes room again."""
    from signals.consumers import MAX_SOCKETS_PER_HOLDER
    from tradingai.asgi import application
    from tradingai.models import ApiKey

    settings.API_AUTH = "required"
    _, raw = ApiKey.issue("greedy")
    headers = [(b"x-api-key", raw.encode())]

    async def scenario() -> tuple[list, bool]:
        sockets, opened = [], []
        for _ in range(MAX_SOCKETS_PER_HOLDER + 1):
            socket = WebsocketCommunicator(application, "/api/realtime/signals", headers=headers)
            connected, code = await socket.connect()
            opened.append(connected or code)
            sockets.append(socket)
        refused = opened[-1] == 4429
        await sockets[0].disconnect()
        again = WebsocketCommunicator(application, "/api/realtime/signals", headers=headers)
        reopened = (await again.connect())[0]
        for socket in [*sockets[1:-1], again]:
            await socket.disconnect()
        return opened, refused and reopened

    opened, room_again = async_to_sync(scenario)()
    assert opened == [True] * MAX_SOCKETS_PER_HOLDER + [4429] and room_again


@pytest.mark.parametrize(
    "path",
    ["/api/trades", "/api/models", "/api/backtests", "/api/training", "/api/signals"],
)
def test_a_limit_out_of_range_is_a_422_on_every_list(path, key):
    """Defect 8: ``limit`` was clamped silently on some lists and a 422 on others."""
    for limit in (0, 100_000):
        answer = Client().get(f"{path}?limit={limit}", headers={"X-API-Key": key})
        assert answer.status_code == 422, (path, limit, answer.status_code)
        assert "limit" in json.dumps(answer.json()["error"])


def test_watched_symbols_nothing_is_stored_of_are_checked_against_the_exchange(settings):
    """Defect 5: made-up symbols were saved. A symbol with nothing stored must be one the
    exchange lists (the recorded exchange info, served on loopback); with the exchange down it
    is taken as written."""
    from django.core.exceptions import ValidationError

    from analysis.models import Universe
    from analysis.tests.binance_replay import ReplayServer
    from tests.servers import free_port

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    exchange = ReplayServer({}, {}, now_ms=0).start()
    try:
        settings.BINANCE_BASE_URL = exchange.url
        with pytest.raises(ValidationError, match="lists no USD-M perpetual MADEUPUSDT"):
            Universe(symbols="BTCUSDT,MADEUPUSDT", intervals="1h").full_clean()
        Universe(symbols="BTCUSDT,ETHUSDT", intervals="1h").full_clean()  # listed, nothing stored
    finally:
        exchange.stop()
    settings.BINANCE_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nobody answers
    Universe(symbols="BTCUSDT,MADEUPUSDT", intervals="1h").full_clean()
