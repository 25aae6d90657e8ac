"""Celery entry points of the ML engine: thin, ids and names in, one function call."""

from __future__ import annotations

from celery import shared_task

from mlcore import drift_checks
from mlcore.config import TrainRequest
from mlcore.models import ModelVersion, TrainingRun
from mlcore.runs import TrainingError, claim
from mlcore.training.symbol import train as run_training


@shared_task(acks_late=True)
def train(run_id: int) -> dict:
    """Run a recorded TrainingRun (routed to the ``gpu`` queue by tradingai.celery).

    The run is claimed first (queued -> running, under a row lock): a second delivery of the
    same task (Redis redelivers one not acknowledged within the visibility timeout, or whose
    worker died) finds it taken and does nothing, so one run never trains twice."""
    run = claim(run_id)
    if run is None:
        current = TrainingRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return {"run": run_id, "status": current, "message": "already claimed: not run again"}
    request = TrainRequest.from_options(run.symbol, run.interval, run.options)
    try:
        run = run_training(request, run)
    except TrainingError:  # bad input is recorded on the run; retrying cannot fix it
        run.refresh_from_db()
    return {"run": run.pk, "status": run.status, "message": run.message}


@shared_task
def check_drift() -> list[str]:
    """Daily: a drift check of every champion; a trigger queues one retraining."""
    out = []
    champions = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
    for model in champions:
        if model.kind == ModelVersion.Kind.UNIVERSE:
            report = drift_checks.check_universe(model.interval)
        else:
            report = drift_checks.check(model.symbol, model.interval)
        if report:
            out.append(f"{model.version}: {', '.join(report.triggers) or 'ok'}; {report.action}")
    return out


@shared_task
def retrain_symbols() -> list[str]:
    """Weekly: retrain every symbol's own model with data through the same gates."""
    return drift_checks.retrain_symbols()


@shared_task
def retrain_universe() -> str:
    """Weekly: retrain the universe model on every symbol with data, through its gate."""
    return drift_checks.retrain_universe_model()


@shared_task(acks_late=True)
def train_universe(run_id: int) -> dict:
    """Run a recorded universe TrainingRun (the ``gpu`` queue), claimed first as ``train``
    is, then the interval's risk model beside it."""
    from mlcore.training.risk import RiskError, train_risk
    from mlcore.training.universe import UniverseError, UniverseRequest, run_universe

    run = claim(run_id)
    if run is None:
        current = TrainingRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return {"run": run_id, "status": current, "message": "already claimed: not run again"}
    options = run.options
    request = UniverseRequest(tuple(options["symbols"]), run.interval, quick=options["quick"])
    try:
        outcome = run_universe(request, run=run)
    except UniverseError:  # recorded on the run; retrying cannot fix it
        run.refresh_from_db()
        return {"run": run.pk, "status": run.status, "message": run.message}
    try:
        risk = train_risk(run.interval, list(request.symbols)).record.version
    except RiskError as exc:
        risk = f"no risk model: {exc}"
    return {
        "run": run.pk,
        "status": outcome.run.status,
        "message": outcome.run.message,
        "risk": risk,
    }
