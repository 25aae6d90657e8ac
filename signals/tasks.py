"""Celery entry points of the signals app: thin, one function call each."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from celery.signals import worker_process_init

from signals import inference, simulation
from tradingai.retries import WHILE_DATABASE_DOWN


# The outcome lives in the database (a Signal or a NoSignal); storing the return value in the
# result backend as well would only hold the worker up before its next bar.
@shared_task(acks_late=True, ignore_result=True, **WHILE_DATABASE_DOWN)
def infer(symbol: str, interval: str, bar: str | None = None) -> dict:
    """Predict, explain and store the series' newest closed bar (or ``bar``, ISO 8601)."""
    outcome = inference.infer(symbol, interval, datetime.fromisoformat(bar) if bar else None)
    return {
        "signal": outcome.signal.pk if outcome.signal else None,
        "created": outcome.created,
        "reason": outcome.reason,
    }


@shared_task(acks_late=True)
def train_simulation_window(window_id: int) -> int | None:
    """Train a simulation window's model on the bars before it (routed to the ``gpu`` queue by
    tradingai.celery); a redelivery finds the model and returns it."""
    return simulation.train_window(window_id)


@worker_process_init.connect
def _load_champions(**_) -> None:
    from django.db import connections

    inference.load_champions()
    # Hand the connection back before Celery's Django fixup, which closes the socket under any
    # connection it finds open at this point (it assumes one inherited from the parent); a
    # pooled connection closed that way would be handed out again, its fd reused elsewhere.
    connections.close_all()
