"""Celery entry points of the glue: the daily health check, logged."""

from __future__ import annotations

import logging

from celery import shared_task

from tradingai.health import system_health

log = logging.getLogger(__name__)


@shared_task
def healthcheck() -> str:
    """The checks behind /api/system/health, logged at a level that matches the verdict."""
    report = system_health()
    level = {"healthy": logging.INFO, "degraded": logging.WARNING}.get(report.status, logging.ERROR)
    problems = [f"{s.symbol} {s.interval} {s.verdict}" for s in report.data if not s.fresh]
    problems += [
        f"{c.version} drift: {', '.join(c.drift_triggers)}"
        for c in report.champions
        if c.drift_triggers
    ]
    problems += [f"no signal {r.symbol}: {r.reason}" for r in report.refusals]
    log.log(level, "health: %s%s", report.status, "; " + "; ".join(problems) if problems else "")
    return report.status
