"""Celery entry points of the signals app: thin, one function call each."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from mlcore.serving import cache as serving_cache
from signals import inference, simulation
from tradingai.retries import WHILE_DATABASE_DOWN


def enqueue_round(series: list[tuple[str, str, datetime]]) -> None:
    """A round's announced series as inference tasks: those closing the same bar go in
    ``INFERENCE_TASKS_PER_ROUND`` tasks (the CPU worker's processes), so a universe model's
    series are predicted together in each while both cores work."""
    rounds: dict[tuple[str, datetime], list[str]] = defaultdict(list)
    for symbol, interval, bar in series:
        rounds[(interval, bar)].append(symbol)
    for (interval, bar), symbols in rounds.items():
        parts = max(1, min(len(symbols), settings.INFERENCE_TASKS_PER_ROUND))
        for part in range(parts):
            infer_round.delay(symbols[part::parts], interval, bar.isoformat())


# The outcome lives in the database (a Signal or a NoSignal); storing the return value in the
# result backend as well would only hold the worker up before its next bar.
@shared_task(acks_late=True, ignore_result=True, **WHILE_DATABASE_DOWN)
def infer_round(symbols: list[str], interval: str, bar: str) -> dict:
    """Predict, explain and store the series' bar (ISO 8601), together."""
    outcomes = inference.infer_round(symbols, interval, datetime.fromisoformat(bar))
    return {
        symbol: {
            "signal": outcome.signal.pk if outcome.signal else None,
            "created": outcome.created,
            "reason": outcome.reason,
        }
        for symbol, outcome in outcomes.items()
    }


@shared_task(acks_late=True)
def train_simulation_window(window_id: int) -> int | None:
    """Train a simulation window's model on the bars before it (routed to the ``gpu`` queue by
    tradingai.celery); a redelivery finds the model and returns it."""
    return simulation.train_window(window_id)


@worker_process_init.connect
def _load_champions(**_) -> None:
    from django.db import connections

    serving_cache.load_champions()
    # Hand the connection back before Celery's Django fixup, which closes the socket under any
    # connection it finds open at this point (it assumes one inherited from the parent); a
    # pooled connection closed that way would be handed out again, its fd reused elsewhere.
    connections.close_all()
