from __future__ import annotations

from celery import shared_task

from analysis import ingest
from tradingai.retries import WHILE_DATABASE_DOWN


@shared_task(**WHILE_DATABASE_DOWN)
def fetch_latest() -> dict:
    """Beat entry point: fetch new closed candles and funding for the configured universe."""
    results, errors = ingest.fetch_latest()
    return {"fetched": [str(r) for r in results], "errors": errors}
