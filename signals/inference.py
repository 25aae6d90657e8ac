"""Live inference for a series' newest closed candle, through the serving seam
(``mlcore.serving``), stored as one ``Signal`` per bar and model.

``infer(symbol, interval)``, or ``infer_round(symbols, interval, bar)`` for a live round's series:
1. Pick: the model that serves each symbol (``serving.serving_models``: its own champion, or
   the universe champion where that won out of sample or the symbol has none of its own), and
   the signals already stored at the bar (idempotent: running twice stores one).
2. Serve: each model serves its symbols of the round together (``ServingModel.serve``), per
   symbol a ``Call`` or a ``Refusal``. A refusal stores no signal but a ``NoSignal`` with the
   reason (shown on the dashboard and in health), never a prediction from stale inputs.
3. Store: each call becomes a ``Signal`` (``Signal.from_call``, as in ``simulate``), all in
   one transaction; the series' refusals are cleared and their cached pages retired.
4. Push: after commit, to the dashboards and API sockets.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import DataError, IntegrityError, transaction

from analysis.market import analysis_cache_key
from analysis.models import Candle
from mlcore import artifacts
from mlcore.models import ModelVersion
from mlcore.pipeline.features import FeatureSpecMismatch
from mlcore.serving import Call, Refusal, serving_models
from mlcore.serving.base import Clock
from mlcore.serving.cache import serving_for
from signals import broadcast
from signals.models import NoSignal, Signal

log = logging.getLogger(__name__)


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
    """Every series of a round at one bar: the serving models and the bar's stored signals read
    once for all of them; each model serves its series together."""
    clock = Clock()
    chosen = serving_models(list(symbols), interval)
    stored = {
        (s.symbol, s.model_version_id): s
        for s in Signal.objects.select_related("model_version").filter(
            symbol__in=symbols,
            interval=interval,
            open_time=bar,
            model_version__in=[m.pk for m in chosen.values() if m is not None],
        )
    }
    outcomes: dict[str, Outcome] = {}
    by_model: dict[ModelVersion, list[str]] = defaultdict(list)
    for symbol in symbols:
        model = chosen[symbol]
        if model is None:
            reason = "no model has passed the training gates yet"
            outcomes[symbol] = _refuse(symbol, interval, bar, reason)
        elif (symbol, model.pk) in stored:
            outcomes[symbol] = Outcome(stored[(symbol, model.pk)], False)
        else:
            by_model[model].append(symbol)
    bar_ms = int(bar.timestamp() * 1000)
    for model, served in by_model.items():
        try:
            answers = serving_for(model).serve_round(served, bar_ms, clock)
        except (artifacts.ArtifactError, FeatureSpecMismatch, OSError) as exc:
            answers = {symbol: Refusal(symbol, str(exc)) for symbol in served}
        calls = [a for a in answers.values() if isinstance(a, Call)]
        for answer in answers.values():
            if isinstance(answer, Refusal):
                outcomes[answer.symbol] = _refuse(answer.symbol, interval, bar, answer.reason)
        if calls:
            outcomes |= _save_round(model, calls)
        clock.restart()  # the next model's stages start here, not with the round
    return {symbol: outcomes[symbol] for symbol in symbols}


def _save_round(model: ModelVersion, calls: list[Call]) -> dict[str, Outcome]:
    """Store each call's signal at its bar once per model (a concurrent run's copy wins),
    clear the series' refusals, and after commit retire their cached pages and push them: all
    in one transaction (one commit to wait for, not one a series). Where one row cannot land
    (a concurrent run stored that bar first, or the database refuses a value), each is saved
    on its own, so one series never costs the others their signals; a refused value is stored
    as that series' refusal."""
    interval = model.interval
    symbols = [c.symbol for c in calls]
    try:
        with transaction.atomic():
            signals = {c.symbol: Signal.from_call(c, model) for c in calls}
            for signal in signals.values():
                signal.save(force_insert=True)
            NoSignal.objects.filter(symbol__in=symbols, interval=interval).delete()
            keys = [
                key
                for symbol in symbols
                for key in (latest_key(symbol, interval), analysis_cache_key(symbol, interval))
            ]
            transaction.on_commit(lambda: cache.delete_many(keys))
            broadcast.on_commit(*signals.values())
    except (IntegrityError, DataError) as exc:
        if len(calls) > 1:
            return {c.symbol: _save_round(model, [c])[c.symbol] for c in calls}
        (call,) = calls
        bar = Signal.from_call(call, model).open_time
        if isinstance(exc, DataError):
            reason = f"the signal could not be stored: {exc}"
            return {call.symbol: _refuse(call.symbol, interval, bar, reason)}
        existing = Signal.objects.get(
            symbol=call.symbol, interval=interval, open_time=bar, model_version=model
        )
        return {call.symbol: Outcome(existing, False)}
    return {symbol: Outcome(signal, True) for symbol, signal in signals.items()}
