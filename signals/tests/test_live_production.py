"""The live path in production mode, end to end: PostgreSQL, Redis and a real Celery worker
process. A fetch (from the Binance fake at its one seam) stores a new closed candle; the worker
infers, stores exactly one signal and publishes it over the Redis channel layer to a socket
subscribed in this process. The same bar replayed, and the same fetch repeated, add nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection

from analysis import ingest
from analysis.models import Candle
from signals import replay
from signals.consumers import ApiSignalsConsumer
from signals.models import Signal
from signals.tests.conftest import quick_champion
from tests.servers import production_only
from tests.servers import start_worker as start_celery
from tradingai.celery import app

ROOT = Path(__file__).resolve().parents[2]
NEW_BAR = datetime(2024, 5, 14, 7, tzinfo=UTC)  # funding is fresh for it (see test_inference)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.system,
    pytest.mark.django_db(transaction=True),
    production_only(),
]


def start_worker(models_dir: Path) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = os.environ | {
        "DATABASE_URL": url,
        "TRADINGAI_MODELS_DIR": str(models_dir),
        "MLFLOW_TRACKING_URI": "",
        "TRADINGAI_EMBEDDED_SCHEDULER": "0",
    }
    app.control.purge()
    worker = start_celery(
        env, "--pool", "solo", "--loglevel", "INFO", "-n", f"e2e-{os.getpid()}@%h"
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise AssertionError("the worker died:\n" + worker.stdout.read())
        if app.control.ping(timeout=1):
            return worker
    worker.terminate()
    raise AssertionError("the worker did not answer within 90 s")


def test_a_new_closed_candle_makes_one_signal_and_one_message(market, binance, exchange):
    model = quick_champion()
    Candle.objects.filter(symbol="BTCUSDT", open_time__gte=NEW_BAR).delete()
    binance.now_ms = int((NEW_BAR + timedelta(hours=1, seconds=30)).timestamp() * 1000)
    worker = start_worker(Path(settings.MODELS_DIR))
    try:

        async def scenario():
            socket = WebsocketCommunicator(ApiSignalsConsumer.as_asgi(), "/api/realtime/signals")
            assert (await socket.connect())[0]
            from channels.db import database_sync_to_async

            results, errors = await database_sync_to_async(ingest.fetch_latest)(
                ["BTCUSDT"], ["1h"], exchange=exchange
            )
            assert not errors and results[0].stored.inserted == 1
            first = json.loads(await socket.receive_from(timeout=60))
            # The same fetch again stores nothing; the bar replayed stores nothing new.
            await database_sync_to_async(ingest.fetch_latest)(
                ["BTCUSDT"], ["1h"], exchange=exchange
            )
            await database_sync_to_async(replay.step)("BTCUSDT", "1h", NEW_BAR)
            # 8 s of quiet also proves an idle socket survives the Redis read timeout.
            quiet = await socket.receive_nothing(timeout=8)
            await socket.disconnect()
            return first, quiet

        message, quiet = async_to_sync(scenario)()
    finally:
        worker.terminate()
        log = worker.communicate(timeout=30)[0]
    signal = Signal.objects.get()
    assert (message["id"], message["open_time"]) == (signal.pk, NEW_BAR.isoformat())
    assert signal.model_version == model and message["model"]["forced"] == model.forced
    assert quiet, "a duplicate produced a second message"
    assert "signals.tasks.infer" in log and "succeeded" in log
