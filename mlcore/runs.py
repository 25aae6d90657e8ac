"""The bookkeeping of training runs: one active run per series, recorded before it starts,
and runs a dead worker left "running" abandoned."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlcore.config import TrainRequest
from mlcore.models import TrainingRun


class TrainingError(ValueError):
    """Input the pipeline cannot train on: an unknown symbol, too little data."""


def abandon_stale(symbol: str, interval: str) -> None:
    """A worker that died mid-run leaves it "running" forever: such runs, older than
    ``TRAINING_STALE_HOURS``, are marked abandoned so the series can train again."""
    stale = timezone.now() - timedelta(hours=settings.TRAINING_STALE_HOURS)
    TrainingRun.objects.filter(
        symbol=symbol,
        interval=interval,
        status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING],
        created_at__lt=stale,
    ).update(
        status=TrainingRun.Status.ERROR,
        message=f"abandoned: not finished after {settings.TRAINING_STALE_HOURS} h",
    )


def claim(run_id: int) -> TrainingRun | None:
    """Take a queued run for this worker: queued -> running in one transaction holding the
    row's lock. None when the run is gone or no longer queued (another delivery has it, or it
    finished, or it was abandoned)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != TrainingRun.Status.QUEUED:
            return None
        run.status, run.started_at = TrainingRun.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
        return run


def start_run(request: TrainRequest, reason: str = "") -> TrainingRun:
    """Record a queued run; refused while another of the series is queued or running."""
    abandon_stale(request.symbol, request.interval)
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(
                symbol=request.symbol,
                interval=request.interval,
                options=request.options() | ({"reason": reason} if reason else {}),
            )
    except IntegrityError:
        active = TrainingRun.objects.filter(
            symbol=request.symbol,
            interval=request.interval,
            status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING],
        ).first()
        raise TrainingError(
            f"a training of {request.symbol} {request.interval} is already "
            f"{active.status if active else 'active'}" + (f" (#{active.pk})" if active else "")
        ) from None
