from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from analysis.ingest import import_file
from mlcore.config import TrainRequest
from mlcore.training.symbol import train

TRAINED_UNTIL = datetime(2024, 1, 1, tzinfo=UTC)
UNIVERSE = Path(__file__).resolve().parents[3] / "shared" / "data" / "universe"
RESEARCH_SYMBOLS = ("BTCUSDT", "ETHUSDT")


def quick_champion(symbol: str = "BTCUSDT"):
    request = TrainRequest(symbol, "1h", until=TRAINED_UNTIL, quick=True, force=True)
    return train(request).model_version


@pytest.fixture
def eager():
    """Tasks run in process, as in the embedded mode (the test of the production path starts a
    real worker instead). Tests relying on on-commit work use transactional databases."""
    from tradingai.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def trader() -> Client:
    """A signed-in trader's browser session."""
    client = Client()
    client.force_login(User.objects.create_user("trader", password="x" * 12))
    return client


@pytest.fixture
def research(settings, tmp_path):
    """BTC and ETH 1h candles with their funding from the shared research universe; models and
    reports under ``tmp_path``; a few random runs (simulations and their tests)."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.MLFLOW_TRACKING_URI = ""
    settings.RANDOM_RUNS = 5
    for symbol in RESEARCH_SYMBOLS:
        import_file(UNIVERSE / f"binance_futures_{symbol}_1h.csv.gz")
        import_file(UNIVERSE / f"binance_futures_{symbol}_funding.csv.gz")
    return tmp_path
