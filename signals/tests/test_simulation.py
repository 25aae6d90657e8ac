"""``simulate``: the product's own track record, with no look-ahead, resumable and idempotent.

Two research symbols (BTC, ETH) from the shared universe, the quick training, short windows.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.db.models import F
from django.db.models.functions import Greatest
from django.test import Client

from analysis.models import Candle, FundingRate
from mlcore import artifacts
from mlcore.models import ModelVersion
from mlcore.pipeline.universe.final_model import predict_universe
from mlcore.tests.factories import model_version
from mlcore.training.inputs import read_inputs
from signals.models import Signal, Simulation, SimulationWindow
from signals.simulation import SimulationRequest, simulate
from signals.tasks import train_simulation_window
from signals.tests.conftest import RESEARCH_SYMBOLS
from tests.servers import production_only

SYMBOLS = RESEARCH_SYMBOLS
T0 = datetime(2024, 3, 1, tzinfo=UTC)

pytestmark = pytest.mark.slow


def request(name: str, days: int, windows: int = 1, start=T0, **options) -> SimulationRequest:
    return SimulationRequest(
        name,
        SYMBOLS,
        "1h",
        start,
        start + timedelta(days=days * windows),
        timedelta(days=days),
        quick=True,
        force=True,
        **options,
    )


@pytest.mark.django_db
def test_the_model_serving_bar_t_never_saw_anything_after_t(research, eager):
    days = 2
    sim = simulate(request("before", days, windows=2))
    first, second = sim.windows.order_by("start")
    model = first.trained
    assert first.served_by == model and model.simulation == "before"
    # Recorded: the last label trained on ended, and the last candle read closed, by each
    # window's start; every call of a window is at or after it.
    for window in (first, second):
        assert window.labels_end <= window.start and window.candles_end <= window.start
    signals = Signal.everything.filter(simulation=sim)
    assert signals.count() == 2 * 2 * days * 24
    assert min(signals.values_list("open_time", flat=True)) == first.start

    # The simulated call is the live path's call: the universe model's live inference, read
    # from the store for that bar, gives the same score and confidence.
    um = artifacts.load_universe(Path(model.artifact_path))
    bar_ms = int(first.start.timestamp() * 1000) + 5 * 3_600_000
    stored = Signal.everything.get(
        simulation=sim, symbol="ETHUSDT", open_time=first.start + timedelta(hours=5)
    )
    inputs = read_inputs(um, "ETHUSDT", "1h", bar_ms - (um.history_needed - 1) * 3_600_000, bar_ms)
    live = predict_universe(um, inputs.frames, "ETHUSDT", since=bar_ms)
    assert np.isclose(live.score[-1], stored.explanation["call_score"], rtol=1e-6)
    assert np.isclose(live.confidence[-1], stored.confidence, rtol=1e-6)

    # Proof, not bookkeeping: rewrite every input from the second window's start on (prices,
    # volume and funding) and simulate that window again. Its model must be the same whole
    # model: every file (members, calibrator, dissimilarity reference, ...) and what its row
    # records (horizon, barrier, grading and supported grades, the data it read), and the risk
    # model fitted at the window's start. The control: the same rewrite from the first
    # window's start changes it (it was trained after that start and may see it).
    def rewrite(since: datetime) -> None:  # in two statements (a row at a time took 23 s)
        Candle.objects.filter(open_time__gte=since).update(
            close=F("close") * 1.37,
            high=Greatest(F("high") * 1.37, F("close") * 1.37),
            volume=F("volume") * 3.1,
        )
        FundingRate.objects.filter(funding_time__gte=since).update(rate=0.0007 - F("rate"))

    def second_window(name: str | None = None) -> dict:
        if name is None:
            window = second
        else:  # a simulation of the second window alone
            window = simulate(request(name, days, start=second.start)).windows.get()
        return whole_model(window.trained) | {"risk model": window.risk}

    before = second_window()
    rewrite(second.start)
    assert second_window("after") == before
    rewrite(first.start)
    assert second_window("control") != before


def whole_model(version: ModelVersion) -> dict:
    """A trained model as it serves: its files' digests and its row's figures, less the
    wall-clock times no two trainings share."""

    def timeless(value):
        if isinstance(value, dict):
            return {
                k: timeless(v)
                for k, v in value.items()
                if not any(word in k for word in ("seconds", "duration", "_at"))
            }
        if isinstance(value, list):
            return [timeless(v) for v in value]
        return value

    files = artifacts.read_manifest(Path(version.artifact_path))["files"]
    recorded = {
        name: timeless(getattr(version, name))
        for name in ("config", "metrics", "label_params", "gates", "feature_spec_hash")
    }
    return {"files": files, "data_hash": version.data_hash, **recorded}


@pytest.mark.django_db
def test_a_killed_simulation_resumes_without_duplicates_and_a_rerun_adds_nothing(research, eager):
    def kill_after_first_window(what: str, done: int, total: int) -> None:
        if what == "windows" and done == 1:
            raise KeyboardInterrupt  # what SIGTERM becomes in the command

    with pytest.raises(KeyboardInterrupt):
        simulate(request("resume", 2, windows=2), kill_after_first_window)
    sim = Simulation.objects.get(name="resume")
    assert sim.status == "error" and "resume" in sim.message
    first, second = sim.windows.order_by("start")
    assert first.done and not second.done
    trained_first = first.trained_id
    stored = Signal.everything.filter(simulation=sim).count()
    assert stored == 2 * 2 * 24
    # The second window's training as the gpu queue's task runs it, delivered twice: one model.
    trained = train_simulation_window(second.pk)
    assert train_simulation_window(second.pk) == trained
    assert ModelVersion.everything.filter(simulation="resume").count() == 2
    out = io.StringIO()
    call_command(
        "simulate", "--pooled", "--symbols", ",".join(SYMBOLS), "--from", "2024-03-01",
        "--to", "2024-03-05", "--retrain-every", "2d", "--quick", "--force", "--name", "resume",
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    sim.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert sim.status == "done" and first.trained_id == trained_first  # not trained again
    assert second.trained_id == trained and second.done
    assert Signal.everything.filter(simulation=sim).count() == 2 * 4 * 24
    assert ModelVersion.everything.filter(simulation="resume").count() == 2
    # Idempotent: the same command again stores and trains nothing new.
    call_command(
        "simulate", "--pooled", "--symbols", ",".join(SYMBOLS), "--from", "2024-03-01",
        "--to", "2024-03-05", "--retrain-every", "2d", "--quick", "--force", "--name", "resume",
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    assert Signal.everything.filter(simulation=sim).count() == 2 * 4 * 24
    assert ModelVersion.everything.filter(simulation="resume").count() == 2
    assert "2 windows" in out.getvalue() and "report: " in out.getvalue()
    # Other settings under the same name are refused, not mixed in.
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="exists with other settings"):
        call_command(
            "simulate", "--pooled", "--symbols", ",".join(SYMBOLS), "--from", "2024-03-01",
            "--to", "2024-03-05", "--retrain-every", "1d", "--quick", "--force",
            "--name", "resume", stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip

    # The report: per grade with Wilson bounds, IC, the backtests beside their baselines.
    report = json.loads((research / "reports" / "simulation_resume.json").read_text())
    assert [g["grade"] for g in report["calls"]["per_grade"]] == ["A+", "A", "B", "C"]
    every = report["calls"]["all_calls"]
    assert (
        every["count"] > 0 and every["hit_rate_low"] <= every["hit_rate"] <= every["hit_rate_high"]
    )
    assert report["calls"]["actionable"]["count"] == 0  # forced models earn nothing
    flagged, unflagged = report["calls"]["flagged"], report["calls"]["unflagged"]
    assert flagged["count"] + unflagged["count"] == every["count"]
    assert len(report["windows"]) == 2 and all(w["forced"] for w in report["windows"])
    assert report["ic"]["rows"] > 0
    sets = {s["grade_set"] for s in report["backtests"][0]["sets"]}
    assert sets == {"all calls", "B and up", "actionable"}
    assert "buy_and_hold" in report["backtests"][0]["sets"][0]["baselines"]
    assert set(report["curves"]) >= {"all calls", "best rule", "buy and hold"}
    assert all(curve[0][1] == 1.0 for curve in report["curves"].values())  # from 1, comparable
    assert report["timings"]["train"] > 0
    # Every simulated call carries the risk it would have carried live: the window's risk model
    # (fitted on the bars before it) read at the call's bar from the bars up to it, as live
    # inference reads it; and the report judges those figures beside EWMA and HAR-RV.
    from analysis.market import candles_frame
    from mlcore.pipeline.risk.model import Bars, figures_at
    from mlcore.pipeline.risk.model import RiskModel as Fitted

    simulated = Signal.everything.filter(simulation=sim)
    assert not simulated.filter(risk=None).exists()
    one = simulated.get(symbol="ETHUSDT", open_time=second.start + timedelta(hours=7))
    assert one.risk["model"] == f"simulated resume {second.start:%Y-%m-%d}"
    bars = Bars.of(candles_frame("ETHUSDT", "1h", until=one.open_time + timedelta(hours=1)))
    live = figures_at(Fitted.from_dict(second.risk), bars)
    assert one.risk["horizons"] == [f.to_dict() for f in live]
    assert second.risk != first.risk  # refitted at each window's start
    for h in ("4", "24", "72"):
        assert report["risk"][h]["ranges"]["close_90"]["all"]["n"] > 0
        assert report["risk"][h]["volatility"]["symbols_judged"] == 2
    assert len(report["risk"]["windows"]) == 2 and "risk horizon 4 bars" in out.getvalue()

    # Never mixed with live ones: the dashboard, the API, the models' pages.
    assert Signal.objects.count() == 0 and ModelVersion.objects.count() == 0
    from ninja.testing import TestClient

    from tradingai.api import api

    assert TestClient(api).get("/signals").json()["data"]["count"] == 0
    live = model_version()
    assert ModelVersion.objects.champion("BTCUSDT", "1h") == live
    # The page shows the track record.
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("trader", password="x" * 12))
    listing = client.get("/simulations/").content.decode()
    assert "resume" in listing
    page = client.get(f"/simulations/{sim.pk}/").content.decode()
    assert "Wilson" in page and "curve-data" in page and "UNIVERSE-1h-sim-resume" in page
    assert SimulationWindow.objects.filter(simulation=sim, done=True).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.system
@production_only()
def test_in_production_the_trainings_run_as_gpu_queue_tasks_on_a_worker(research):
    from signals.tests.test_live_production import start_worker
    from tradingai.celery import app

    assert not app.conf.task_always_eager
    worker = start_worker(research / "models")
    try:
        sim = simulate(request("fanout", 2, windows=2))
    finally:
        worker.terminate()
        log = worker.communicate(timeout=30)[0]
    windows = list(sim.windows.order_by("start"))
    assert all(w.trained_id and w.done for w in windows) and sim.status == "done"
    assert log.count("signals.tasks.train_simulation_window") >= 2 and "succeeded" in log
    assert Signal.everything.filter(simulation=sim).count() == 2 * 4 * 24


@pytest.mark.django_db
@production_only()
def test_with_no_worker_on_the_gpu_queue_the_trainings_run_here_instead_of_waiting(research):
    from tradingai.celery import app

    assert not app.conf.task_always_eager
    said = []
    sim = simulate(request("noworker", 1), lambda what, done, total: said.append(what))
    assert "no worker on the gpu queue: training here" in said
    assert "trainings (Celery, gpu queue)" not in said  # nothing was sent to wait for
    window = sim.windows.get()
    assert window.trained_id and window.done and sim.status == "done"
