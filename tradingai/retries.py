"""How a task outlives a database restart: it is retried with backoff (about 2 s, 4 s, 8 s ...
up to 30 s between tries, ten tries, some three minutes in all) instead of failing, so a
PostgreSQL restart delays an inference or a fetch instead of losing it. Only connection errors
are retried: anything else is a bug or bad data and fails at once."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

WHILE_DATABASE_DOWN = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 30,
    "retry_jitter": False,
    "max_retries": 10,
}
