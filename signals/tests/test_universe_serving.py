"""The universe model serves: it makes the signals of symbols it won on and of symbols it never
trained on (marked as such), through the same storing and pushing as a symbol's own model."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from mlcore import serving
from mlcore.models import ModelVersion
from mlcore.pipeline.universe.final_model import UNIVERSE
from mlcore.serving import cache as serving_cache
from mlcore.tests.factories import model_version
from signals import inference
from signals.models import Signal
from signals.serialize import signal_json

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
BAR = datetime(2024, 5, 14, 7, tzinfo=UTC)


def test_a_symbol_the_universe_model_never_saw_gets_its_signal(universe_champion):
    outcome = inference.infer("1000PEPEUSDT", "1h", BAR)
    s = outcome.signal
    assert outcome.created and s.model_version == universe_champion
    assert s.universe and s.unseen and "never trained on" in s.served_by
    assert s.p_buy is None and 0 < s.confidence < 1
    assert s.explanation["model"] == "universe" and s.explanation["unseen"] is True
    assert s.explanation["drivers_for"] or s.explanation["drivers_against"]
    data = signal_json(s)
    assert data["model"]["universe"] and not data["model"]["trained_on_symbol"]
    # Idempotent, like every model's: the bar has its one signal.
    assert not inference.infer("1000PEPEUSDT", "1h", BAR).created
    assert Signal.objects.count() == 1
    # A directional call (the nearest earlier bar with one) is graded, with its levels on
    # either side of the entry at the model's own barrier.
    from datetime import timedelta

    earlier = (
        inference.infer("1000PEPEUSDT", "1h", BAR - timedelta(hours=h)) for h in range(1, 60)
    )
    call = next(o.signal for o in earlier if o.signal.direction != "neutral")
    assert call.grade in {"A+", "A", "B", "C"}
    low, high = sorted([call.stop_price, call.target_price])
    assert low < call.entry_price < high
    assert (call.target_price > call.entry_price) == (call.direction == "long")


SERIES = ["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"]
STORED = ["direction", "grade", "confidence", "confirmations", "regime", "entry_price",
          "stop_price", "target_price", "explanation", "actionable"]  # fmt: skip


def test_a_round_inferred_together_stores_what_each_series_alone_stores(universe_champion):
    """The live round (one context read, one members call, one transaction) against each
    series inferred on its own: the same stored signal, field by field (the score to 1e-12:
    the members' matrix products sum in another order over many rows)."""

    def fields(signal: Signal) -> dict:
        row = Signal.objects.filter(pk=signal.pk).values(*STORED).get()
        row["explanation"]["call_score"] = pytest.approx(
            row["explanation"]["call_score"], rel=1e-12
        )
        row["confidence"] = pytest.approx(row["confidence"], rel=1e-12)
        return row

    together = inference.infer_round(SERIES, "1h", BAR)
    assert all(o.created for o in together.values())
    stored = {s: fields(o.signal) for s, o in together.items()}
    Signal.objects.all().delete()
    serving_cache.forget()  # nothing kept from the round
    from mlcore.training import inputs

    inputs._reads.clear()
    for symbol in SERIES:
        alone = inference.infer(symbol, "1h", BAR)
        assert alone.created
        assert Signal.objects.filter(pk=alone.signal.pk).values(*STORED).get() == stored[symbol]
    # Idempotent as a round too.
    again = inference.infer_round(SERIES, "1h", BAR)
    assert not any(o.created for o in again.values()) and Signal.objects.count() == 3


def test_a_series_of_the_round_lacking_bars_is_refused_and_the_others_are_stored(
    universe_champion,
):
    from datetime import timedelta

    from analysis.store import delete_candles
    from signals.models import NoSignal

    delete_candles("1000PEPEUSDT", "1h", open_time=BAR - timedelta(hours=3))
    outcomes = inference.infer_round(SERIES, "1h", BAR)
    assert outcomes["BTCUSDT"].created and outcomes["ETHUSDT"].created
    assert outcomes["1000PEPEUSDT"].signal is None
    assert "candles are missing" in outcomes["1000PEPEUSDT"].reason
    assert list(NoSignal.objects.values_list("symbol", flat=True)) == ["1000PEPEUSDT"]


def test_a_row_the_database_refuses_costs_only_its_own_series(universe_champion):
    """One transaction stores a round; a value PostgreSQL refuses (NaN in JSON) must not
    cost the other series their signals: each is stored on its own, the refused one as a
    refusal saying why."""
    from django.db import connection

    from signals.models import NoSignal

    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores NaN in JSON")
    from dataclasses import replace

    from mlcore.serving import Call

    good = Call("BTCUSDT", "1h", int(BAR.timestamp() * 1000), 1, "C", 0.5, None, {}, "", 1.0,
                None, None, {"outside": None}, None, False)  # fmt: skip
    bad = replace(good, symbol="ETHUSDT", explanation={"call_score": float("nan")})
    outcomes = inference._save_round(universe_champion, [good, bad])
    assert outcomes["BTCUSDT"].created and outcomes["ETHUSDT"].signal is None
    assert "could not be stored" in outcomes["ETHUSDT"].reason
    assert list(Signal.objects.values_list("symbol", flat=True)) == ["BTCUSDT"]
    assert NoSignal.objects.get(symbol="ETHUSDT").open_time == BAR


@pytest.mark.django_db(transaction=True)
def test_the_rounds_event_is_inferred_in_the_configured_number_of_tasks(
    universe_champion, settings, eager
):
    """One ``candles_stored`` event names the round; its series are split across
    ``INFERENCE_TASKS_PER_ROUND`` tasks (run in process here, as in the embedded mode), once
    the event's transaction commits. The signals of one task share its start."""
    from django.db import transaction

    from analysis.events import candles_stored

    settings.INFERENCE_TASKS_PER_ROUND = 2
    with transaction.atomic():
        candles_stored.send(sender="test", series=[(s, "1h", BAR) for s in SERIES])
        assert not Signal.objects.exists()
    started = {s.symbol: s.timings["started_at"] for s in Signal.objects.all()}
    assert set(started) == set(SERIES)
    assert started["BTCUSDT"] == started["1000PEPEUSDT"] != started["ETHUSDT"]


def test_the_detail_page_says_which_model_made_the_signal(universe_champion, signed_in):
    s = inference.infer("1000PEPEUSDT", "1h", BAR).signal
    page = signed_in.get(f"/signals/{s.pk}/").content.decode()
    assert "universe model, never trained on this symbol" in page
    assert "The universe model never trained on 1000PEPEUSDT" in page


def test_the_symbol_keeps_its_own_champion_where_the_universe_model_lost(universe_champion):
    own = model_version(symbol="BTCUSDT", status="champion")
    universe_champion.metrics["winners"] = {"BTCUSDT": "symbol", "ETHUSDT": "universe"}
    universe_champion.save()
    assert serving.serving_model("BTCUSDT", "1h") == own
    assert serving.serving_model("ETHUSDT", "1h") == universe_champion
    assert serving.serving_model("1000PEPEUSDT", "1h") == universe_champion  # no rival
    universe_champion.metrics["winners"]["BTCUSDT"] = "universe"
    universe_champion.save()
    assert serving.serving_model("BTCUSDT", "1h") == universe_champion


def test_a_gap_in_the_target_is_refused_a_gap_elsewhere_only_thins_the_context(
    universe_champion,
):
    from datetime import timedelta

    from analysis.store import delete_candles

    inference.infer("ETHUSDT", "1h", BAR - timedelta(hours=1))  # reads kept in this process
    delete_candles("ETHUSDT", "1h", open_time=BAR - timedelta(hours=3))
    assert inference.infer("BTCUSDT", "1h", BAR).created  # ETH leaves the context
    delete_candles("1000PEPEUSDT", "1h", open_time=BAR - timedelta(hours=3))
    outcome = inference.infer("1000PEPEUSDT", "1h", BAR)
    assert outcome.signal is None and "candles are missing" in outcome.reason
    assert "2024-05-14 04:00" in outcome.reason and "check_data --repair" in outcome.reason


def test_a_young_listing_is_told_when_it_can_be_served_not_to_repair(universe_champion):
    """Its history starts after the model's look-back does: no hole to repair, a date to wait
    for."""
    from datetime import timedelta

    from analysis.store import delete_candles

    start = BAR - timedelta(hours=100)
    delete_candles("1000PEPEUSDT", "1h", open_time__lt=start)
    outcome = inference.infer("1000PEPEUSDT", "1h", BAR)
    needed = serving_cache.serving_for(universe_champion).history_needed
    earliest = start + timedelta(hours=needed - 1)
    assert outcome.signal is None and "repair" not in outcome.reason
    assert f"history starts {start:%Y-%m-%d %H:%M}" in outcome.reason
    assert f"it can predict from {earliest:%Y-%m-%d %H:%M} on" in outcome.reason


def test_evaluate_scores_a_symbol_the_universe_model_never_trained_on(settings, tmp_path):
    """``evaluate`` for a symbol outside the universe model's training set: the same inputs and
    prediction as live inference, and the documented report."""
    import json

    settings.MODELS_DIR = tmp_path / "models"
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.RANDOM_RUNS = 20
    for s in ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT"):
        import_file(SHARED / f"binance_futures_{s}_1h.csv.gz")
        import_file(SHARED / f"binance_futures_{s}_funding.csv.gz")
    call_command(
        "train_all", "--pooled", "--quick", "--force", "--symbols", "BTCUSDT,ETHUSDT",
        "--until", "2024-02-01", stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    model = ModelVersion.objects.get(symbol=UNIVERSE)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="overlaps what"):
        call_command(
            "evaluate", "--symbols", "1000PEPEUSDT", "--from", "2024-01-10", "--to", "2024-03-01",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    out = io.StringIO()
    call_command(
        "evaluate", "--symbols", "1000PEPEUSDT", "--from", "2024-02-10", "--to", "2024-05-13",
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    assert "[universe model, never trained on it]" in out.getvalue()
    rep = json.loads((tmp_path / "reports" / "evaluation_1000PEPEUSDT.json").read_text())
    assert rep["schema"] == "tradingai.evaluation/1" and rep["symbol"] == "1000PEPEUSDT"
    assert rep["model"]["version"] == model.version and rep["model"]["scope"] == "universe"
    assert rep["model"]["trained_on_symbol"] is False and rep["kind"] == "holdout"
    f = rep["figures"]
    # The same stored shape as a symbol model's, the hit it counted named.
    from dataclasses import fields

    from mlcore.pipeline.common.judged import HIT_FORWARD, CallFigures

    shape = {field.name for field in fields(CallFigures)}
    assert set(f) == shape | {"risk"} and f["hit_definition"] == HIT_FORWARD
    assert f["kind"] == "universe" and f["classes"] is None
    # Beside it, the simple rule its training favoured, on the same rows at the same costs.
    rule = f["detail"]["best_rule_same_rows"]
    assert rule["rule"] and rule["ic"] is not None and rule["calls"] > 2000
    assert "the rule its training favoured" in out.getvalue()
    walk_forward = model.evaluations.get(kind="walk_forward").figures
    assert set(walk_forward) == shape and walk_forward["per_grade"]
    assert walk_forward["detail"]["per_symbol"] and walk_forward["hit_definition"].startswith(
        HIT_FORWARD
    )
    assert f["rows"] > 2000 and f["ic"] is not None and f["signals"] > 0
    assert [g["grade"] for g in f["per_grade"]] == ["A+", "A", "B", "C"]
    assert len(rep["backtests"]) == 4
    # Beside them, the serving risk model judged on the same window and symbol (it was fitted
    # by train_all --pooled on BTC and ETH up to 2024-02-01: out of time, on an unseen symbol).
    from mlcore.models import RiskModel

    risk = f["risk"]
    assert risk["model"] == RiskModel.current("1h").version and risk["symbols"] == ["1000PEPEUSDT"]
    for h in ("4", "24", "72"):
        ic = risk[h]["volatility"]["per_symbol"][0]["ic"]
        assert ic["model"] is not None and ic["ewma"] is not None and ic["har"] is not None
        close = risk[h]["ranges"]["close_90"]
        assert close["all"]["n"] > 0 and set(close["per_symbol"]) == {"1000PEPEUSDT"}
        assert len(close["terciles"]) == 3 and risk[h]["touch"]["ideas"] > 100
    assert "risk horizon 4 bars: rank IC model" in out.getvalue()
    # The window's calls are the live path's: a bar read inside the whole window and the same
    # bar read live from its own look-back only get the same confidence and grade.
    from pathlib import Path

    from mlcore import artifacts
    from mlcore.pipeline.universe.final_model import predict_universe
    from mlcore.training.inputs import read_inputs

    bar = datetime(2024, 4, 2, 5, tzinfo=UTC)
    live = inference.infer("1000PEPEUSDT", "1h", bar).signal
    assert live.model_version == model and live.unseen
    um = artifacts.load_universe(Path(model.artifact_path))
    start = int(datetime(2024, 2, 10, tzinfo=UTC).timestamp() * 1000)
    bar_ms = int(bar.timestamp() * 1000)
    first = start - (um.history_needed - 1) * 3_600_000
    inputs = read_inputs(um, "1000PEPEUSDT", "1h", first, bar_ms)
    calls = predict_universe(um, inputs.frames, "1000PEPEUSDT", since=start)
    at = calls.open_time == bar_ms
    assert calls.confidence[at][0] == pytest.approx(live.confidence, rel=1e-9)
    assert calls.grade[at][0] == live.grade


def test_the_universe_models_page_shows_its_evidence(universe_champion, signed_in):
    page = signed_in.get(f"/models/{universe_champion.pk}/").content.decode()
    assert "Universe model over 2 symbols (BTCUSDT, ETHUSDT)" in page
    assert "Best simple rule, chosen on earlier folds" in page and "Per symbol" in page
    if universe_champion.metrics["supported_grades"]:
        assert "No grade of this model is backed" not in page
    universe_champion.metrics["supported_grades"] = []
    universe_champion.save()
    page = signed_in.get(f"/models/{universe_champion.pk}/").content.decode()
    assert "No grade of this model is backed by its out-of-sample evidence" in page
    for grade in ("A+", "A", "B", "C"):
        assert f"<td>{grade}</td>" in page
    # The list: a symbol with no model of its own says the universe model serves it, and the
    # universe model's card gives its out-of-fold figures (not a symbol model's empty ones).
    listing = " ".join(signed_in.get("/models/").content.decode().split())
    assert f"the universe model ({universe_champion.version}) serves BTCUSDT" in listing
    assert "Out of fold: IC" in listing and "XGBoost log loss" not in listing
    assert "Universe model: one model over every symbol" in listing


def test_the_daily_drift_check_and_the_worker_preload_cope_with_a_universe_champion(
    universe_champion,
):

    serving_cache.forget()
    assert serving_cache.load_champions() == 1
    assert serving_cache.serving_for(universe_champion).kind == "universe"
    assert universe_champion.version in serving_cache._loaded


def test_the_daily_drift_check_covers_the_universe_champion_and_retrains_it(
    universe_champion, settings, django_capture_on_commit_callbacks
):
    """Its inputs over the newest bars of every symbol against the reference sample of its
    training rows (spanning every symbol), its recent calls' hit rate against its
    walk-forward's, its age; a trigger queues its retraining through its gate."""
    from mlcore import tasks
    from mlcore.models import DriftReport, TrainingRun

    settings.SYMBOLS = ["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"]
    reference = Path(universe_champion.artifact_path) / "reference.npz"
    with np.load(reference) as stored:
        saved = {k: stored[k] for k in stored.files}
    assert set(saved["symbols"]) == {"BTCUSDT", "ETHUSDT"}
    assert saved["features"].shape == (800, len(saved["names"]))
    # The session's model trained on every stored bar: say it trained to April, so that the
    # window (the last 720 bars, to 2024-05-14) holds calls after its training and embargo.
    universe_champion.train_end = datetime(2024, 4, 1, tzinfo=UTC)
    universe_champion.save(update_fields=["train_end"])
    with django_capture_on_commit_callbacks() as queued:
        lines = tasks.check_drift()
    report = DriftReport.objects.get(model_version=universe_champion)
    assert [f["name"] for f in report.features] == list(saved["names"])
    assert report.outcomes > 1000 and 0.3 < report.accuracy < 0.7
    assert (
        report.baseline_accuracy == universe_champion.metrics["universe"]["calls"]["hit_base_rate"]
    )
    assert "age" in report.triggers
    run = TrainingRun.objects.get(symbol=UNIVERSE, status="queued")
    assert report.action == f"universe 1h: retraining #{run.pk} queued on 3 symbols"
    assert lines == [f"{universe_champion.version}: {', '.join(report.triggers)}; {report.action}"]
    assert len(queued) == 1  # the training task, sent once the check commits


def test_a_call_is_actionable_only_in_a_grade_its_model_has_earned(universe_champion):
    from datetime import timedelta

    universe_champion.forced = False
    universe_champion.metrics["supported_grades"] = []
    universe_champion.save()
    first = inference.infer("1000PEPEUSDT", "1h", BAR).signal
    assert not first.actionable and signal_json(first)["actionable"] is False
    # The grade this model's evidence backs makes the next bar's call actionable...
    bar = BAR - timedelta(hours=1)
    probe = inference.infer("1000PEPEUSDT", "1h", bar).signal
    probe.delete()
    # PEPE is a symbol the model never trained on: its training's evidence is not enough...
    universe_champion.metrics["supported_grades"] = [probe.grade]
    universe_champion.save()
    unseen = inference.infer("1000PEPEUSDT", "1h", bar).signal
    assert unseen.model_version == universe_champion and not unseen.actionable
    unseen.delete()
    # ...its left-out symbols' evidence must back the grade too.
    universe_champion.metrics["supported_grades_unseen"] = [probe.grade]
    universe_champion.save()
    again = inference.infer("1000PEPEUSDT", "1h", bar).signal
    assert again.direction != "neutral" and again.actionable
    # ...unless the model was forced past a failed gate.
    again.delete()
    universe_champion.forced = True
    universe_champion.save()
    assert not inference.infer("1000PEPEUSDT", "1h", bar).signal.actionable


def test_inputs_unlike_the_training_rows_are_said_and_never_actionable(universe_champion):
    """A directional call in a backed grade, actionable while its inputs are ordinary, is
    flagged and not actionable once they count as unlike the training rows."""
    from dataclasses import replace
    from datetime import timedelta

    universe_champion.forced = False
    universe_champion.metrics["supported_grades"] = ["A+", "A", "B", "C"]
    universe_champion.metrics["supported_grades_unseen"] = ["A+", "A", "B", "C"]  # PEPE
    universe_champion.save()
    um = serving_cache.serving_for(universe_champion).model
    assert um.dissimilarity is not None and um.dissimilarity.threshold > 0
    bars = (BAR - timedelta(hours=h) for h in range(2, 60))
    calls = (inference.infer("1000PEPEUSDT", "1h", bar).signal for bar in bars)
    ordinary = next(s for s in calls if s.direction != "neutral")
    assert ordinary.explanation["outside"] is None and ordinary.grade and ordinary.actionable
    ordinary.delete()
    # A threshold no row passes: every input counts as unlike the training rows.
    um.dissimilarity = replace(um.dissimilarity, threshold=-1.0)
    s = inference.infer("1000PEPEUSDT", "1h", ordinary.open_time).signal
    assert (s.direction, s.grade) == (ordinary.direction, ordinary.grade)
    assert s.explanation["outside"].startswith("inputs outside what the model was trained on: ")
    assert not s.actionable


def test_the_dissimilarity_reference_round_trips(universe_champion):
    import json
    from pathlib import Path

    from mlcore import artifacts
    from mlcore.pipeline.common.dissimilarity import Dissimilarity

    um = artifacts.load_universe(Path(universe_champion.artifact_path))
    d = um.dissimilarity
    again = Dissimilarity.from_dict(json.loads(json.dumps(d.to_dict())))
    import numpy as np

    X = np.random.default_rng(0).normal(size=(50, len(d.names)))
    np.testing.assert_array_equal(again.score(X)[0], d.score(X)[0])


def test_the_universe_models_barrier_is_saved_with_it(universe_champion, settings):
    """Stop and target come from the barrier saved with the model at training, so a later
    edit of the setting changes no call of a model already trained."""
    from pathlib import Path

    from mlcore import artifacts

    at_training = settings.LABEL_ATR_MULTIPLE
    manifest = artifacts.read_manifest(Path(universe_champion.artifact_path))
    assert manifest["model"]["atr_multiple"] == at_training
    settings.LABEL_ATR_MULTIPLE = at_training * 3
    served = serving_cache.serving_for(universe_champion)  # loaded after the edit
    assert served.model.barrier.upper_atr == served.model.barrier.lower_atr == at_training
    assert served.model.barrier.horizon == served.model.horizon


def test_every_call_carries_its_risk_and_the_forecast_equals_the_batch_one(universe_champion):
    """The risk model fitted beside the universe model (``train_all --pooled``) serves every
    call, directional or not: the ranges at each horizon hold the entry, and a directional
    call's forecast-placed stop and target lie on its sides with odds that sum to one. The
    forecast read live (the trailing span) equals the one computed over the whole history."""
    from datetime import timedelta

    import numpy as np

    from analysis.market import candles_frame
    from mlcore.models import RiskModel
    from mlcore.pipeline.risk import volatility
    from mlcore.pipeline.risk.model import RiskModel as Fitted

    record = RiskModel.current("1h")
    assert record is not None and record.symbols == ["BTCUSDT", "ETHUSDT"]  # PEPE: unseen
    bars = (BAR - timedelta(hours=h) for h in range(0, 60))
    signals = [inference.infer("1000PEPEUSDT", "1h", bar).signal for bar in bars]
    call = next(s for s in signals if s.direction != "neutral")
    for s in (signals[0], call):
        assert s.risk["model"] == record.version
        assert [f["h"] for f in s.risk["horizons"]] == [4, 24, 72]
        for f in s.risk["horizons"]:
            assert f["spread"] > 0 and 0 < f["expected_move"] < f["spread"]
            low, high = f["close"]["90"]
            assert low < f["close"]["50"][0] < f["close"]["50"][1] < high
            assert f["high"]["90"][1] > s.entry_price > f["low"]["90"][0]
    levels = call.risk["levels"]
    odds = levels["odds"]
    assert abs(odds["target"] + odds["stop"] + odds["neither"] - 1) < 1e-9
    assert (levels["target"] > call.entry_price) == (call.direction == "long")
    assert (levels["stop"] < call.entry_price) == (call.direction == "long")
    assert levels["cost_in_stop"] > 0
    # Live (the trailing span) against the batch over the whole stored history.
    fitted = Fitted.from_dict(record.params)
    candles = candles_frame("1000PEPEUSDT", "1h")
    frame = volatility.features(
        *(candles[c].to_numpy() for c in ("open_time", "high", "low", "close")), 3_600_000
    )
    at = int(
        np.flatnonzero(candles["open_time"].to_numpy() == int(call.open_time.timestamp() * 1000))[0]
    )
    for f, m in zip(call.risk["horizons"], fitted.horizons, strict=True):
        assert f["spread"] == pytest.approx(float(np.sqrt(m.vol.predict(frame)[at])), rel=1e-9)


def test_check_my_idea_answers_the_odds_with_their_evidence_and_names_bad_fields(
    universe_champion,
):
    import json

    from django.test import Client

    from mlcore.models import RiskModel

    inference.infer("1000PEPEUSDT", "1h", BAR)  # the direction engine's newest call
    client = Client()

    def post(**body):
        return client.post("/api/risk/check", json.dumps(body), content_type="application/json")

    from analysis.models import Candle

    newest = Candle.objects.filter(symbol="1000PEPEUSDT", interval="1h").order_by("-open_time")
    entry = float(newest.first().close)
    answer = post(ticker="1000pepe-usdt", side="long", stop=entry * 0.97, target=entry * 1.05)
    assert answer.status_code == 200, answer.content
    data = answer.json()["data"]
    odds = data["odds"]
    assert data["symbol"] == "1000PEPEUSDT" and data["entry"] == entry  # the newest close
    assert abs(odds["target"] + odds["stop"] + odds["neither"] - 1) < 1e-9
    assert 0 < data["break_even"] < 1 and data["round_trip_cost"] > 0
    assert data["range"]["h"] == 24 and data["model"] == RiskModel.current("1h").version
    assert data["direction"]["model"] == universe_champion.version
    # A target twice as far away is touched first less often.
    far = post(ticker="1000PEPEUSDT", side="long", stop=entry * 0.97, target=entry * 1.10)
    assert far.json()["data"]["odds"]["target"] < odds["target"]

    def refused(status: int, field: str | None = None, **body):
        response = post(**({"ticker": "1000PEPEUSDT", "side": "long", "stop": entry * 0.97,
                            "target": entry * 1.05} | body))  # fmt: skip
        assert response.status_code == status, response.content
        if field:
            assert field in json.dumps(response.json()["error"])

    refused(422, "stop", stop=entry * 1.01)  # above a long's entry
    refused(422, "target", side="short", stop=entry * 1.03)  # a short's target above the entry
    refused(422, "stop", entry=entry, stop=entry)  # no distance
    refused(422, "horizon_hours", horizon_hours=5)  # not a fitted horizon
    refused(422, "stop", stop=-1.0)
    refused(422, "side", side="sideways")
    refused(404, ticker="NOPEUSDT")
    RiskModel.objects.all().delete()
    refused(404)


def test_the_check_my_idea_page_answers_and_names_what_is_wrong(universe_champion, signed_in):
    page = signed_in.get("/risk/").content.decode()
    assert "Check my idea" in page and 'name="stop"' in page
    form = {"ticker": "1000PEPEUSDT", "side": "long", "stop": "0.0100", "target": "0.0115",
            "horizon_hours": "24"}  # fmt: skip
    answer = signed_in.post("/risk/", form).content.decode()
    assert (
        "Target first" in answer and "Needed to break even" in answer and "Expected move" in answer
    )
    wrong = signed_in.post("/risk/", form | {"stop": "0.0120"}).content.decode()
    assert "stop: a long&#x27;s stop must be below the entry" in wrong
    partial = signed_in.post("/risk/", form, HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('\n  <div id="idea-result">') or 'id="idea-result"' in partial[:80]
    assert "<html" not in partial


def test_the_risk_reads_kept_per_process_equal_a_fresh_read(universe_champion):
    """The trailing bars the risk figures read are kept per process and slid by appends; a
    rewritten row (the series' history stamp changes) reads in full. Each answer equals a
    fresh read of the same span."""
    from datetime import timedelta

    from analysis.market import candles_frame
    from mlcore.serving import risk

    def fresh(bar, span=500):
        frame = candles_frame("ETHUSDT", "1h", last=span, until=bar + timedelta(hours=1))
        return frame[list(risk.COLUMNS)].reset_index(drop=True)

    def kept(bar, span=500):
        bar_ms = int(bar.timestamp() * 1000)
        first = bar_ms - (span - 1) * 3_600_000
        return risk.trailing(["ETHUSDT"], "1h", bar_ms, first)["ETHUSDT"]

    earlier = BAR - timedelta(hours=5)
    assert kept(earlier).equals(fresh(earlier))
    assert kept(BAR).equals(fresh(BAR))  # slid by five bars
    # A rewritten bar inside the kept span: the history stamp changes, so the span is read anew.
    from analysis.dumps import read_dump
    from analysis.store import upsert_candles

    dump = read_dump(SHARED / "binance_futures_ETHUSDT_1h.csv.gz").frame
    at = int((BAR - timedelta(hours=2)).timestamp() * 1000)
    rewritten = dump[dump["open_time"] == at]
    upsert_candles("ETHUSDT", "1h", rewritten.assign(high=rewritten["high"] * 1.01))
    later = BAR + timedelta(hours=1)
    got = kept(later)
    assert got.equals(fresh(later)) and len(got) == 500
    assert got.loc[got["open_time"] == rewritten["open_time"].iloc[-1], "high"].iloc[0] == (
        rewritten["high"].iloc[-1] * 1.01
    )
