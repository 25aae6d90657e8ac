"""/api/backtests, /api/models and /api/training: recorded runs, model versions with their gates
and evaluations, and training progress."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema

from analysis.symbols import normalise
from mlcore.models import BacktestRun, DriftReport, Evaluation, ModelVersion, TrainingRun
from tradingai.api_errors import ApiError

router = Router(tags=["backtests"])
models_router = Router(tags=["models"])
training_router = Router(tags=["training"])


class BacktestSummaryOut(Schema):
    id: int
    created_at: datetime
    symbol: str
    interval: str
    strategy: str
    start: datetime
    end: datetime
    metrics: dict


class BacktestOut(BacktestSummaryOut):
    params: dict
    baselines: dict
    comparison: dict
    curve: list
    trades: list


@router.get("", response=list[BacktestSummaryOut])
@router.get("/", response=list[BacktestSummaryOut], include_in_schema=False)
def list_backtests(request: HttpRequest, limit: int = Query(50, ge=1, le=500)) -> list[BacktestRun]:
    """The newest runs, without their curves and trades."""
    return list(BacktestRun.objects.defer("curve", "trades")[:limit])


@router.get("/{backtest_id}", response=BacktestOut)
def get_backtest(request: HttpRequest, backtest_id: int) -> BacktestRun:
    """One run: metrics, baselines side by side, the equity/drawdown curve and the trades."""
    try:
        return BacktestRun.objects.get(pk=backtest_id)
    except BacktestRun.DoesNotExist:
        raise ApiError(404, "not_found", f"no backtest #{backtest_id}") from None


class GateOut(Schema):
    number: int
    name: str
    passed: bool
    reason: str
    figures: dict


class ModelOut(Schema):
    id: int
    version: str
    symbol: str
    interval: str
    status: Literal["champion", "challenger", "retired"]
    forced: bool
    quick: bool
    device: str
    created_at: datetime
    promoted_at: datetime | None
    train_start: datetime
    train_end: datetime
    embargo_bars: int
    feature_spec_hash: str
    data_hash: str
    label_params: dict
    gates: list[GateOut]
    out_of_fold: dict  # the headline out-of-fold figures

    @staticmethod
    def resolve_out_of_fold(obj: ModelVersion) -> dict:
        m = obj.metrics
        ensemble = m.get("ensemble", {})
        return {
            "xgboost_log_loss": m.get("xgboost", {}).get("log_loss"),
            "lstm_log_loss": m.get("lstm", {}).get("log_loss"),
            "prior_log_loss": m.get("xgboost", {}).get("prior_log_loss"),
            "ensemble_log_loss": ensemble.get("calibrated", {}).get("log_loss"),
            "ece_raw": ensemble.get("raw", {}).get("ece"),
            "ece_calibrated": ensemble.get("calibrated", {}).get("ece"),
            "accuracy": ensemble.get("accuracy"),
            "majority_accuracy": ensemble.get("majority_accuracy"),
            "ic": ensemble.get("ic"),
            "per_grade": ensemble.get("per_grade", []),
        }


class EvaluationOut(Schema):
    id: int
    model_version: str
    kind: Literal["walk_forward", "holdout"]
    created_at: datetime
    start: datetime
    end: datetime
    figures: dict
    backtests: list[dict]
    report_path: str

    @staticmethod
    def resolve_model_version(obj: Evaluation) -> str:
        return obj.model_version.version


class TrainingOut(Schema):
    id: int
    symbol: str
    interval: str
    status: Literal["queued", "running", "passed", "forced", "failed", "error"]
    stage: str
    percent: float
    options: dict
    gates: list[GateOut]
    message: str
    log: str
    timings: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_version: str | None

    @staticmethod
    def resolve_model_version(obj: TrainingRun) -> str | None:
        return obj.model_version.version if obj.model_version else None


def _model(model_id: int) -> ModelVersion:
    try:
        return ModelVersion.objects.get(pk=model_id)
    except ModelVersion.DoesNotExist:
        raise ApiError(404, "not_found", f"no model version #{model_id}") from None


@models_router.get("", response=list[ModelOut])
@models_router.get("/", response=list[ModelOut], include_in_schema=False)
def list_models(
    request: HttpRequest,
    symbol: str | None = None,
    status: Literal["champion", "challenger", "retired"] | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> list[ModelVersion]:
    """Model versions, newest first: champions and challengers with their gates."""
    versions = ModelVersion.objects.all()
    if symbol:
        versions = versions.filter(symbol=normalise(symbol))
    if status:
        versions = versions.filter(status=status)
    return list(versions[:limit])


@models_router.get("/{model_id}", response=ModelOut)
def get_model(request: HttpRequest, model_id: int) -> ModelVersion:
    return _model(model_id)


@models_router.get("/{model_id}/evaluation", response=EvaluationOut)
def get_evaluation(
    request: HttpRequest, model_id: int, kind: Literal["walk_forward", "holdout"] | None = None
) -> Evaluation:
    """The model's newest evaluation (or the newest of ``kind``): out-of-sample figures per
    grade, calibration, IC and the graded backtests with their equity curves."""
    evaluations = _model(model_id).evaluations.select_related("model_version")
    if kind:
        evaluations = evaluations.filter(kind=kind)
    found = evaluations.first()
    if found is None:
        raise ApiError(404, "not_found", f"model version #{model_id} has no evaluation yet")
    return found


class DriftOut(Schema):
    id: int
    model_version: str
    created_at: datetime
    window_start: datetime
    window_end: datetime
    triggers: list[str]
    drifted: list[str]
    accuracy: float | None
    outcomes: int
    baseline_accuracy: float | None
    age_days: float
    action: str
    training_run: int | None
    thresholds: dict
    features: list[dict]

    @staticmethod
    def resolve_model_version(obj: DriftReport) -> str:
        return obj.model_version.version

    @staticmethod
    def resolve_training_run(obj: DriftReport) -> int | None:
        return obj.training_run_id


@models_router.get("/{model_id}/drift", response=list[DriftOut])
def get_drift(
    request: HttpRequest, model_id: int, limit: int = Query(10, ge=1, le=100)
) -> list[DriftReport]:
    """The model's drift reports, newest first: per-feature KS figures, accuracy against the
    out-of-fold baseline, age, the triggers that fired and the retraining they caused."""
    model = _model(model_id)
    return list(model.drift_reports.select_related("model_version")[:limit])


@training_router.get("", response=list[TrainingOut])
@training_router.get("/", response=list[TrainingOut], include_in_schema=False)
def list_training(request: HttpRequest, limit: int = Query(50, ge=1, le=500)) -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("model_version")[:limit])


@training_router.get("/{run_id}", response=TrainingOut)
def get_training(request: HttpRequest, run_id: int) -> TrainingRun:
    """One training run: status, stage and percent while it runs; gates, log and timings."""
    try:
        return TrainingRun.objects.select_related("model_version").get(pk=run_id)
    except TrainingRun.DoesNotExist:
        raise ApiError(404, "not_found", f"no training run #{run_id}") from None
