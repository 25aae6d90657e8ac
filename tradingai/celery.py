"""The Celery app: two queues (``cpu`` for ingest and inference, ``gpu`` for training) and the
beat schedule built from ``settings.BEAT_SCHEDULE``."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from celery import Celery
from celery.schedules import crontab
from celery.signals import (
    celeryd_after_setup,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
)
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingai.settings")

app = Celery("tradingai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("cpu"), Queue("gpu"))
# Training is the only GPU work; everything else defaults to the cpu queue.
app.conf.task_routes = {
    "mlcore.tasks.train*": {"queue": "gpu"},
    "signals.tasks.train_simulation_window": {"queue": "gpu"},
}
app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**kwargs) -> None:
    """Workers log through settings.LOGGING, as the web does: Celery's own setup would replace
    the handlers, and with them the formatters that mask secrets in tracebacks."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def parse_cron(expression: str) -> crontab:
    """``"m h dom mon dow"`` -> crontab; a clear ValueError on anything else."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression needs 5 fields (m h dom mon dow), got {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def shortest_period(schedule: crontab, days: int = 35) -> timedelta:
    """The shortest gap between consecutive firings over a sample window, so a queued run can
    expire before the next one is due instead of piling up behind a stalled worker."""
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday; any fixed date works
    fired = [
        when
        for when in (start + timedelta(minutes=m) for m in range(days * 24 * 60))
        if when.minute in schedule.minute
        and when.hour in schedule.hour
        and when.day in schedule.day_of_month
        and when.month in schedule.month_of_year
        and when.isoweekday() % 7 in schedule.day_of_week
    ]
    if len(fired) < 2:
        return timedelta(days=days)
    return min(b - a for a, b in pairwise(fired))


def build_beat_schedule(entries: dict[str, dict[str, str]]) -> dict[str, dict]:
    schedule = {}
    for name, entry in entries.items():
        if entry["cron"].strip().lower() in {"", "off"}:
            continue
        cron = parse_cron(entry["cron"])
        expires = shortest_period(cron).total_seconds() * 0.9
        schedule[name] = {
            "task": entry["task"],
            "schedule": cron,
            "options": {"expires": expires},
        }
    return schedule


def configure_beat() -> None:
    from django.conf import settings

    app.conf.beat_schedule = build_beat_schedule(settings.BEAT_SCHEDULE)


app.on_after_configure.connect(lambda sender, **_: configure_beat(), weak=False)


_pool_size = 1  # the worker's pool processes, known once it is set up (before they start)


@celeryd_after_setup.connect
def _remember_pool_size(instance, **_) -> None:
    global _pool_size
    _pool_size = int(instance.concurrency or 1)


@worker_process_init.connect
def _share_cores(**_) -> None:
    # Each pool process trains on its share of the cores, not on all of them: with two pool
    # processes on two cores, every one's OpenMP pools spinning on both stalled the trainings.
    from mlcore.pipeline.common.device import share_cores

    share_cores(_pool_size)


@worker_process_init.connect
def _load_urls(**_) -> None:
    # A pushed signal renders its dashboard row, whose {% url %} loads the whole URLconf (and
    # the API's schemas) on first use: 1.6 s into the first signal of every worker process.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018


@task_prerun.connect
@task_postrun.connect
def _return_connections(**_) -> None:
    # What Django does around a request: a connection past its age (with the pool, every one)
    # or broken goes back to the pool, which checks it before the next task gets it.
    from django.db import close_old_connections

    close_old_connections()
