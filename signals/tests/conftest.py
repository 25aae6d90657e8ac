from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mlcore.config import TrainRequest
from mlcore.training.symbol import train

TRAINED_UNTIL = datetime(2024, 1, 1, tzinfo=UTC)


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
