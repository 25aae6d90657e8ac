"""Drift checks of a real champion: a trigger queues exactly one retraining (after commit),
a second check while it is queued queues none; the system reports degraded meanwhile."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.test import Client
from ninja.testing import TestClient

from mlcore import drift_checks
from mlcore.models import DriftReport, TrainingRun
from tradingai.api import api
from tradingai.health import system_health

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def champion(champion, settings):
    """The session's quick BTC champion (trained to 2024-01-01), with two watched symbols."""
    settings.SYMBOLS = ["BTCUSDT", "ETHUSDT"]
    return champion


def test_a_trigger_queues_exactly_one_retraining(champion, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        report = drift_checks.check("BTCUSDT", "1h")
    assert "age" in report.triggers  # trained on data that ended in 2024
    assert 600 < report.outcomes <= 720 and report.baseline_accuracy is not None
    assert len(report.features) == len(champion.feature_spec["features"])
    queued = TrainingRun.objects.get(status="queued")
    assert report.training_run == queued and len(sent) == 1
    assert queued.options["reason"].startswith("drift: ")
    with django_capture_on_commit_callbacks() as sent_again:
        again = drift_checks.check("BTCUSDT", "1h")
    assert again.triggers and again.training_run is None and len(sent_again) == 0
    assert "already queued" in again.action
    assert TrainingRun.objects.filter(status="queued").count() == 1
    # Meanwhile the system says so: health, the healthcheck command, the API, the page.
    health = system_health()
    assert health.status == "degraded" and health.champions[0].drift_triggers
    with pytest.raises(SystemExit) as exit_code:
        call_command("healthcheck", stdout=io.StringIO())
    assert exit_code.value.code in (1,)
    reports = TestClient(api).get(f"/models/{champion.pk}/drift").json()["data"]
    assert [r["id"] for r in reports] == [again.pk, report.pk]
    assert reports[1]["training_run"] == queued.pk
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("t", password="x" * 12))
    page = client.get("/models/").content.decode()
    assert "Drift" in page and f"training #{queued.pk}" not in page  # the newest report shows
    assert "already queued" in page
    # The queued run, once a worker takes it, still says why it was queued.
    from mlcore import tasks

    tasks.train(queued.pk)
    queued.refresh_from_db()
    assert queued.options["reason"].startswith("drift: ") and not queued.active


def test_no_retraining_without_newer_data_and_the_weekly_run(champion, settings):
    champion.train_end = datetime(2024, 6, 1, tzinfo=UTC)  # as if trained on everything stored
    champion.save(update_fields=["train_end"])
    report = drift_checks.check("BTCUSDT", "1h")
    assert report.triggers and report.training_run is None
    assert "no candle is newer than its training data" in report.action
    actions = drift_checks.retrain_symbols()
    assert actions == [
        "BTCUSDT 1h: no data newer than " + champion.version,
        "ETHUSDT 1h: no data",
    ]
    assert not TrainingRun.objects.filter(status="queued").exists()
    assert DriftReport.objects.count() == 1


def test_check_drift_command_exits_1_on_a_trigger(champion):
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_code:
        call_command("check_drift", "--symbols", "BTCUSDT,ETHUSDT", stdout=out)
    assert exit_code.value.code == 1
    text = out.getvalue()
    assert "ETHUSDT: no champion" in text and f"{champion.version}: " in text and "age" in text


def test_the_universe_model_retrains_on_its_schedule_through_its_gate(
    universe_champion, settings, django_capture_on_commit_callbacks
):
    """Issue 29: nothing used to retrain the universe model. The weekly task queues one
    walk-forward on every symbol with data once a bar newer than the champion's training is
    stored, and the ``train_universe`` task runs it (and refits the risk model beside it)."""
    from datetime import timedelta

    from mlcore.models import ModelVersion, RiskModel
    from mlcore.pipeline.universe.final_model import UNIVERSE

    settings.SYMBOLS = ["BTCUSDT", "ETHUSDT"]
    runs = TrainingRun.objects.filter(symbol=UNIVERSE).count()
    said = drift_checks.retrain_universe_model("1h", quick=True)
    assert said.endswith(f"no data newer than {universe_champion.version}")
    assert TrainingRun.objects.filter(symbol=UNIVERSE).count() == runs  # nothing queued
    # A champion trained a month before the newest bar: retrained, as the worker would.
    universe_champion.train_end -= timedelta(days=30)
    universe_champion.save(update_fields=["train_end"])
    risk_models = RiskModel.objects.count()
    with django_capture_on_commit_callbacks() as sent:
        said = drift_checks.retrain_universe_model("1h", quick=True)
    assert "queued on 2 symbols" in said and len(sent) == 1
    run = TrainingRun.objects.filter(symbol=UNIVERSE).latest("pk")
    assert run.status == "queued" and run.options["symbols"] == settings.SYMBOLS
    # The task as the gpu worker runs it: the walk-forward, its gate, the risk model beside it.
    from mlcore.tasks import train_universe

    done = train_universe(run.pk)
    run.refresh_from_db()
    assert done["status"] == run.status and run.status in ("succeeded", "failed")
    assert ModelVersion.everything.filter(symbol=UNIVERSE).count() == 2  # the challenger
    assert RiskModel.objects.count() == risk_models + 1
    # A second delivery of the same task finds the run taken and does nothing.
    assert train_universe(run.pk)["message"] == "already claimed: not run again"
