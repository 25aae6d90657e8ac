"""``evaluate``: score a model version on a stored window it never saw.

1. The model: the one named, or the series' champion. A window that starts before the end of
   its training window plus the embargo is refused, with a message saying so.
2. Candles from ``history_needed`` bars before the window (feature warm-up and the LSTM's
   look-back: inputs only) to the label horizon after it (outcomes need the future), and funding.
3. Batch prediction through ``mlcore.pipeline.symbol.predict``, the function live inference calls:
   features -> members -> ensemble -> calibration -> grade.
4. The figures of ``mlcore.pipeline.common.out_of_sample`` against the class prior of the
   training rows.
5. The graded signals backtested per grade set (A+ only, A and up, B and up, all) net of fees
   and funding, beside buy-and-hold, flat, momentum and same-turnover random signals.
6. An ``Evaluation`` row and ``var/reports/evaluation_<SYMBOL>.json`` (schema in the README),
   written atomically.
7. Beside them, ``figures["risk"]``: the serving risk model judged on the same window
   (``mlcore.training.risk.judge_window``: volatility IC against EWMA and HAR-RV, range
   coverage per volatility tercile, first-touch ECE and Brier skill), or why it cannot be.
The model that serves the symbol may be the universe model (``mlcore.serving``), also for a
symbol it never trained on: then the inputs are every known symbol's bars over the window
(``mlcore.training.inputs``), the prediction ``universe_model.predict_universe`` (what live
inference calls), and the figures its calls' (no classes: IC, hit rates against the grades'
promises, the hit probability's ECE), with the same backtests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings

from analysis.intervals import interval_ms
from analysis.market import candles_frame, funding_frame
from analysis.models import Candle
from analysis.quality import find_gaps
from mlcore import artifacts, reports
from mlcore.backtest.data import funding_within, market_from_frames
from mlcore.backtest.signals import SignalRules, backtest_grade_sets
from mlcore.backtest_runs import funding_gap
from mlcore.models import Evaluation, ModelVersion
from mlcore.pipeline.common.labels import triple_barrier
from mlcore.pipeline.common.out_of_sample import GRADE_SETS, outcomes
from mlcore.pipeline.common.scoring import score_graded
from mlcore.pipeline.symbol.predict import predict
from mlcore.pipeline.universe.final_model import predict_universe, score_calls
from mlcore.registry import NoChampion, champion
from mlcore.serving import is_universe, serving_model, trained_on
from mlcore.training.inputs import MissingBars, read_inputs
from mlcore.training.risk import judge_window

SCHEMA = "tradingai.evaluation/1"


class EvaluationError(ValueError):
    """A window or model that cannot be evaluated honestly, with the reason."""


@dataclass(frozen=True)
class EvaluateRequest:
    symbol: str
    interval: str
    start: datetime
    end: datetime
    version: str | None = None  # None: the champion
    random_runs: int | None = None


def model_for(request: EvaluateRequest) -> ModelVersion:
    if request.version:
        try:
            model = ModelVersion.objects.get(version=request.version)
        except ModelVersion.DoesNotExist:
            raise EvaluationError(f"no model version {request.version!r}") from None
        if is_universe(model) and model.interval == request.interval:
            return model  # a universe model may score any symbol
        if (model.symbol, model.interval) != (request.symbol, request.interval):
            raise EvaluationError(
                f"{model.version} is a {model.symbol} {model.interval} model, not "
                f"{request.symbol} {request.interval}"
            )
        return model
    model = serving_model(request.symbol, request.interval)
    if model is None:
        try:
            champion(request.symbol, request.interval)
        except NoChampion as exc:
            raise EvaluationError(str(exc)) from exc
    return model


def check_window(model: ModelVersion, start: datetime, end: datetime) -> None:
    if end <= start:
        raise EvaluationError(f"the window ends ({end:%Y-%m-%d}) before it starts")
    if start < model.evaluable_from and end > model.train_start:
        raise EvaluationError(
            f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} overlaps what {model.version} "
            f"trained on ({model.train_start:%Y-%m-%d %H:%M}..{model.train_end:%Y-%m-%d %H:%M} "
            f"plus a {model.embargo_bars}-bar embargo): an honest evaluation starts at "
            f"{model.evaluable_from:%Y-%m-%d %H:%M} or later"
        )


def run_evaluation(
    request: EvaluateRequest, progress: Callable[[int, int], None] | None = None
) -> Evaluation:
    model = model_for(request)
    check_window(model, request.start, request.end)
    if is_universe(model):
        return run_universe_evaluation(request, model, progress)
    bundle = artifacts.load_bundle(Path(model.artifact_path))
    step = interval_ms(request.interval)
    horizon = bundle.barrier.horizon
    candles = candles_frame(
        request.symbol,
        request.interval,
        since=request.start - timedelta(milliseconds=bundle.history_needed * step),
        until=request.end + timedelta(milliseconds=(horizon + 1) * step),
    )
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (request.start, request.end))
    inside = (candles["open_time"] >= start_ms) & (candles["open_time"] < end_ms)
    if inside.sum() < 2:
        raise EvaluationError(
            f"no {request.interval} candles of {request.symbol} between "
            f"{request.start:%Y-%m-%d} and {request.end:%Y-%m-%d}"
        )
    gaps = find_gaps(candles["open_time"].to_numpy(), step)
    if gaps:
        raise EvaluationError(
            f"the candles have gaps ({gaps[0]}...): run `manage.py check_data --repair`"
        )
    before = int(np.argmax(inside.to_numpy()))
    if before < bundle.history_needed - 1:
        raise EvaluationError(
            f"only {before} bars before the window; the model needs "
            f"{bundle.history_needed - 1} bars of history"
        )
    funding = funding_frame(request.symbol)
    window = candles[inside]
    first, last = int(window["open_time"].iloc[0]), int(window["open_time"].iloc[-1])
    # The window needs funding to charge it; the look-back too when the model reads funding.
    since = int(candles["open_time"].iloc[0]) if bundle.spec.uses_funding else first
    problem = funding_gap(funding["funding_time"].to_numpy(), since, last)
    if problem:
        raise EvaluationError(
            f"funding rates for {request.symbol} do not cover the window: {problem}"
        )

    rules = model.grading_rules()
    preds = predict(bundle, candles, funding, since=start_ms, rules=rules)
    keep = preds.open_time < end_ms
    if not np.array_equal(preds.open_time[keep], window["open_time"].to_numpy()):
        # Predictions and the traded bars must be the same bars, or every figure is shifted.
        raise EvaluationError("predicted bars and the window's bars differ")
    positions = np.searchsorted(candles["open_time"].to_numpy(), preds.open_time[keep])
    scored = score_graded(
        candles,
        funding,
        request.interval,
        positions,
        outcomes(candles, triple_barrier(candles, bundle.barrier)),
        preds.raw[keep],
        preds.calibrated[keep],
        np.asarray(model.metrics.get("class_prior", [1 / 3] * 3)),
        preds.graded.take(keep),
        bundle.barrier,
        rules,
        random_runs=request.random_runs or settings.RANDOM_RUNS,
        progress=progress,
    )
    return _store(request, model, scored.figures.as_dict(), scored.backtests)


def run_universe_evaluation(
    request: EvaluateRequest,
    model: ModelVersion,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    um = artifacts.load_universe(Path(model.artifact_path))
    step = interval_ms(request.interval)
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (request.start, request.end))
    first = start_ms - (um.history_needed - 1) * step
    last = min(end_ms + um.horizon * step, _newest(request.symbol, request.interval))
    if last < start_ms + step:
        raise EvaluationError(
            f"no {request.interval} candles of {request.symbol} between "
            f"{request.start:%Y-%m-%d} and {request.end:%Y-%m-%d}"
        )
    try:
        inputs = read_inputs(um, request.symbol, request.interval, first, last)
    except MissingBars as exc:
        raise EvaluationError(f"{request.symbol}: {exc}") from exc
    candles = inputs.candles
    window = candles[(candles["open_time"] >= start_ms) & (candles["open_time"] < end_ms)]
    problem = funding_gap(
        inputs.funding["funding_time"].to_numpy(),
        int(window["open_time"].iloc[0]),
        int(window["open_time"].iloc[-1]),
    )
    if problem:
        raise EvaluationError(
            f"funding rates for {request.symbol} do not cover the window: {problem}"
        )
    calls = predict_universe(um, inputs.frames, request.symbol, since=start_ms)
    calls = calls.take(calls.open_time < end_ms)
    if not np.array_equal(calls.open_time, window["open_time"].to_numpy()):
        raise EvaluationError("predicted bars and the window's bars differ")
    close = candles["close"].to_numpy(np.float64)
    forward = np.full(len(close), np.nan)
    forward[: -um.horizon] = close[um.horizon :] / close[: -um.horizon] - 1.0
    positions = np.searchsorted(candles["open_time"].to_numpy(), calls.open_time)
    figures = score_calls(calls, forward[positions], um)
    market = market_from_frames(window, funding_within(inputs.funding, window), request.interval)
    atr = um.atr_multiple  # the stop and target its signals show (saved with the model)
    backtests = backtest_grade_sets(
        market,
        calls.direction,
        calls.grade,
        GRADE_SETS,
        SignalRules(um.horizon, atr, atr),
        random_runs=request.random_runs or settings.RANDOM_RUNS,
        progress=progress,
    )
    return _store(request, model, figures, backtests)


def _store(request: EvaluateRequest, model: ModelVersion, figures: dict, backtests) -> Evaluation:
    """Step 6, with the risk figures of the window beside the direction's (step 7)."""
    figures = figures | {
        "risk": judge_window(request.interval, [request.symbol], request.start, request.end)
    }
    evaluation = Evaluation.objects.create(
        model_version=model,
        kind=Evaluation.Kind.HOLDOUT,
        start=request.start,
        end=request.end,
        figures=figures,
        backtests=[b.as_dict() for b in backtests],
    )
    evaluation.report_path = str(write_report(evaluation))
    evaluation.save(update_fields=["report_path"])
    return evaluation


def _newest(symbol: str, interval: str) -> int:
    newest = Candle.objects.last_open_time(symbol, interval)
    if newest is None:
        raise EvaluationError(f"no {interval} candles stored for {symbol}")
    return int(newest.timestamp() * 1000)


def evaluated_symbol(evaluation: Evaluation) -> str:
    """The symbol scored: the model's, or for a universe model the one named in its figures."""
    return evaluation.figures.get("symbol") or evaluation.model_version.symbol


def report(evaluation: Evaluation) -> dict:
    """The JSON report (schema ``tradingai.evaluation/1``, documented in the README)."""
    model = evaluation.model_version
    return {
        "schema": SCHEMA,
        "created_at": evaluation.created_at.isoformat(),
        "symbol": evaluated_symbol(evaluation),
        "interval": model.interval,
        "model": {
            "version": model.version,
            "status": model.status,
            "forced": model.forced,
            "quick": model.quick,
            "scope": "universe" if is_universe(model) else "symbol",
            "trained_on_symbol": trained_on(model, evaluated_symbol(evaluation)),
            "train_start": model.train_start.isoformat(),
            "train_end": model.train_end.isoformat(),
            "embargo_bars": model.embargo_bars,
            "feature_spec_hash": model.feature_spec_hash,
        },
        "kind": evaluation.kind,
        "window": {"start": evaluation.start.isoformat(), "end": evaluation.end.isoformat()},
        "figures": evaluation.figures,
        "backtests": [{k: v for k, v in b.items() if k != "curve"} for b in evaluation.backtests],
    }


def write_report(evaluation: Evaluation) -> Path:
    return reports.write_report(
        f"evaluation_{evaluated_symbol(evaluation)}.json", report(evaluation)
    )
