"""``evaluate``: score a model version on a stored window it never saw.

1. The model: the one named, or the one that serves the symbol (``mlcore.serving``: its own
   champion, or the universe model, also for a symbol it never trained on). A window that
   starts before the end of its training window plus the embargo is refused, with a message
   saying so.
2. Its calls at every bar of the window, scored against what followed, by the serving seam
   (``ServingModel.score_window``: the inputs from the model's look-back before the window to
   its horizon after it, predicted in one batch by the function live serving ends in). Each
   family names its hit: a symbol model's figures (``mlcore.pipeline.common.out_of_sample``)
   are against the class prior of its training rows with the triple-barrier exit, a universe
   model's against its grades' promises on the forward return over its horizon.
3. The graded calls backtested per grade set (A+ only, A and up, B and up, all) net of fees
   and funding, beside buy-and-hold, flat, momentum and same-turnover random signals.
4. Beside them, ``figures["risk"]``: the serving risk model judged on the same window
   (``mlcore.training.risk.judge_window``: volatility IC against EWMA and HAR-RV, range
   coverage per volatility tercile, first-touch ECE and Brier skill), or why it cannot be.
5. An ``Evaluation`` row and ``var/reports/evaluation_<SYMBOL>.json`` (schema in the README),
   written atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

from mlcore import reports
from mlcore.models import Evaluation, ModelVersion
from mlcore.registry import NoChampion, champion
from mlcore.serving import serving_model, trained_on
from mlcore.serving.base import Scored, WindowRefused
from mlcore.serving.cache import serving_for
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
        if model.interval != request.interval or not serving_for(model).serves(request.symbol):
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
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (request.start, request.end))
    try:
        scored = serving_for(model).score_window(
            request.symbol,
            start_ms,
            end_ms,
            random_runs=request.random_runs or settings.RANDOM_RUNS,
            progress=progress,
        )
    except WindowRefused as exc:
        raise EvaluationError(str(exc)) from exc
    return _store(request, model, scored)


def _store(request: EvaluateRequest, model: ModelVersion, scored: Scored) -> Evaluation:
    """Step 5, with the risk figures of the window beside the direction's (step 4)."""
    figures = scored.figures | {
        "risk": judge_window(request.interval, [request.symbol], request.start, request.end)
    }
    evaluation = Evaluation.objects.create(
        model_version=model,
        kind=Evaluation.Kind.HOLDOUT,
        start=request.start,
        end=request.end,
        figures=figures,
        backtests=[b.as_dict() for b in scored.backtests],
    )
    evaluation.report_path = str(write_report(evaluation))
    evaluation.save(update_fields=["report_path"])
    return evaluation


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
            "scope": model.kind,
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
