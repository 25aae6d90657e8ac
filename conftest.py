"""Fixtures every app's tests share: the Binance replay server and an exchange pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from analysis.exchange import Exchange
from analysis.tests.binance_replay import SHARED, ReplayServer, load_series

# Train on the CPU even on a GPU host (mlcore.pipeline.device): cuDNN's LSTM is not
# bit-reproducible, and the suite's tests are bar-exact. Subprocesses inherit it.
os.environ["TRADINGAI_DEVICE"] = "cpu"

# The replayed exchange's clock: just after the shared history's last 1h candle closed.
REPLAY_NOW = datetime(2024, 5, 14, 15, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _plain_http(settings) -> None:
    # Production settings redirect to HTTPS; the test client speaks plain HTTP. No
    # collectstatic runs for tests, so pages link static files by their plain names.
    settings.SECURE_SSL_REDIRECT = False
    # API reads open and no rate limit unless a test is about them (tests/test_api_auth.py).
    settings.API_AUTH, settings.API_RATE_LIMIT = "open", 0
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_signal_pages() -> None:
    # The cached API pages outlive a test's rolled-back rows (Redis is shared by the session).
    from django.core.cache import cache

    from signals.listing import GENERATION

    cache.delete(GENERATION)


@pytest.fixture(scope="session")
def shared_data() -> object:
    if not SHARED.is_dir():
        pytest.fail(f"the shared market data is missing at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def _replay_server(shared_data) -> Iterator[ReplayServer]:
    klines, funding = load_series()
    server = ReplayServer(klines, funding, int(REPLAY_NOW.timestamp() * 1000)).start()
    yield server
    server.stop()


@pytest.fixture
def binance(_replay_server: ReplayServer, settings) -> Iterator[ReplayServer]:
    """The replay server, reset for this test; settings point the product at it."""
    _replay_server.reset()
    _replay_server.now_ms = int(REPLAY_NOW.timestamp() * 1000)
    settings.BINANCE_BASE_URL = _replay_server.url
    settings.BINANCE_SPOT_BASE_URL = _replay_server.url
    settings.BINANCE_MAX_RETRIES = 2
    settings.BINANCE_TIMEOUT = 2
    yield _replay_server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def exchange(binance: ReplayServer, sleeps: list[float]) -> Exchange:
    """An exchange on the replay server that records its backoff waits instead of sleeping."""
    return Exchange(binance.url, max_retries=3, timeout=1.0, sleep=sleeps.append)


@pytest.fixture
def signed_in(db):
    """A test client signed in as a plain (not staff) user: every page needs one."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_user("trader-fixture", password="x" * 12))
    return client


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (``CI=1``, which .ci/run exports) a skipped test is a failed one: a missing
    prerequisite must not pass as green. Only a test marked ``gpu`` may skip there (CI has no
    GPU)."""
    import os

    report = yield
    if report.skipped and os.environ.get("CI") and item.get_closest_marker("gpu") is None:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where nothing may be skipped: {reason}"
    return report
