"""Drift checks of the champions, and the retraining they cause.

``check(symbol, interval)``:
1. the series' champion (none: nothing to check);
2. the recent window: the newest ``window_bars`` stored bars, with the history the model needs;
3. its features and predictions through the live path's function (``pipeline.predict``);
4. features against the reference sample saved with the model (KS, corrected; see
   ``pipeline.drift``), accuracy of the predictions whose outcome is known and that come after
   the training window plus embargo, against the out-of-fold baseline, and age;
5. a trigger enqueues one retraining after commit, unless one is queued or running already (a
   constraint makes a second impossible) or no candle is newer than the training data;
6. a ``DriftReport`` with all of it.
``check_universe(interval)`` is the same for the universe model: its recent window is the
newest ``window_bars`` bars of every configured symbol with data, predicted in one round by the
live path's function (``predict_round``); the inputs against the reference saved with it (a
sample of its training rows spanning every symbol); the hit rate of its recent settled calls
(net of its round trip) against its walk-forward's; a trigger retrains it through its gate.
``retrain_symbols()`` is the weekly retraining of every symbol's own model with data;
``retrain_universe_model()`` the weekly retraining of the universe model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from analysis import universe
from analysis.intervals import interval_ms
from analysis.market import candles_frame, funding_frame
from analysis.models import Candle
from analysis.quality import ms_to_datetime
from mlcore import artifacts
from mlcore.config import TrainRequest, drift_thresholds
from mlcore.models import DriftReport, ModelVersion, TrainingRun
from mlcore.pipeline.common.drift import (
    DriftAssessment,
    DriftThresholds,
    assess,
    feature_drift,
)
from mlcore.pipeline.common.labels import triple_barrier
from mlcore.pipeline.common.out_of_sample import outcomes
from mlcore.pipeline.symbol.predict import predict
from mlcore.runs import TrainingError, start_run


def enqueue_training(symbol: str, interval: str, reason: str) -> tuple[TrainingRun | None, str]:
    """Queue one retraining (sent after commit); none if one is queued or running already."""
    from mlcore import tasks  # the task module imports the training pipeline: load it late

    try:
        run = start_run(TrainRequest(symbol, interval), reason=reason)
    except TrainingError as exc:
        return None, f"not retrained: {exc}"
    transaction.on_commit(lambda: tasks.train.delay(run.pk))
    return run, f"retraining #{run.pk} queued ({reason})"


def newer_data(model: ModelVersion, symbols: tuple[str, ...] = ()) -> bool:
    """Whether a bar newer than the model's training end is stored (of any of ``symbols``;
    default: the model's own series)."""
    for symbol in symbols or (model.symbol,):
        last = Candle.objects.last_open_time(symbol, model.interval)
        if last is not None and last >= model.train_end:
            return True
    return False


def check(symbol: str, interval: str, now: datetime | None = None) -> DriftReport | None:
    now = now or datetime.now(UTC)
    model = ModelVersion.objects.champion(symbol, interval)
    if model is None:
        return None
    t = drift_thresholds()
    bundle = artifacts.load_bundle(Path(model.artifact_path))
    window = settings.DRIFT["window_bars"]
    candles = candles_frame(symbol, interval, last=window + bundle.history_needed)
    funding = funding_frame(symbol)
    start = int(candles["open_time"].iloc[-min(window, len(candles))])
    preds = predict(bundle, candles, funding if not funding.empty else None, since=start)
    reference = artifacts.load_arrays(Path(model.artifact_path), "reference.npz")
    features = feature_drift(
        reference["features"],
        preds.features.to_numpy(np.float64),
        list(bundle.spec.features),
        tau=reference.get("tau"),
        reference_rows=int(reference.get("rows", len(reference["features"]))),
        t=t,
    )
    full = outcomes(candles, triple_barrier(candles, bundle.barrier))
    y = full.y[np.searchsorted(candles["open_time"].to_numpy(), preds.open_time)]
    unseen = preds.open_time >= int(model.evaluable_from.timestamp() * 1000)
    known = (y >= 0) & unseen
    correct = preds.calibrated[known].argmax(axis=1) == y[known]
    baseline = model.metrics.get("ensemble", {}).get("accuracy")
    age = (now - model.train_end).total_seconds() / 86_400
    result = assess(features, correct, baseline, age, t)

    run, action = None, "none: no trigger fired"
    if result.triggers:
        if newer_data(model):
            run, action = enqueue_training(symbol, interval, "drift: " + ", ".join(result.triggers))
        else:
            action = (
                f"not retrained: no candle is newer than its training data (to "
                f"{model.train_end:%Y-%m-%d %H:%M}); fetch market data first"
            )
    return _report(model, int(preds.open_time[0]), int(preds.open_time[-1]), result, t, action, run)


def _report(
    model: ModelVersion,
    start_ms: int,
    end_ms: int,
    result: DriftAssessment,
    t: DriftThresholds,
    action: str,
    run: TrainingRun | None = None,
) -> DriftReport:
    return DriftReport.objects.create(
        model_version=model,
        window_start=ms_to_datetime(start_ms),
        window_end=ms_to_datetime(end_ms),
        features=[vars(f) for f in result.features],
        drifted=result.drifted,
        accuracy=result.accuracy,
        outcomes=result.outcomes,
        baseline_accuracy=result.baseline_accuracy,
        age_days=result.age_days,
        triggers=result.triggers,
        thresholds=t.to_dict(),
        action=action,
        training_run=run,
    )


def check_universe(interval: str, now: datetime | None = None) -> DriftReport | None:
    """The universe champion's drift check (the module docstring); None without a champion,
    or for one saved before it kept a reference sample."""
    from mlcore.pipeline.universe.final_model import UNIVERSE, predict_round
    from mlcore.training.inputs import read_round

    now = now or datetime.now(UTC)
    model = ModelVersion.objects.champion(UNIVERSE, interval)
    if model is None or not (Path(model.artifact_path) / "reference.npz").exists():
        return None
    t = drift_thresholds()
    um = artifacts.load_universe(Path(model.artifact_path))
    reference = artifacts.load_arrays(Path(model.artifact_path), "reference.npz")
    step = interval_ms(interval)
    newest = {s: Candle.objects.last_open_time(s, interval) for s in universe.symbols()}
    symbols = [s for s, t in newest.items() if t is not None]
    if not symbols:
        return None
    last = max(int(newest[s].timestamp() * 1000) for s in symbols)
    start = last - (settings.DRIFT["window_bars"] - 1) * step
    read = read_round(um, symbols, interval, start - (um.history_needed - 1) * step, last)
    served = [s for s in symbols if s not in read.missing]
    calls = predict_round(um, read.frames, served, since=start)
    if not calls:
        return None
    recent = np.concatenate([c.features.to_numpy(np.float64) for c in calls.values()])
    features = feature_drift(
        reference["features"],
        recent,
        um.features,
        tau=reference.get("tau"),
        reference_rows=int(reference.get("rows", len(reference["features"]))),
        t=t,
    )
    hits = []
    evaluable = int(model.evaluable_from.timestamp() * 1000)
    for symbol, c in calls.items():
        candles = read.candles[symbol]
        close = candles["close"].to_numpy(np.float64)
        at = np.searchsorted(candles["open_time"].to_numpy(), c.open_time)
        later = at + um.horizon
        known = (later < len(close)) & (c.direction != 0) & (c.open_time >= evaluable)
        forward = close[later[known]] / close[at[known]] - 1.0
        hits.append(c.direction[known] * forward - um.config.round_trip_cost > 0)
    correct = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
    baseline = ((model.metrics.get("universe") or {}).get("calls") or {}).get("hit_base_rate")
    age = (now - model.train_end).total_seconds() / 86_400
    result = assess(features, correct, baseline, age, t)
    action = retrain_universe_model(interval) if result.triggers else "none: no trigger fired"
    return _report(model, start, last, result, t, action)


def retrain_symbols() -> list[str]:
    """The weekly retraining of the per-symbol models: one run per symbol of the universe that
    has data (the champion stays unless the challenger beats it out of sample)."""
    actions = []
    for symbol, interval in universe.series():
        if not Candle.objects.filter(symbol=symbol, interval=interval).exists():
            actions.append(f"{symbol} {interval}: no data")
            continue
        champion = ModelVersion.objects.champion(symbol, interval)
        if champion and not newer_data(champion):
            actions.append(f"{symbol} {interval}: no data newer than {champion.version}")
            continue
        _, action = enqueue_training(symbol, interval, "weekly retraining")
        actions.append(f"{symbol} {interval}: {action}")
    return actions


def retrain_universe_model(interval: str | None = None, quick: bool = False) -> str:
    """The weekly retraining of the universe model: one walk-forward over every configured
    symbol with data, queued as a ``gpu`` task once a bar newer than its champion's training
    is stored, through the same gate as ``train_all --pooled`` (a challenger that loses stays
    a challenger), with the interval's risk model refitted beside it."""
    from mlcore import tasks  # the task module imports the training pipeline: load it late
    from mlcore.pipeline.universe.final_model import UNIVERSE
    from mlcore.training.universe import UniverseError, UniverseRequest, start_universe_run

    interval = interval or universe.intervals()[0]
    symbols = tuple(
        s for s in universe.symbols() if Candle.objects.filter(symbol=s, interval=interval).exists()
    )
    if not symbols:
        return f"universe {interval}: no data"
    champion = ModelVersion.objects.champion(UNIVERSE, interval)
    if champion and not newer_data(champion, symbols):
        return f"universe {interval}: no data newer than {champion.version}"
    try:
        run = start_universe_run(UniverseRequest(symbols, interval, quick=quick))
    except UniverseError as exc:
        return f"universe {interval}: not retrained: {exc}"
    transaction.on_commit(lambda: tasks.train_universe.delay(run.pk))
    return f"universe {interval}: retraining #{run.pk} queued on {len(symbols)} symbols"


def unresolved(model: ModelVersion) -> DriftReport | None:
    """The champion's latest report, if a trigger fired in it (resolved by a newer report
    without triggers, or by a new champion)."""
    latest = model.drift_reports.first()
    return latest if latest and latest.triggers else None
