"""Abstention on the dashboard: a prediction nobody should act on is stored and counted, not
listed; the board shows every series; with nothing actionable the page says why, with figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from mlcore.models import Evaluation
from mlcore.tests.factories import model_version
from signals.broadcast import publish
from signals.consumers import ApiSignalsConsumer, DashboardConsumer
from signals.models import Signal
from signals.tests.factories import signal_row, signed_in

T0 = datetime(2024, 5, 13, tzinfo=UTC)
GRADES = [  # a walk-forward's per-grade evidence, as hits.grade_figures stores it
    {"grade": "A+", "count": 12, "hits": 8, "hit_rate": 8 / 12, "hit_rate_low": 0.39,
     "hit_rate_high": 0.86, "promise": 0.60, "supported": False},
    {"grade": "A", "count": 400, "hits": 260, "hit_rate": 0.65, "hit_rate_low": 0.602,
     "hit_rate_high": 0.69, "promise": 0.57, "supported": True},
    {"grade": "B", "count": 900, "hits": 470, "hit_rate": 470 / 900, "hit_rate_low": 0.489,
     "hit_rate_high": 0.555, "promise": 0.54, "supported": False},
    {"grade": "C", "count": 2841, "hits": 1350, "hit_rate": 1350 / 2841, "hit_rate_low": 0.457,
     "hit_rate_high": 0.494, "promise": None, "supported": False},
]  # fmt: skip


def with_evidence(supported: list[str], **fields):
    model = model_version(metrics={"supported_grades": supported}, **fields)
    Evaluation.objects.create(
        model_version=model,
        kind=Evaluation.Kind.WALK_FORWARD,
        start=T0 - timedelta(days=300),
        end=T0,
        figures={"per_grade": GRADES},
    )
    return model


@pytest.mark.django_db
def test_a_c_prediction_is_stored_and_counted_not_listed_an_a_is_listed(trader):
    model = with_evidence(["A"])
    a = signal_row(model_version=model, grade="A", actionable=True, open_time=T0)
    c = signal_row(
        model_version=model, grade="C", actionable=False, open_time=T0 + timedelta(hours=1)
    )
    eth = signal_row(
        model_version=model, symbol="ETHUSDT", grade="B", actionable=False, regime="trending"
    )
    page = trader.get("/").content.decode()
    assert f'id="signal-{a.pk}"' in page
    assert f'id="signal-{c.pk}"' not in page and f'id="signal-{eth.pk}"' not in page
    assert "2 predictions not actionable are hidden" in page and "show=all" in page
    # The board: every series' latest prediction (C included), its grade's record, the model.
    assert 'id="board-BTCUSDT-1h"' in page and 'id="board-ETHUSDT-1h"' in page
    btc_row = page.split('id="board-BTCUSDT-1h"')[1].split("</tr>")[0]
    assert ">C<" in btc_row and "47.52% on 2841" in btc_row
    assert "backed out of sample: A" in btc_row
    assert "trending" in page.split('id="board-ETHUSDT-1h"')[1].split("</tr>")[0]
    everything = trader.get("/?show=all").content.decode()
    for s in (a, c, eth):
        assert f'id="signal-{s.pk}"' in everything
    assert "hidden" not in everything.split('id="signal-list"')[1].split("</nav>")[0]
    # The filters keep working on the hidden ones: B alone, asked for.
    only_b = trader.get("/?grade=B&show=all").content.decode()
    assert f'id="signal-{eth.pk}"' in only_b and f'id="signal-{a.pk}"' not in only_b
    # Every one stays in the API, filterable.
    from ninja.testing import TestClient

    from tradingai.api import api

    listed = TestClient(api).get("/signals?limit=10").json()["data"]
    assert listed["count"] == 3
    picked = TestClient(api).get("/signals?actionable=true").json()["data"]
    assert [i["id"] for i in picked["items"]] == [a.pk]


@pytest.mark.django_db
def test_with_nothing_actionable_the_page_says_why_with_the_evidence(trader):
    model = with_evidence([])
    signal_row(model_version=model, grade="B", actionable=False)
    page = trader.get("/").content.decode()
    assert "No actionable signal." in page
    assert "its calls were hits 50.3% of the time net of costs on 4,153 calls" in page
    assert "(best, A: 65.0% on 400, Wilson low 60.2% under the 57% it promises)" in page
    forced = with_evidence([], version="forced", forced=True, status="challenger")
    signal_row(model_version=forced, symbol="ETHUSDT", grade="A", actionable=False)
    page = trader.get("/").content.decode()
    assert "forced was forced past a failed training gate" in page


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_socket_lists_only_actionable_ones_the_api_stream_all():
    user = User.objects.create_user("trader", password="x" * 12)
    model = with_evidence(["A"])
    hidden = signal_row(model_version=model, grade="C", actionable=False)
    shown = signal_row(
        model_version=model, grade="A", actionable=True, open_time=T0 + timedelta(hours=1)
    )

    scope = signed_in(user)

    async def scenario():
        dashboard = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/signals/")
        dashboard.scope.update(scope)
        stream = WebsocketCommunicator(ApiSignalsConsumer.as_asgi(), "/api/realtime/signals")
        assert (await dashboard.connect())[0] and (await stream.connect())[0]
        got = []
        for signal in (hidden, shown):
            await database_sync_to_async(publish)(signal.pk)
            got.append((await dashboard.receive_from(5), json.loads(await stream.receive_from(5))))
        for socket in (dashboard, stream):
            await socket.disconnect()
        return got

    (c_html, c_data), (a_html, a_data) = async_to_sync(scenario)()
    assert c_data["id"] == hidden.pk and a_data["id"] == shown.pk  # the API hears both
    # The C call updates its series' board row but never enters the list.
    assert 'id="board-BTCUSDT-1h" hx-swap-oob="true"' in c_html and "#signal-rows" not in c_html
    assert f'id="signal-{shown.pk}"' in a_html and "afterbegin:#signal-rows" in a_html
    assert Signal.objects.count() == 2
