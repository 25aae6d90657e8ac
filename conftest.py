"""Fixtures every app's tests share: the Binance replay server and an exchange pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from analysis.exchange import Exchange
from analysis.tests.binance_replay import SHARED, ReplayServer, load_series

# Train on the CPU even on a GPU host (mlcore.pipeline.common.device): cuDNN's LSTM is not
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


# --- Trained models shared by the session (tests/trained.py) --------------------------------

UNIVERSE_SYMBOLS = ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT")  # the last one unseen in training


def _import(*symbols: str) -> None:
    from analysis.ingest import import_file

    for symbol in symbols:
        import_file(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
        import_file(SHARED / f"binance_futures_{symbol}_funding.csv.gz")


@pytest.fixture(scope="session")
def _trained_btc(django_db_setup, django_db_blocker, tmp_path_factory):
    """The quick BTC 1h model trained to 2024-01-01, forced past its gates."""
    from mlcore.config import TrainRequest
    from mlcore.training.symbol import train
    from tests.trained import train_once

    def build() -> None:
        _import("BTCUSDT")
        end = datetime(2024, 1, 1, tzinfo=UTC)
        train(TrainRequest("BTCUSDT", "1h", until=end, quick=True, force=True))

    with django_db_blocker.unblock():
        return train_once(tmp_path_factory.mktemp("trained-btc"), build)


@pytest.fixture(scope="session")
def _trained_universe(django_db_setup, django_db_blocker, tmp_path_factory):
    """The quick universe model on BTC and ETH, forced past its gate."""
    import io

    from django.core.management import call_command

    from tests.trained import train_once

    def build() -> None:
        _import(*UNIVERSE_SYMBOLS)
        call_command(
            "train_all", "--pooled", "--quick", "--force", "--symbols", "BTCUSDT,ETHUSDT",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip

    with django_db_blocker.unblock():
        return train_once(tmp_path_factory.mktemp("trained-universe"), build)


@pytest.fixture(autouse=True)
def _nothing_kept_between_tests() -> None:
    """Per-process caches keyed by a model's version or row: the shared models come back with
    the same names in every test, so a loaded model one test changed must not serve the next."""
    from mlcore import live_state
    from mlcore.serving import cache, risk
    from mlcore.training import inputs
    from signals import board

    cache.forget()
    risk.forget()
    live_state._states.clear()
    inputs._reads.clear()
    board._figures.clear()


@pytest.fixture
def market(db, settings, tmp_path):
    """The stored BTC 1h history and funding; models and reports under this test's tmp_path."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.MLFLOW_TRACKING_URI = ""
    settings.RANDOM_RUNS = 20
    _import("BTCUSDT")
    return tmp_path


@pytest.fixture
def champion(market, _trained_btc):
    """The session's quick BTC champion, as this test's own rows and files."""
    from mlcore.models import ModelVersion
    from tests.trained import install

    install(_trained_btc, market / "models", market)
    return ModelVersion.objects.get(symbol="BTCUSDT", status="champion")


@pytest.fixture
def universe_champion(db, settings, tmp_path, _trained_universe):
    """The session's quick universe champion (BTC, ETH; PEPE stored but never trained on)."""
    from mlcore.models import ModelVersion
    from mlcore.serving.choice import UNIVERSE
    from tests.trained import install

    settings.MODELS_DIR = tmp_path / "models"
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.MLFLOW_TRACKING_URI = ""
    settings.RANDOM_RUNS = 20
    _import(*UNIVERSE_SYMBOLS)
    install(_trained_universe, settings.MODELS_DIR, tmp_path)
    model = ModelVersion.objects.get(symbol=UNIVERSE)
    assert model.status == "champion" and model.config["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert model.kind == ModelVersion.Kind.UNIVERSE
    return model
