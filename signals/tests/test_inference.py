"""Live inference on the stored BTC history with a quick champion: one explained signal per
bar and model, and no signal (with the reason) from stale or broken inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analysis.models import Candle, FundingRate
from analysis.tests.binance_replay import SHARED
from mlcore.serving.cache import serving_for
from mlcore.serving.symbol import one_thread
from signals import inference
from signals.models import NoSignal, Signal
from signals.tests.conftest import quick_champion

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
# The shared funding file ends at the 2024-05-14 00:00 settlement while candles run to 14:00:
# bars closing after 09:00 (08:00 due, plus an hour's grace) have overdue funding, for real.
BAR = datetime(2024, 5, 14, 7, tzinfo=UTC)
NEWEST = datetime(2024, 5, 14, 14, tzinfo=UTC)


def test_one_explained_signal_per_bar(champion, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as pushes:
        outcome = inference.infer("BTCUSDT", "1h", BAR)
    s = outcome.signal
    assert outcome.created and s.open_time == BAR and s.model_version == champion
    assert abs(s.p_sell + s.p_neutral + s.p_buy - 1) < 1e-9
    if s.direction == "neutral":  # not a call: its confidence is the class probability
        assert s.confidence == max(s.p_sell, s.p_neutral, s.p_buy)
    else:  # a call: the probability that it is a hit, from the model's hit calibrator
        bundle = serving_for(champion).bundle
        assert 0 < s.confidence < 1 and bundle.hits.base_rate > 0
    close = Candle.objects.get(symbol="BTCUSDT", open_time=BAR).close
    assert s.entry_price == close
    if s.direction == "long":
        assert s.stop_price < close < s.target_price and s.grade in {"A+", "A", "B", "C"}
    elif s.direction == "short":
        assert s.target_price < close < s.stop_price and s.grade in {"A+", "A", "B", "C"}
    else:  # a neutral prediction is no call: no levels to trade and no grade
        assert s.direction == "neutral" and (s.stop_price, s.target_price, s.grade) == (
            None, None, "",
        )  # fmt: skip
        assert not s.actionable
    e = s.explanation
    assert e["predicted_class"] in {"sell", "neutral", "buy"} and e["text"]
    assert 0 < len(e["drivers_for"]) <= 5 and len(e["drivers_against"]) <= 5
    assert set(s.confirmations) == {"regime", "htf_trend", "volume", "members"}
    # The push, the cache invalidation and the API list's new generation, all after commit.
    assert len(pushes) == 3
    again = inference.infer("BTCUSDT", "1h", BAR)
    assert not again.created and again.signal == s and Signal.objects.count() == 1
    # An earlier bar is its own signal.
    earlier = inference.infer("BTCUSDT", "1h", BAR - timedelta(hours=5))
    assert earlier.created and Signal.objects.count() == 2


def test_no_champion_no_signal(market):
    outcome = inference.infer("BTCUSDT", "1h")
    assert outcome.signal is None and "no model has passed" in outcome.reason
    assert NoSignal.objects.get().reason == outcome.reason


def test_overdue_funding_is_refused(champion):
    outcome = inference.infer("BTCUSDT", "1h")  # the newest bar, 14:00
    assert outcome.signal is None and "funding is overdue" in outcome.reason
    assert "last settlement is 2024-05-14 00:00" in outcome.reason
    assert NoSignal.objects.get().open_time == NEWEST
    FundingRate.objects.filter(funding_time__gte=datetime(2024, 5, 13, 8, tzinfo=UTC)).delete()
    assert "funding is overdue" in inference.infer("BTCUSDT", "1h", BAR).reason
    assert not Signal.objects.exists()


def test_the_replay_moves_on_past_a_refused_bar(champion):
    """The dashboard's "replay next bar" starts after the series' last outcome, a refusal
    included: after the bar at 09:00 was refused (funding overdue) it offers 10:00, not 09:00
    again and again."""
    from signals import replay

    assert inference.infer("BTCUSDT", "1h", BAR).created  # 07:00
    assert replay.next_bar("BTCUSDT", "1h") == BAR + timedelta(hours=1)
    refused = BAR + timedelta(hours=2)
    assert "funding is overdue" in inference.infer("BTCUSDT", "1h", refused).reason
    assert replay.next_bar("BTCUSDT", "1h") == refused + timedelta(hours=1)
    assert replay.next_bar("BTCUSDT", "1h", default_lookback=1) == refused + timedelta(hours=1)
    inference.infer("BTCUSDT", "1h", NEWEST)
    assert replay.next_bar("BTCUSDT", "1h") is None  # history used up


def test_a_gap_before_the_bar_is_refused(champion):
    Candle.objects.filter(symbol="BTCUSDT", open_time=BAR - timedelta(hours=30)).delete()
    outcome = inference.infer("BTCUSDT", "1h", BAR)
    assert outcome.signal is None and "candles are missing before the bar" in outcome.reason
    assert "check_data --repair" in outcome.reason and not Signal.objects.exists()
    # Once the data is whole again, the bar gets its signal and the refusal is cleared.
    from analysis.ingest import import_file

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    assert inference.infer("BTCUSDT", "1h", BAR).created and not NoSignal.objects.exists()


def test_a_model_without_funding_inputs_serves_when_funding_arrives(settings, tmp_path):
    """A model trained without funding (none stored, or holes in it) reads none of it: funding
    arriving later neither changes its inputs nor refuses its bars."""
    from analysis.ingest import import_file

    settings.MODELS_DIR, settings.MLFLOW_TRACKING_URI = tmp_path / "models", ""
    settings.RANDOM_RUNS = 20
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    model = quick_champion()  # trained without funding: a spec without funding features
    assert not any(f.startswith("funding") for f in model.feature_spec["features"])
    import_file(SHARED / "binance_futures_BTCUSDT_funding.csv.gz")  # now the data has it
    outcome = inference.infer("BTCUSDT", "1h", BAR)
    assert outcome.created and outcome.signal.model_version == model


def test_a_feature_spec_mismatch_is_refused(champion):
    """A model that reads funding, given none, is refused, naming what is missing."""
    from analysis.market import candles_frame
    from mlcore.pipeline.features import FeatureSpecMismatch
    from mlcore.pipeline.symbol.predict import predict

    bundle = serving_for(champion).bundle
    assert bundle.spec.uses_funding
    with pytest.raises(FeatureSpecMismatch, match="missing features: funding_rate"):
        predict(bundle, candles_frame("BTCUSDT", "1h", last=2000), None)


def test_inputs_unlike_the_training_rows_are_flagged_and_never_actionable(champion):
    """A symbol model's dissimilarity reference is fitted on its saved sample of training rows:
    an ordinary hour passes; an hour that moves 30 % on 50 times the volume is flagged, said in
    one line. A directional call in a backed grade is actionable while its inputs are ordinary
    and not once they are flagged."""
    from dataclasses import replace

    champion.forced = False
    champion.metrics = champion.metrics | {"supported_grades": ["A+", "A", "B", "C"]}
    champion.save(update_fields=["forced", "metrics"])
    served = serving_for(champion)
    bundle = served.bundle
    assert bundle.dissimilarity is not None
    assert bundle.dissimilarity.names == tuple(bundle.spec.features)
    calls = (
        inference.infer("BTCUSDT", "1h", BAR - timedelta(hours=h)).signal for h in range(5, 60)
    )
    ordinary = next(s for s in calls if s.direction != "neutral")
    assert ordinary.explanation["outside"] is None and ordinary.grade and ordinary.actionable
    # The same bar, its inputs now counted as unlike the training rows (a threshold no row
    # passes): the same directional call, flagged, not actionable.
    ordinary.delete()
    bundle.dissimilarity = replace(bundle.dissimilarity, threshold=-1.0)
    flagged = inference.infer("BTCUSDT", "1h", ordinary.open_time).signal
    assert (flagged.direction, flagged.grade) == (ordinary.direction, ordinary.grade)
    assert flagged.explanation["outside"] and not flagged.actionable
    # A real outlier is flagged by the fitted threshold (the model read again from its files).
    from mlcore.serving import cache

    cache.forget()
    candle = Candle.objects.get(symbol="BTCUSDT", interval="1h", open_time=BAR)
    candle.close, candle.high = candle.close * 1.3, candle.close * 1.31
    candle.volume *= 50
    candle.save(update_fields=["close", "high", "volume"])
    shocked = inference.infer("BTCUSDT", "1h", BAR).signal
    assert shocked.explanation["outside"].startswith(
        "inputs outside what the model was trained on: "
    )
    assert " sd" in shocked.explanation["outside"] and not shocked.actionable


def test_live_inference_gives_the_probabilities_evaluate_gives(champion):
    """A bar inferred alone, as the live path does, gets the probabilities, grade and confidence
    the batch path of ``evaluate`` gives it (the same ``mlcore.pipeline.symbol.predict`` on
    evaluate's inputs: a window and its look-back), to float32 noise."""
    from analysis.market import candles_frame, funding_frame
    from mlcore.models import GradingConfig
    from mlcore.pipeline.symbol.predict import predict

    bundle = serving_for(champion).bundle
    start, end = datetime(2024, 5, 14, 0, tzinfo=UTC), datetime(2024, 5, 14, 8, tzinfo=UTC)
    candles = candles_frame(
        "BTCUSDT", "1h", since=start - timedelta(hours=bundle.history_needed), until=end
    )
    with one_thread():
        batch = predict(
            bundle, candles, funding_frame("BTCUSDT"),
            since=int(start.timestamp() * 1000), rules=GradingConfig.current().rules(),
        )  # fmt: skip
    assert len(batch.open_time) == 8
    for i, open_ms in enumerate(batch.open_time):
        bar = datetime.fromtimestamp(open_ms / 1000, UTC)
        live = inference.infer("BTCUSDT", "1h", bar).signal
        assert live is not None and live.open_time == bar
        # Not bit-equal: the LSTM reads one sequence live and a batch of them here, and float32
        # sums in another order (measured: up to 1.2e-8; half the bars equal to the bit).
        live_p = [live.p_sell, live.p_neutral, live.p_buy]
        np.testing.assert_allclose(live_p, batch.calibrated[i], rtol=0, atol=1e-7, err_msg=bar)
        assert live.grade == str(batch.graded.grade[i]), bar
        assert live.confidence == pytest.approx(float(batch.graded.confidence[i]), abs=1e-7)


def test_the_kept_window_catches_up_on_appends_and_is_rebuilt_when_history_changes(champion):
    """The worker keeps each series' window and live features (``mlcore.live_state``): a new
    bar is read alone and pushed; a rewritten older bar (its ``history`` stamp) rebuilds the
    state from a full read. Either way the signal is the one a full read gives."""
    from analysis.dumps import read_dump
    from analysis.market import candles_frame, funding_frame
    from analysis.store import upsert_candles
    from mlcore import live_state
    from mlcore.models import GradingConfig
    from mlcore.pipeline.symbol.predict import predict

    bundle = serving_for(champion).bundle
    key = ("BTCUSDT", "1h", bundle.spec.version)

    def full_read(bar: datetime) -> np.ndarray:
        since = bar - timedelta(hours=bundle.history_needed - 1)
        candles = candles_frame("BTCUSDT", "1h", since=since, until=bar + timedelta(hours=1))
        with one_thread():
            preds = predict(
                bundle, candles, funding_frame("BTCUSDT"),
                since=int(bar.timestamp() * 1000), rules=GradingConfig.current().rules(),
            )  # fmt: skip
        return preds.calibrated[-1]

    def live(bar: datetime) -> np.ndarray:
        signal = inference.infer("BTCUSDT", "1h", bar).signal
        return np.array([signal.p_sell, signal.p_neutral, signal.p_buy])

    before = BAR - timedelta(hours=3)
    np.testing.assert_allclose(live(before), full_read(before), atol=1e-7)
    kept = live_state._states[key]
    after = BAR - timedelta(hours=1)
    np.testing.assert_allclose(live(after), full_read(after), atol=1e-7)
    assert live_state._states[key] is kept and kept.last == int(after.timestamp() * 1000)
    # An older bar of the window rewritten through the store, as a repair would.
    dump = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame
    old = dump[dump["open_time"] == int((after - timedelta(hours=6)).timestamp() * 1000)]
    assert len(old) == 1
    upsert_candles("BTCUSDT", "1h", old.assign(close=old["close"] * 1.2, high=old["high"] * 1.2))
    np.testing.assert_allclose(live(BAR), full_read(BAR), atol=1e-7)
    assert live_state._states[key] is not kept


def test_a_neutral_prediction_is_stored_without_levels_or_grade(champion):
    """Not a call: no stop, no target, no grade, never actionable. The bar is found by the
    batch path among the last two days (this data has neutral bars there; the test says so if
    it ever has none)."""
    from analysis.market import candles_frame, funding_frame
    from mlcore.models import GradingConfig
    from mlcore.pipeline.symbol.predict import predict

    bundle = serving_for(champion).bundle
    start = datetime(2024, 5, 13, 0, tzinfo=UTC)
    candles = candles_frame(
        "BTCUSDT", "1h", since=start - timedelta(hours=bundle.history_needed), until=BAR
    )
    batch = predict(
        bundle, candles, funding_frame("BTCUSDT"),
        since=int(start.timestamp() * 1000), rules=GradingConfig.current().rules(),
    )  # fmt: skip
    neutral = np.flatnonzero(batch.graded.direction == 0)
    assert len(neutral), "no neutral prediction in these two days: pick another window"
    bar = datetime.fromtimestamp(batch.open_time[neutral[0]] / 1000, UTC)
    s = inference.infer("BTCUSDT", "1h", bar).signal
    assert s.direction == "neutral" and (s.stop_price, s.target_price, s.grade) == (None, None, "")
    assert not s.actionable
    assert s.confidence == max(s.p_sell, s.p_neutral, s.p_buy)


def test_a_models_grade_thresholds_are_frozen_with_its_evidence(champion):
    """The thresholds a model's grades were judged under are saved with it; an edit of the
    grading settings applies to the next training, never to what a served grade means."""
    from mlcore.models import GradingConfig, ModelVersion
    from mlcore.pipeline.common.grading import GradingRules

    assert GradingRules.from_dict(champion.config["grading"]) == GradingRules()  # at training
    config = GradingConfig.current()
    config.a_plus_confidence, config.a_confidence, config.b_confidence = 0.99, 0.98, 0.97
    config.save()
    served = serving_for(champion)
    assert served.rules == GradingRules() != config.rules()
    assert ModelVersion.objects.get(pk=champion.pk).grading_rules() == GradingRules()
