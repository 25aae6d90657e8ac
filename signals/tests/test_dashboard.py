"""The dashboard, replay and the live push: login, master-detail partials, acknowledge with its
event, interactions on demand; replayed bars through the live path; both sockets."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from mlcore.tests.factories import model_version
from signals.broadcast import publish
from signals.consumers import ApiSignalsConsumer, DashboardConsumer
from signals.models import NoSignal, Signal
from signals.tests.factories import signal_row, signed_in

WEEK = ("--from", "2024-05-10", "--to", "2024-05-14T08:00")


@pytest.mark.django_db
def test_the_dashboard_asks_who_you_are():
    response = Client().get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_replay_then_browse_acknowledge_and_explain(champion, trader, eager, settings):
    out = io.StringIO()
    call_command("replay", "--symbols", "BTCUSDT", *WEEK, stdout=out, stderr=io.StringIO())
    bars = 4 * 24 + 8
    assert f"replayed {bars} bars: {bars} new signals" in out.getvalue()
    call_command("replay", "--symbols", "BTCUSDT", *WEEK, stdout=out, stderr=io.StringIO())
    assert Signal.objects.count() == bars  # a replayed duplicate stores nothing
    graded = Signal.objects.graded()
    newest = graded.first()
    # The forced champion's calls are not actionable: hidden by default, listed on asking.
    assert not graded.filter(actionable=True).exists()
    page = trader.get("/").content.decode()
    assert f'id="signal-{newest.pk}"' not in page and "No actionable signal." in page
    assert f"{graded.count()} predictions not actionable are hidden" in page
    page = trader.get("/?show=all").content.decode()
    assert f'id="signal-{newest.pk}"' in page and "TreeSHAP" in page and "chart-data" in page
    assert "explanation is of the XGBoost member" in page
    # Master-detail partials: the detail alone for an htmx click, the list alone for a filter.
    oldest = graded.last()
    detail = trader.get(
        f"/signals/{oldest.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="signal-detail"
    ).content.decode()
    assert detail.lstrip().startswith('<section id="signal-detail">') and oldest.direction in detail
    listed = trader.get(
        f"/signals/?grade={oldest.grade}&show=all",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="signal-list",
    ).content.decode()
    first_of_grade = graded.filter(grade=oldest.grade).first()  # page 1 holds the newest 50
    assert listed.lstrip().startswith('<div id="signal-list"')
    assert f"signal-{first_of_grade.pk}" in listed
    # Acknowledge: a POST whose HX-Trigger refreshes the list.
    response = trader.post(f"/signals/{oldest.pk}/acknowledge")
    assert response["HX-Trigger"] == "signals-changed" and b"Acknowledged" in response.content
    oldest.refresh_from_db()
    assert oldest.acknowledged
    interactions = trader.get(f"/signals/{oldest.pk}/interactions").content.decode()
    from signals import explanations

    pairs = explanations.interactions_for(oldest)
    assert pairs and "No interaction" not in interactions  # rows, not the empty message
    assert interactions.count("<tr>") == 1 + len(pairs)  # the header and one row a pair
    assert f"<td>{pairs[0].first}</td><td>{pairs[0].second}</td>" in interactions
    # The monthly review: the stored signals through the backtest engine, per grade set.
    review = io.StringIO()
    call_command(
        "backtest",
        "--signals",
        "--symbols",
        "BTCUSDT",
        *WEEK,
        "--random-runs",
        "10",
        stdout=review,
        stderr=io.StringIO(),
    )
    text = review.getvalue()
    assert "signals:A+/A/B/C on BTCUSDT" in text and "buy_and_hold" in text
    from mlcore.models import BacktestRun

    run = BacktestRun.objects.get(strategy="signals:A+/A/B/C")
    assert run.metrics["trades"] >= 1 and set(run.baselines) == {"buy_and_hold", "flat", "momentum"}
    # The explanation API, with interactions on demand; the cached latest follows new signals.
    from ninja.testing import TestClient

    from tradingai.api import api

    explained = TestClient(api).get("/explain/btcusdt?interactions=true").json()["data"]
    assert explained["signal_id"] == newest.pk and explained["member"] == "xgboost"
    assert explained["interactions"] and explained["explanation"]["drivers_for"]
    history = TestClient(api).get("/explain/BTCUSDT/history?limit=3").json()["data"]
    assert [h["signal_id"] for h in history] == list(graded.values_list("id", flat=True)[:3])
    assert TestClient(api).get("/explain/NOPEUSDT").status_code == 404
    # The replay button runs the next bar in the server process: staff, embedded mode only.
    assert trader.post("/signals/replay-step").status_code == 403  # a plain trader
    trader_user = User.objects.get(username="trader")
    trader_user.is_staff = True
    trader_user.save()
    settings.EMBEDDED = False
    assert trader.post("/signals/replay-step").status_code == 403  # production: workers infer
    settings.EMBEDDED = True
    before = Signal.objects.count()
    answer = trader.post("/signals/replay-step").content.decode()
    assert answer.startswith("Replayed BTCUSDT ")
    stepped = datetime.strptime(answer.split("BTCUSDT ", 1)[1][:16], "%Y-%m-%d %H:%M")
    stepped = stepped.replace(tzinfo=UTC)
    # That bar has exactly one outcome: its signal, or a refusal naming that very bar.
    made = Signal.objects.filter(symbol="BTCUSDT", open_time=stepped)
    refused = NoSignal.objects.filter(symbol="BTCUSDT", open_time=stepped)
    assert (made.count(), refused.count()) in {(1, 0), (0, 1)}
    assert Signal.objects.count() == before + made.count()
    after = Signal.objects.graded().first()
    if after.pk != newest.pk:  # the cache was cleared when it landed
        assert TestClient(api).get("/explain/BTCUSDT").json()["data"]["signal_id"] == after.pk


def stub_signal() -> Signal:
    return signal_row(
        model_version=model_version(version="stub"),
        open_time=datetime(2024, 5, 14, 7, tzinfo=UTC),
        confidence=0.68,
        p_sell=0.2,
        p_neutral=0.12,
        p_buy=0.68,
        entry_price=61000.0,
        stop_price=60000.0,
        target_price=62000.0,
        explanation={"text": "<script>alert(1)</script>"},
        actionable=True,
    )


@pytest.mark.django_db(transaction=True)
def test_both_sockets_receive_a_new_signal():
    user = User.objects.create_user("trader", password="x" * 12)
    signal = stub_signal()

    scope = signed_in(user)

    async def scenario():
        dashboard = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/signals/")
        dashboard.scope.update(scope)
        api = WebsocketCommunicator(ApiSignalsConsumer.as_asgi(), "/api/realtime/signals")
        assert (await dashboard.connect())[0] and (await api.connect())[0]
        await database_sync_to_async(publish)(signal.pk)
        html = await dashboard.receive_from(timeout=5)
        data = json.loads(await api.receive_from(timeout=5))
        for socket in (dashboard, api):
            assert await socket.receive_nothing(timeout=0.2)
            await socket.disconnect()
        return html, data

    html, data = async_to_sync(scenario)()
    assert 'hx-swap-oob="afterbegin:#signal-rows"' in html and f"signal-{signal.pk}" in html
    assert data["id"] == signal.pk and data["grade"] == "B" and data["model"]["version"] == "stub"
    assert data["explanation"]["text"] == "<script>alert(1)</script>"  # JSON carries it as data


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_socket_refuses_strangers():
    from django.contrib.auth.models import AnonymousUser

    async def scenario():
        socket = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/signals/")
        socket.scope["user"] = AnonymousUser()
        connected, code = await socket.connect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4401)


@pytest.mark.django_db
def test_settings_show_the_universe_and_edit_the_grade_thresholds(settings):
    from mlcore.models import GradingConfig

    settings.SYMBOLS = ["BTCUSDT", "ETHUSDT"]
    viewer = Client()
    viewer.force_login(User.objects.create_user("viewer", password="x" * 12))
    page = viewer.get("/settings/").content.decode()
    assert "BTCUSDT,ETHUSDT</textarea>" in page and "Read only" in page
    assert "An edit applies to the next training" in page
    viewer.post("/settings/", {"form": "grades", "a_plus_confidence": 0.5})
    assert GradingConfig.current().a_plus_confidence == 0.60  # not staff: unchanged
    staff = Client()
    staff.force_login(User.objects.create_user("boss", password="x" * 12, is_staff=True))
    fields = {
        "form": "grades",
        "a_plus_confidence": 0.9,
        "a_plus_confirmations": 3,
        "a_confidence": 0.8,
        "a_confirmations": 2,
        "b_confidence": 0.7,
        "b_confirmations": 1,
    }
    assert staff.post("/settings/", fields).status_code == 302
    assert GradingConfig.current().rules().rules[0].min_confidence == 0.9
    bad = staff.post("/settings/", fields | {"b_confidence": 0.95}).content.decode()
    assert "confidences must fall from A+ to A to B" in bad
    assert GradingConfig.current().b_confidence == 0.7


@pytest.mark.django_db
def test_a_hand_trader_chooses_taker_or_maker_costs_and_the_next_training_uses_them():
    from mlcore.config import default_barrier
    from mlcore.models import GradingConfig

    assert default_barrier().round_trip_cost == pytest.approx(0.0012)  # 2 x (0.05 % + 1 bp)
    assert not default_barrier().maker_entry
    staff = Client()
    staff.force_login(User.objects.create_user("boss", password="x" * 12, is_staff=True))
    assert "0.0012 a round trip (12 bps)" in staff.get("/settings/").content.decode()
    maker = {
        "form": "costs",
        "entry": "maker",
        "taker_fee": 0.0005,
        "maker_fee": 0.0002,
        "slippage_bps": 1,
    }
    assert staff.post("/settings/", maker).status_code == 302
    barrier = default_barrier()
    assert barrier.round_trip_cost == pytest.approx(0.0004) and barrier.maker_entry
    assert "0.0004 a round trip (4 bps)" in staff.get("/settings/").content.decode()
    bad = staff.post("/settings/", maker | {"taker_fee": -0.01}).content.decode()
    assert "greater than or equal to 0" in bad and GradingConfig.current().taker_fee == 0.0005


@pytest.mark.django_db
def test_the_universe_is_edited_on_settings_and_in_the_admin(settings):
    from django.utils import timezone

    from analysis import universe
    from analysis.freshness import series_freshness
    from analysis.models import Universe

    settings.SYMBOLS, settings.INTERVALS = ["BTCUSDT"], ["1h"]
    staff = Client()
    staff.force_login(User.objects.create_user("boss", password="x" * 12, is_staff=True))
    viewer = Client()
    viewer.force_login(User.objects.create_user("viewer", password="x" * 12))
    viewer.post("/settings/", {"form": "universe", "symbols": "ETHUSDT", "intervals": "1h"})
    assert universe.symbols() == ["BTCUSDT"] and not universe.edited()  # not staff
    bad = staff.post("/settings/", {"form": "universe", "symbols": "BTC USD!", "intervals": "1x"})
    assert "not a Binance symbol: BTC USD!" in bad.content.decode() and not universe.edited()
    # BTC-USD is read as Binance writes it (analysis.symbols), like every ticker.
    ok = {"form": "universe", "symbols": "btcusdt, sol-usd,BTCUSDT", "intervals": "1H,4h"}
    assert staff.post("/settings/", ok).status_code == 302
    assert universe.symbols() == ["BTCUSDT", "SOLUSDT"] and universe.intervals() == ["1h", "4h"]
    # Everything that walks the universe walks the edited one.
    assert {(f.symbol, f.interval) for f in series_freshness(timezone.now())} == {
        (s, i) for s in ("BTCUSDT", "SOLUSDT") for i in ("1h", "4h")
    }
    # The admin edits the same one row and adds no second.
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="x" * 12))
    assert (
        admin.get("/admin/analysis/universe/")["Location"] == "/admin/analysis/universe/1/change/"
    )
    assert admin.get("/admin/analysis/universe/add/").status_code == 403
    change = {"symbols": "ETHUSDT", "intervals": "1h"}
    assert admin.post("/admin/analysis/universe/1/change/", change).status_code == 302
    assert Universe.objects.count() == 1 and universe.symbols() == ["ETHUSDT"]
    Universe.objects.all().delete()
    assert universe.symbols() == ["BTCUSDT"]  # back to the environment
    assert admin.get("/admin/analysis/universe/")["Location"] == "/admin/analysis/universe/add/"
    assert "BTCUSDT</textarea>" in admin.get("/admin/analysis/universe/add/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_api_stream_follows_the_read_setting(settings):
    from tradingai.models import ApiKey

    settings.API_AUTH = "required"
    _, raw = ApiKey.issue("stream")

    async def connect(path: str, headers=None):
        socket = WebsocketCommunicator(ApiSignalsConsumer.as_asgi(), path, headers=headers or [])
        connected, code = await socket.connect()
        if connected:
            await socket.disconnect()
        return connected, code

    assert async_to_sync(connect)("/api/realtime/signals") == (False, 4401)
    assert async_to_sync(connect)("/api/realtime/signals", [(b"x-api-key", raw.encode())])[0]
    assert async_to_sync(connect)(f"/api/realtime/signals?key={raw}")[0]
    assert async_to_sync(connect)("/api/realtime/signals?key=bad.key") == (False, 4401)


@pytest.mark.django_db
def test_prices_read_at_the_symbols_own_decimals(trader):
    """A 0.0106 price is quoted to 7 decimals: the chart's axis and lines and the levels on the
    page keep them (two decimals read 0.01 for entry, stop and target alike)."""
    from datetime import timedelta

    from analysis.models import Candle
    from signals.charts import price_decimals

    bar = datetime(2024, 5, 13, tzinfo=UTC)
    for i, close in enumerate([0.0105913, 0.0106072, 0.010598]):
        Candle.objects.create(
            symbol="1000PEPEUSDT",
            interval="1h",
            open_time=bar - timedelta(hours=2 - i),
            close_time=bar - timedelta(hours=2 - i) + timedelta(minutes=59),
            open=close,
            high=close,
            low=close,
            close=close,
            volume=1.0,
        )
    signal = signal_row(
        symbol="1000PEPEUSDT",
        open_time=bar,
        entry_price=0.010598,
        stop_price=0.0098760143,
        target_price=0.011338386,
    )
    page = trader.get(f"/signals/{signal.pk}/").content.decode()
    assert "0.0098760 / 0.0113384" in page and "0.0105980" in page
    chart = json.loads(page.split('id="chart-data" type="application/json">')[1].split("<")[0])
    assert chart["decimals"] == 7
    assert price_decimals([61772.1, 62035.0]) == 2 and price_decimals([2913.14]) == 2


FOREIGN = ("https://evil.example", "http://testserver:8081", "https://testserver")


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_session_from_a_foreign_origin_gets_no_socket(settings):
    """The whole ASGI application (session middleware, the routes' origin checks) with a real
    session cookie: our own origin gets both streams; a foreign page carrying the same cookie
    (cross-site WebSocket hijacking) gets neither."""
    from tradingai.asgi import application

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.API_AUTH = "required"  # the API stream then counts the session only by origin
    browser = Client()
    browser.force_login(User.objects.create_user("trader", password="x" * 12))
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def opens(path: str, origin: str) -> bool:
        headers = [(b"cookie", cookie.encode()), (b"origin", origin.encode())]
        headers.append((b"host", b"testserver"))
        socket = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await socket.connect()
        if not connected:
            return False
        try:  # the API stream accepts, then closes a stranger (4401) at once
            message = await socket.receive_output(timeout=0.5)
        except TimeoutError:
            return True  # still open (the communicator ends the consumer on the time-out)
        return message["type"] != "websocket.close"

    async def scenario() -> dict:
        return {
            (path, origin): await opens(path, origin)
            for path in ("/ws/signals/", "/api/realtime/signals")
            for origin in (*FOREIGN, "http://testserver")
        }

    opened = async_to_sync(scenario)()
    assert opened[("/ws/signals/", "http://testserver")]
    assert opened[("/api/realtime/signals", "http://testserver")]
    for origin in FOREIGN:  # another site, or our host on another port or scheme
        assert not opened[("/ws/signals/", origin)], origin
        assert not opened[("/api/realtime/signals", origin)], origin
