"""Celery entry points of the ML engine: thin, ids and names in, one function call."""

from __future__ import annotations

from celery import shared_task

from analysis.cli import parse_when
from mlcore import drift
from mlcore.config import TrainRequest
from mlcore.models import ModelVersion, TrainingRun
from mlcore.pipeline.universe_model import UNIVERSE
from mlcore.runs import TrainingError
from mlcore.training import train as run_training


@shared_task(acks_late=True)
def train(run_id: int) -> dict:
    """Run a recorded TrainingRun (routed to the ``gpu`` queue by tradingai.celery)."""
    run = TrainingRun.objects.get(pk=run_id)
    options = run.options
    request = TrainRequest(
        run.symbol,
        run.interval,
        until=parse_when(options["until"]) if options.get("until") else None,
        quick=bool(options.get("quick")),
        force=bool(options.get("force")),
    )
    try:
        run = run_training(request, run)
    except TrainingError:  # bad input is recorded on the run; retrying cannot fix it
        run.refresh_from_db()
    return {"run": run.pk, "status": run.status, "message": run.message}


@shared_task
def check_drift() -> list[str]:
    """Daily: a drift check of every champion; a trigger queues one retraining."""
    out = []
    # The universe model has no drift check yet (its reference sample would span every
    # symbol); its per-symbol rivals are checked as before.
    champions = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
    for model in champions.exclude(symbol=UNIVERSE):
        report = drift.check(model.symbol, model.interval)
        if report:
            out.append(f"{model.version}: {', '.join(report.triggers) or 'ok'}; {report.action}")
    return out


@shared_task
def retrain_universe() -> list[str]:
    """Weekly: retrain every symbol with data through the same gates."""
    return drift.retrain_universe()
