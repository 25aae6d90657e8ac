from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ninja import Router
from ninja.testing import TestClient

from analysis.ingest import import_file
from analysis.models import Candle
from analysis.tests.binance_replay import SHARED
from tradingai.api import api
from tradingai.api_errors import ApiError

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> TestClient:
    return TestClient(api)


def assert_envelope(body: dict, success: bool) -> None:
    assert set(body) == {"success", "data", "error", "timestamp"}
    assert body["success"] is success
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


def test_health_lists_stored_series_and_calls_old_history_stale(client, settings):
    settings.SYMBOLS, settings.INTERVALS = ["BTCUSDT", "SOLUSDT"], ["1h"]
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    response = client.get("/system/health")
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body, True)
    health = body["data"]
    assert health["database"]["ok"]
    assert health["mode"] == ("embedded" if settings.EMBEDDED else "production")
    # CI runs the suite against a real Redis; without REDIS_URL there is nothing to check.
    assert health["redis"]["ok"] if settings.REDIS_URL else health["redis"] is None
    series = {(s["symbol"], s["interval"]): s for s in health["data"]}
    btc = series["BTCUSDT", "1h"]
    assert btc["candles"] == 11991 and btc["last_open_time"] == "2024-05-14T14:00:00Z"
    assert btc["verdict"] == "stale" and btc["fresh"] is False
    assert series["SOLUSDT", "1h"]["verdict"] == "no data"
    assert health["status"] == "degraded"


def test_health_is_healthy_when_every_series_is_current(client, settings):
    settings.SYMBOLS, settings.INTERVALS = ["BTCUSDT"], ["1h"]
    last = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    Candle.objects.create(
        symbol="BTCUSDT",
        interval="1h",
        open_time=last,
        close_time=last + timedelta(hours=1),
        open=1,
        high=2,
        low=0.5,
        close=1.5,
        volume=10,
    )
    health = client.get("/system/health").json()["data"]
    assert health["status"] == "healthy" and health["data"][0]["verdict"] == "fresh"


def test_a_dead_redis_degrades_health_with_a_reason(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    health = client.get("/system/health").json()["data"]
    assert health["status"] == "degraded"
    assert health["redis"]["ok"] is False and "Connection" in health["redis"]["detail"]


def test_with_redis_dead_the_api_still_answers_from_the_database(settings):
    from django.test import Client

    from signals.tests.factories import signal_row

    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
            "OPTIONS": settings.CACHES["default"].get("OPTIONS", {"IGNORE_EXCEPTIONS": True}),
        }
    }
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.API_RATE_LIMIT = 2  # fails open: counts cannot be kept
    signal = signal_row()
    client = Client()
    for _ in range(3):
        page = client.get("/api/signals?ticker=BTCUSDT")
        assert page.status_code == 200 and page.json()["data"]["items"][0]["id"] == signal.pk
    explained = client.get("/api/explain/BTCUSDT")
    assert explained.status_code == 200 and explained.json()["data"]["signal_id"] == signal.pk
    assert client.get("/api/system/health").json()["data"]["redis"]["ok"] is False


probe = Router()


@probe.get("/square")
def square(request, n: int) -> int:
    return n * n


@probe.get("/boom")
def boom(request) -> int:
    raise RuntimeError("secret internals")


@probe.get("/domain")
def domain(request) -> int:
    raise ApiError(404, "unknown_symbol", "No data for NOPEUSDT.")


api.add_router("/_probe", probe)


def test_success_validation_domain_and_unexpected_errors_share_the_envelope(client):
    ok = client.get("/_probe/square?n=7")
    assert ok.status_code == 200 and ok.json()["data"] == 49
    invalid = client.get("/_probe/square?n=seven")
    assert invalid.status_code == 422
    assert_envelope(invalid.json(), False)
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert invalid.json()["error"]["details"][0]["loc"][-1] == "n"
    domain = client.get("/_probe/domain").json()
    assert domain["error"] == {
        "code": "unknown_symbol",
        "message": "No data for NOPEUSDT.",
        "details": None,
    }
    crash = client.get("/_probe/boom")
    assert crash.status_code == 500
    assert_envelope(crash.json(), False)
    assert "secret" not in crash.content.decode()


def test_unknown_api_paths_answer_with_the_envelope(db, settings):
    from django.test import Client

    response = Client().get("/api/does/not/exist")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    body = response.json()
    assert_envelope(body, False)
    assert body["error"]["code"] == "not_found"


def test_openapi_docs_describe_the_envelope(db):
    from django.test import Client

    docs = Client().get("/api/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Offline: django-ninja's own bundled Swagger UI, never a CDN.
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    schema = Client().get("/api/openapi.json").json()
    health = schema["paths"]["/api/system/health"]["get"]["responses"]["200"]
    wrapped = health["content"]["application/json"]["schema"]
    assert set(wrapped["required"]) == {"success", "data", "error", "timestamp"}
    data = wrapped["properties"]["data"]  # the full report, or the status alone for strangers
    assert [d["$ref"].rsplit("/", 1)[1] for d in data["anyOf"]] == ["HealthOut", "HealthStatusOut"]


def test_config_shows_settings_and_never_a_secret(db, settings):
    from django.test import Client

    settings.BINANCE_API_SECRET = "s3cr3t-value"
    settings.BINANCE_API_KEY = "k3y-value"
    body = Client().get("/api/system/config").content.decode()
    data = json.loads(body)["data"]
    assert data["symbols"] == settings.SYMBOLS and data["binance_keys_configured"] is True
    assert "s3cr3t-value" not in body and "k3y-value" not in body
    assert settings.SECRET_KEY not in body


def test_health_names_the_compute_device_and_the_daily_check_logs(db, caplog):
    import logging

    from django.test import Client

    from mlcore.tests.factories import model_version
    from tradingai.tasks import healthcheck

    body = json.loads(Client().get("/api/system/health").content)["data"]
    assert body["compute_device"] == "unknown: no model trained yet"
    # The device the training worker used, from the newest model, not the web process's.
    model_version(device="cuda")
    body = json.loads(Client().get("/api/system/health").content)["data"]
    assert body["compute_device"].startswith("cuda (trained ")
    with caplog.at_level(logging.INFO, logger="tradingai.tasks"):
        status = healthcheck()
    assert status == body["status"]  # the daily check logs the verdict the API gives
    assert f"health: {status}" in caplog.text


def test_metrics_in_prometheus_format(db):
    from django.test import Client

    from analysis.ingest import import_file
    from analysis.tests.binance_replay import SHARED

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    client = Client()
    client.get("/api/signals/")
    response = client.get("/api/system/metrics")
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain")
    assert 'tradingai_http_requests_total{method="GET",route="api/signals/",status="200"}' in text
    assert "tradingai_http_request_seconds_bucket" in text
    assert 'tradingai_data_lag_seconds{interval="1h",symbol="BTCUSDT"}' in text


def test_a_write_to_an_unknown_path_is_an_enveloped_404(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).put(
        "/api/trades/not-an-id", "{}", content_type="application/json"
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_made_up_http_method_is_no_new_metrics_series(db):
    from django.test import Client

    client = Client()
    client.generic("BREW", "/api/signals/")
    client.generic("X" * 40, "/api/signals/")
    text = client.get("/api/system/metrics").content.decode()
    assert 'method="BREW"' not in text and "XXXX" not in text
    assert 'tradingai_http_requests_total{method="other"' in text


def test_pages_carry_a_strict_script_policy_and_api_data_is_never_stored(db):
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_user("t", password="x" * 12))
    page = client.get("/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    for path in ("/api/signals/", "/api/portfolio/balance", "/api/no-such-endpoint"):
        assert "no-store" in client.get(path)["Cache-Control"], path
    assert "no-store" not in page.get("Cache-Control", "")
