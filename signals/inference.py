"""Live inference for a series' newest closed candle, through the very function ``evaluate``
runs (``mlcore.pipeline.predict``): features -> members -> ensemble -> calibration -> grade,
then TreeSHAP of the XGBoost member, stored as one ``Signal``.

``infer(symbol, interval)``, or ``infer_round(symbols, interval, bar)`` for a live round's series:
1. The bar: the newest stored candle (all stored candles are closed ones), or the one given.
   The model: the one that serves the symbol (``mlcore.serving``): its own champion, or the
   universe champion where that won out of sample or the symbol has none of its own.
2. Checks before anything is predicted; a failure stores no signal but a ``NoSignal`` with the
   reason (shown on the dashboard and in health), never a prediction from stale inputs:
   no champion; candles missing in the model's look-back before the bar; funding overdue (the
   last settlement by the bar's close is more than an hour past when the next was due); a
   feature spec other than the model's.
3. Predict the bar; explain the predicted class (the XGBoost member only); stop and target
   from the label's barriers at the bar. A universe model reads every symbol it knows over
   its look-back (the market context), predicts through ``universe_model.predict_rows`` (the
   function ``evaluate`` ends in too) and leaves the class probabilities empty; a round's
   series it serves are read, predicted, explained and stored together.
4. Store it: idempotent per (symbol, interval, bar, model version), so running twice stores
   one. The refusal is cleared, the cached latest signal invalidated, and a new signal is
   pushed to the dashboards and API sockets after commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import DataError, IntegrityError, transaction

from analysis.intervals import interval_ms
from analysis.market import analysis_cache_key, candles_frame, funding_frame
from analysis.models import Candle
from analysis.quality import find_gaps, ms_to_datetime
from mlcore import artifacts, live_state, serving
from mlcore.models import GradingConfig, ModelVersion
from mlcore.pipeline.confirmations import market_context
from mlcore.pipeline.explain import explain, explain_scores
from mlcore.pipeline.features import FeatureSpecMismatch
from mlcore.pipeline.labels import BarrierParams, triple_barrier
from mlcore.pipeline.predict import Bundle, Predictions, predict
from mlcore.pipeline.universe_model import UNIVERSE, UniverseModel, predict_round
from mlcore.universe_data import read_round
from signals import broadcast
from signals.models import NoSignal, Signal

log = logging.getLogger(__name__)
HOUR_MS = 3_600_000
FUNDING_GRACE_MS = HOUR_MS  # a settlement this late past its schedule means stale funding
DIRECTIONS = {-1: Signal.Direction.SHORT, 0: Signal.Direction.NEUTRAL, 1: Signal.Direction.LONG}


class Refused(Exception):
    """The inputs are not fit to predict from; the message says why."""


@dataclass(frozen=True)
class Outcome:
    signal: Signal | None
    created: bool  # False: the bar had its signal already (or was refused)
    reason: str | None = None  # why no signal


def latest_key(symbol: str, interval: str) -> str:
    return f"signals:latest:{symbol}:{interval}"


def latest(symbol: str, interval: str) -> Signal | None:
    """The series' newest graded signal, through Django's cache (cleared when one lands)."""
    signal_id = cache.get_or_set(
        latest_key(symbol, interval),
        lambda: (
            Signal.objects.graded()
            .filter(symbol=symbol, interval=interval)
            .values_list("id", flat=True)
            .first()
            or 0
        ),
        3600,
    )
    if not signal_id:
        return None
    return Signal.objects.select_related("model_version").filter(pk=signal_id).first()


_bundles: dict[str, Bundle] = {}


def bundle_for(model: ModelVersion) -> Bundle:
    """Loaded models are kept per process: loading costs far more than predicting a bar.
    One bar is too small a job for threads: XGBoost predicts on one, and so does torch (see
    ``one_thread``), so worker processes do not fight over the cores."""
    if model.version not in _bundles:
        if len(_bundles) >= 16:
            _bundles.pop(next(iter(_bundles)))
        bundle = artifacts.load_bundle(Path(model.artifact_path))
        bundle.xgb.model.set_params(n_jobs=1)
        _bundles[model.version] = bundle
    return _bundles[model.version]


def load_champions() -> int:
    """Load every champion's bundle now (a worker process calls this at start), so the first
    signal of each series after a restart does not wait ~0.3 s for its models. A model that
    cannot load is left to ``infer``, which refuses it with the reason."""
    loaded = 0
    for model in ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)[:16]:
        try:
            if serving.is_universe(model):
                universe_model_for(model)
            else:
                bundle_for(model)
            loaded += 1
        except (artifacts.ArtifactError, FeatureSpecMismatch, OSError) as exc:
            log.warning("could not preload %s: %s", model.version, exc)
    return loaded


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for a single bar (measured: with two workers on two cores, its
    default thread pool made a 3 ms prediction take 70 ms), restored after, since the
    embedded mode trains in the same process."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def funding_problem(times_ms: np.ndarray, bar_close_ms: int) -> str | None:
    """Why funding known at the bar's close is stale, or None. The schedule is read off the
    last settlements (8h on most symbols, 4h or 1h on some)."""
    known = np.sort(times_ms[times_ms <= bar_close_ms])
    if not len(known):
        return "no funding rate is stored before the bar"
    gaps = np.diff(known[-4:])
    period = round(float(np.median(gaps)) / HOUR_MS) * HOUR_MS if len(gaps) else 8 * HOUR_MS
    due = int(known[-1]) + period
    if bar_close_ms > due + FUNDING_GRACE_MS:

        def at(ms: int) -> str:
            return f"{ms_to_datetime(ms):%Y-%m-%d %H:%M}"

        return (
            f"funding is overdue: the last settlement is {at(int(known[-1]))}, the next was "
            f"due {at(due)}, the bar closes {at(bar_close_ms)}; fetch funding rates"
        )
    return None


def window(model: ModelVersion, bundle: Bundle, bar_ms: int):
    """The candles the model looks back on up to the bar, and the funding settled among them."""
    step = interval_ms(model.interval)
    until = ms_to_datetime(bar_ms + step)
    candles = candles_frame(
        model.symbol,
        model.interval,
        until=until,
        since=ms_to_datetime(bar_ms - (bundle.history_needed - 1) * step),
    )
    # The features' funding look-back (a week of settlements) from the window's first bar on;
    # the candles' look-back is far longer, so this covers them.
    first = ms_to_datetime(int(candles["open_time"].iloc[0])) if len(candles) else until
    return candles, funding_frame(model.symbol, since=first, until=until)


def _inputs(model: ModelVersion, bundle: Bundle, bar_ms: int):
    """The bar's window read in full, refused when candles are missing from it."""
    step = interval_ms(model.interval)
    need = bundle.history_needed
    candles, funding = window(model, bundle, bar_ms)
    if len(candles) < need or int(candles["open_time"].iloc[-1]) != bar_ms:
        gaps = find_gaps(candles["open_time"].to_numpy(), step)
        where = f": {gaps[0]}" if gaps else ""
        raise Refused(
            f"candles are missing before the bar ({len(candles)} of the {need} the model "
            f"looks back on are stored{where}); run `manage.py check_data --repair`"
        )
    return candles, funding


def _check_funding(bundle: Bundle, funding: pd.DataFrame, bar_ms: int) -> None:
    """Refuse a bar whose funding inputs would be stale (for a model that reads funding)."""
    if bundle.spec.uses_funding:
        step = interval_ms(bundle.interval)
        problem = funding_problem(funding["funding_time"].to_numpy(), bar_ms + step - 1)
        if problem:
            raise Refused(problem)


def levels(candles, barrier: BarrierParams, direction: int) -> tuple[float | None, float | None]:
    """Stop and target at the label's barriers for this bar (ATR-based, fee-aware)."""
    if direction == 0:
        return None, None
    labels = triple_barrier(candles.iloc[-200:], barrier)
    upper, lower = float(labels.upper.iloc[-1]), float(labels.lower.iloc[-1])
    return (lower, upper) if direction > 0 else (upper, lower)


def _refuse(symbol: str, interval: str, bar: datetime | None, reason: str) -> Outcome:
    NoSignal.objects.update_or_create(
        symbol=symbol, interval=interval, defaults={"open_time": bar, "reason": reason}
    )
    log.warning("no signal for %s %s at %s: %s", symbol, interval, bar, reason)
    return Outcome(None, False, reason)


def infer(symbol: str, interval: str, bar: datetime | None = None) -> Outcome:
    bar = bar or Candle.objects.last_open_time(symbol, interval)
    if bar is None:
        return _refuse(symbol, interval, None, f"no {interval} candles stored for {symbol}")
    return infer_round([symbol], interval, bar)[symbol]


def infer_round(symbols: Sequence[str], interval: str, bar: datetime) -> dict[str, Outcome]:
    """Every series of a round at one bar. The champions and the bar's stored signals are read
    once for all of them; the series a universe model serves are predicted together (one
    read of the context, one call of the members, one transaction), the others one by one."""
    started_at, started = time.time(), time.perf_counter()
    champions = {
        m.symbol: m
        for m in ModelVersion.objects.filter(
            status=ModelVersion.Status.CHAMPION, interval=interval, symbol__in=[*symbols, UNIVERSE]
        )
    }
    stored = {
        (s.symbol, s.model_version_id): s
        for s in Signal.objects.select_related("model_version").filter(
            symbol__in=symbols,
            interval=interval,
            open_time=bar,
            model_version__in=[m.pk for m in champions.values()],
        )
    }
    outcomes: dict[str, Outcome] = {}
    together: list[str] = []
    universe = champions.get(UNIVERSE)
    for symbol in symbols:
        model = serving.choose(champions.get(symbol), universe, symbol)
        if model is None:
            reason = "no model has passed the training gates yet"
            outcomes[symbol] = _refuse(symbol, interval, bar, reason)
        elif (symbol, model.pk) in stored:
            outcomes[symbol] = Outcome(stored[(symbol, model.pk)], False)
        elif serving.is_universe(model):
            together.append(symbol)
        else:
            outcomes[symbol] = _infer_own(model, bar, started_at, started)
            # The next series' stages start here, not with the round.
            started_at, started = time.time(), time.perf_counter()
    if together:
        outcomes |= _infer_universe(universe, together, interval, bar, started_at, started)
    return {symbol: outcomes[symbol] for symbol in symbols}


def _infer_own(model: ModelVersion, bar: datetime, started_at: float, started: float) -> Outcome:
    """A series served by its own champion."""
    symbol, interval = model.symbol, model.interval
    bar_ms = int(bar.timestamp() * 1000)
    try:
        bundle = bundle_for(model)
        kept = live_state.window(symbol, interval, bundle, bar_ms)
        candles, funding = (
            _inputs(model, bundle, bar_ms) if kept is None else (kept.candles, kept.funding)
        )
        _check_funding(bundle, funding, bar_ms)
        inputs = time.perf_counter() - started
        with one_thread():
            preds = predict(
                bundle,
                candles,
                funding if not funding.empty else None,
                since=bar_ms,
                rules=GradingConfig.current().rules(),
                features=None if kept is None else kept.features,
            )
    except (Refused, FeatureSpecMismatch, artifacts.ArtifactError) as exc:
        return _refuse(symbol, interval, bar, str(exc))
    timings = {"started_at": started_at, "inputs": inputs, **preds.timings}
    return _store(model, bundle, bar, preds, candles, timings)


_universe_models: dict[str, UniverseModel] = {}


def universe_model_for(model: ModelVersion) -> UniverseModel:
    if model.version not in _universe_models:
        _universe_models.clear()  # one universe champion per interval serves at a time
        _universe_models[model.version] = artifacts.load_universe(Path(model.artifact_path))
    return _universe_models[model.version]


def _infer_universe(
    model: ModelVersion,
    symbols: list[str],
    interval: str,
    bar: datetime,
    started_at: float,
    started: float,
) -> dict[str, Outcome]:
    """The round's series the universe champion serves, together. Their timings' ``inputs``
    and ``models`` are the round's, shared by its signals."""
    bar_ms = int(bar.timestamp() * 1000)
    outcomes: dict[str, Outcome] = {}
    try:
        um = universe_model_for(model)
        first = bar_ms - (um.history_needed - 1) * interval_ms(interval)
        read = read_round(um, symbols, interval, first, bar_ms, last_row=True)
        inputs = time.perf_counter() - started
        tick = time.perf_counter()
        calls = predict_round(um, read.frames, symbols, since=bar_ms)
    except (artifacts.ArtifactError, ValueError) as exc:
        return {symbol: _refuse(symbol, interval, bar, str(exc)) for symbol in symbols}
    models = time.perf_counter() - tick
    for symbol in symbols:
        if symbol in read.missing:
            outcomes[symbol] = _refuse(symbol, interval, bar, read.missing[symbol])
        elif symbol not in calls:
            outcomes[symbol] = _refuse(symbol, interval, bar, f"no bar of {symbol} to predict")
        elif not np.isfinite(calls[symbol].confidence[-1]):
            outcomes[symbol] = _refuse(
                symbol,
                interval,
                bar,
                f"{symbol}'s volatility is not measurable yet: the universe model needs "
                f"{um.params.vol_window} bars of returns with movement",
            )
    ready = [symbol for symbol in symbols if symbol not in outcomes]
    if not ready:
        return outcomes
    tick = time.perf_counter()
    rows = np.stack([calls[s].features.iloc[-1].to_numpy() for s in ready])
    directions = np.array([int(calls[s].direction[-1]) for s in ready])
    explanations = explain_scores(um.members.booster, rows, um.features, directions)
    shap = (time.perf_counter() - tick) / len(ready)
    barrier = BarrierParams(
        upper_atr=settings.LABEL_ATR_MULTIPLE,
        lower_atr=settings.LABEL_ATR_MULTIPLE,
        horizon=um.horizon,
        round_trip_cost=um.config.round_trip_cost,
    )
    fields: dict[str, dict] = {}
    for symbol, row, direction, explanation in zip(
        ready, rows, directions, explanations, strict=True
    ):
        call, candles = calls[symbol], read.candles[symbol]
        stop, target = levels(candles, barrier, int(direction))
        regime = market_context(candles, interval).regime[-1]
        # Inputs unlike anything the model trained on: stored, said, never actionable.
        outside = um.dissimilarity.explain(row) if um.dissimilarity else None
        fields[symbol] = {
            "direction": DIRECTIONS[int(direction)],
            "grade": str(call.grade[-1]),
            "confidence": float(call.confidence[-1]),
            "confirmations": {
                "members": bool(np.sign(call.p_xgb[-1]) == np.sign(call.p_ridge[-1]))
            },
            "regime": str(regime or ""),
            "entry_price": float(call.close[-1]),
            "stop_price": stop,
            "target_price": target,
            "explanation": explanation.to_dict()
            | {
                "model": "universe",
                "unseen": call.unseen,
                "horizon": um.horizon,
                "outside": outside,
                "call_score": float(call.score[-1]),
            },
            "timings": {"started_at": started_at, "inputs": inputs, "models": models, "shap": shap},
        }
    return outcomes | _save_round(model, bar, fields)


def _store(
    model: ModelVersion,
    bundle: Bundle,
    bar: datetime,
    preds: Predictions,
    candles,
    timings: dict[str, float],
) -> Outcome:
    g = preds.graded
    direction = int(g.direction[-1])
    predicted = int(preds.calibrated[-1].argmax())
    row = preds.features.iloc[-1].to_numpy()
    tick = time.perf_counter()
    explanation = explain(bundle.xgb, row, bundle.spec.features, predicted)
    timings["shap"] = time.perf_counter() - tick
    stop, target = levels(candles, bundle.barrier, direction)
    p = preds.calibrated[-1]
    # Inputs unlike anything the model trained on: stored, said, never actionable.
    outside = bundle.dissimilarity.explain(row) if bundle.dissimilarity else None
    fields = {
        "direction": DIRECTIONS[direction],
        "grade": str(g.grade[-1]),
        "confidence": float(g.confidence[-1]),
        "p_sell": float(p[0]),
        "p_neutral": float(p[1]),
        "p_buy": float(p[2]),
        "confirmations": {k: bool(v[-1]) for k, v in g.confirmations.items()},
        "regime": str(preds.context.regime[-1] or ""),
        "entry_price": float(preds.close[-1]),
        "stop_price": stop,
        "target_price": target,
        "explanation": explanation.to_dict() | {"outside": outside},
        "timings": timings,
    }
    return _save_round(model, bar, {model.symbol: fields})[model.symbol]


def _save_round(model: ModelVersion, bar: datetime, fields: dict[str, dict]) -> dict[str, Outcome]:
    """Store each series' signal at the bar once per model (a concurrent run's copy wins),
    clear the series' refusals, and after commit retire their cached pages and push them: all
    in one transaction (one commit to wait for, not one a series). Where one row cannot land
    (a concurrent run stored that bar first, or the database refuses a value), each is saved
    on its own, so one series never costs the others their signals; a refused value is stored
    as that series' refusal."""
    interval = model.interval
    for each in fields.values():
        directional = each["direction"] != Signal.Direction.NEUTRAL
        outside = bool(each["explanation"].get("outside"))
        each["actionable"] = serving.actionable(model, each["grade"], directional) and not outside
    try:
        with transaction.atomic():
            signals = {
                symbol: Signal.objects.create(
                    symbol=symbol, interval=interval, open_time=bar, model_version=model, **each
                )
                for symbol, each in fields.items()
            }
            NoSignal.objects.filter(symbol__in=list(fields), interval=interval).delete()
            keys = [
                key
                for symbol in fields
                for key in (latest_key(symbol, interval), analysis_cache_key(symbol, interval))
            ]
            transaction.on_commit(lambda: cache.delete_many(keys))
            broadcast.on_commit(*signals.values())
    except (IntegrityError, DataError) as exc:
        if len(fields) > 1:
            return {s: _save_round(model, bar, {s: each})[s] for s, each in fields.items()}
        (symbol,) = fields
        if isinstance(exc, DataError):
            return {
                symbol: _refuse(symbol, interval, bar, f"the signal could not be stored: {exc}")
            }
        existing = Signal.objects.get(
            symbol=symbol, interval=interval, open_time=bar, model_version=model
        )
        return {symbol: Outcome(existing, False)}
    return {symbol: Outcome(signal, True) for symbol, signal in signals.items()}
