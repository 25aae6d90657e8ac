"""``simulate`` without ``--pooled``: each symbol's own model (XGBoost + LSTM) retrained at every
window's start on the bars before it, serving through the same interface as live inference.

BTCUSDT from the shared universe, cut to the months before the span so the quick trainings
stay short; ETHUSDT with too short a history to train.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db.models import F
from django.db.models.functions import Greatest

from analysis.models import Candle, FundingRate
from mlcore.models import ModelVersion, TrainingRun
from mlcore.serving.cache import serving_for
from signals.models import Signal
from signals.simulation import SimulationRequest, simulate
from signals.simulation_symbols import NO_MODEL
from signals.tests.test_simulation import whole_model

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HISTORY = timedelta(days=150)  # of BTCUSDT before the span: enough for the quick folds

pytestmark = pytest.mark.slow


@pytest.fixture
def own(research):
    Candle.objects.filter(symbol="BTCUSDT", open_time__lt=T0 - HISTORY).delete()
    Candle.objects.filter(symbol="ETHUSDT", open_time__lt=T0 - timedelta(days=20)).delete()
    # Nothing after the span's outcomes is needed: a shorter read.
    Candle.objects.filter(open_time__gte=T0 + timedelta(days=10)).delete()
    return research


def request(name: str, symbols=("BTCUSDT", "ETHUSDT"), start=T0, windows=2) -> SimulationRequest:
    return SimulationRequest(
        name,
        symbols,
        "1h",
        start,
        start + timedelta(days=2 * windows),
        timedelta(days=2),
        pooled=False,
        quick=True,
        force=True,
    )


@pytest.mark.django_db
def test_each_symbols_own_model_serves_its_windows_having_seen_only_what_came_before(
    own, eager, trader
):
    sim = simulate(request("own"))
    btc = list(sim.windows.filter(symbol="BTCUSDT").order_by("start"))
    eth = list(sim.windows.filter(symbol="ETHUSDT").order_by("start"))
    assert len(btc) == len(eth) == 2 and sim.status == "done"
    for window in btc:
        model = window.trained
        assert model.symbol == "BTCUSDT" and model.simulation == "own"
        assert model.kind == ModelVersion.Kind.SYMBOL and window.served_by == model
        assert window.labels_end <= window.start and window.candles_end <= window.start
        assert window.rule  # the simple rule its training rows favoured
    # Too short a history: no model, said, and no call (the product would have abstained).
    for window in eth:
        assert window.trained is None and NO_MODEL in window.message
        assert "too few" in window.message and window.done and window.served_by is None
    calls = Signal.everything.filter(simulation=sim)
    assert calls.filter(symbol="ETHUSDT").count() == 0
    assert calls.filter(symbol="BTCUSDT").count() == 4 * 24  # every bar of the span

    # The simulated call is the live path's: the window's model serving that bar from the
    # store (SymbolServing.serve, as live inference calls it) says the same.
    at = btc[1].start + timedelta(hours=9)
    stored = calls.get(symbol="BTCUSDT", open_time=at)
    live = serving_for(btc[1].trained).serve(["BTCUSDT"], int(at.timestamp() * 1000))["BTCUSDT"]
    assert (live.direction, live.grade) == (
        {"long": 1, "short": -1, "neutral": 0}[stored.direction],
        stored.grade,
    )
    assert np.isclose(live.confidence, stored.confidence, atol=1e-6)
    assert np.allclose(
        live.probabilities, (stored.p_sell, stored.p_neutral, stored.p_buy), atol=1e-6
    )
    assert live.explanation["call_score"] == pytest.approx(
        stored.explanation["call_score"], abs=1e-6
    )
    assert stored.risk["model"] == f"simulated own {btc[1].start:%Y-%m-%d}"

    # Proof, not bookkeeping: rewrite every input from the second window's start on and train
    # that window again (a simulation of it alone): the same whole model. The control:
    # rewriting from the first window's start changes it.
    def rewrite(since: datetime) -> None:
        Candle.objects.filter(open_time__gte=since).update(
            close=F("close") * 1.37,
            high=Greatest(F("high") * 1.37, F("close") * 1.37),
            volume=F("volume") * 3.1,
        )
        FundingRate.objects.filter(funding_time__gte=since).update(rate=0.0007 - F("rate"))

    def second_window_model(name: str) -> dict:
        sim = simulate(request(name, ("BTCUSDT",), start=btc[1].start, windows=1))
        return whole_model(sim.windows.get().trained)

    before = whole_model(btc[1].trained)
    rewrite(btc[1].start)
    assert second_window_model("after") == before
    rewrite(btc[0].start)
    assert second_window_model("control") != before

    # Never live: no champion, no run on /training, and a live training of the symbol is not
    # blocked by the simulation's runs.
    assert ModelVersion.objects.count() == 0 and TrainingRun.objects.count() == 0
    assert TrainingRun.everything.filter(simulation="own", symbol="BTCUSDT").count() == 2
    resumed = simulate(request("own"))  # nothing to do again: not even ETH's hopeless training
    assert TrainingRun.everything.filter(simulation="own").count() == 4
    assert Signal.everything.filter(simulation=resumed).count() == 4 * 24

    # The track record: per symbol, and a timeline of each symbol's windows.
    report = json.loads((own / "reports" / "simulation_own.json").read_text())
    assert [(w["symbol"], w["start"][:10]) for w in report["windows"]] == [
        ("BTCUSDT", "2024-03-01"), ("ETHUSDT", "2024-03-01"),
        ("BTCUSDT", "2024-03-03"), ("ETHUSDT", "2024-03-03"),
    ]  # fmt: skip
    assert report["calls"]["all_calls"]["count"] > 0 and report["ic"]["rows"] > 0
    assert [w["calls"] for w in report["windows"]] == [
        calls.filter(symbol=w.symbol, open_time__gte=w.start, open_time__lt=w.end)
        .exclude(direction="neutral")
        .count()
        for w in sim.windows.order_by("start", "symbol")
    ]
    page = trader.get(f"/simulations/{sim.pk}/").content.decode()
    assert "each symbol's own model" in page and "no model" in page
    assert "BTCUSDT-1h-sim-own-2024030300" in page
