"""Celery entry points of the ML engine: thin, ids and names in, one function call."""

from __future__ import annotations

from celery import shared_task

from analysis.cli import parse_when
from mlcore.models import TrainingRun
from mlcore.training import TrainingError, TrainRequest
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
