"""/api/system: health of the database, Redis (when configured), the market data and the
serving models (a champion with an unresolved drift trigger makes the system degraded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Schema

from analysis import universe
from analysis.freshness import series_freshness
from mlcore.models import GradingConfig, ModelVersion
from signals.models import NoSignal
from tradingai.api_errors import ApiError
from tradingai.auth import READ, may_read

router = Router(tags=["system"])


class CheckOut(Schema):
    ok: bool
    detail: str
    latency_ms: float | None = None


class SeriesOut(Schema):
    symbol: str
    interval: str
    candles: int
    first_open_time: datetime | None
    last_open_time: datetime | None
    last_close_time: datetime | None
    age_seconds: float | None
    fresh: bool
    verdict: str


class ChampionOut(Schema):
    symbol: str
    interval: str
    version: str
    forced: bool
    quick: bool
    age_days: float  # since the end of its training data
    drift_checked_at: datetime | None
    drift_triggers: list[str]  # of its latest drift check; non-empty: unresolved
    drift_action: str


class RefusalOut(Schema):
    symbol: str
    interval: str
    open_time: datetime | None
    reason: str  # why the live path stored no signal for its newest bar


class HealthOut(Schema):
    status: Literal["healthy", "degraded", "unhealthy"]
    mode: Literal["embedded", "production"]
    database: CheckOut
    redis: CheckOut | None
    workers: CheckOut | None  # Celery workers answering a ping (production only)
    # Where the newest model was trained (the training worker's device, recorded with it), not
    # what the web process would see: the web has no GPU where the gpu worker has one.
    compute_device: str
    data: list[SeriesOut]
    champions: list[ChampionOut]
    refusals: list[RefusalOut]


def _timed(probe: Callable[[], str]) -> CheckOut:
    started = time.perf_counter()
    try:
        detail = probe()
    except Exception as exc:  # any failure is a failed check, reported, not raised
        return CheckOut(ok=False, detail=f"{type(exc).__name__}: {exc}")
    return CheckOut(ok=True, detail=detail, latency_ms=(time.perf_counter() - started) * 1000)


def check_database() -> CheckOut:
    def probe() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor

    return _timed(probe)


def check_redis() -> CheckOut | None:
    if not settings.REDIS_URL:
        return None

    def probe() -> str:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()
        return "pong"

    return _timed(probe)


def champions(now: datetime) -> list[ChampionOut]:
    """Every serving model with its age and latest drift verdict."""
    out = []
    for model in ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION):
        report = model.drift_reports.first()
        out.append(
            ChampionOut(
                symbol=model.symbol,
                interval=model.interval,
                version=model.version,
                forced=model.forced,
                quick=model.quick,
                age_days=(now - model.train_end).total_seconds() / 86_400,
                drift_checked_at=report.created_at if report else None,
                drift_triggers=report.triggers if report else [],
                drift_action=report.action if report else "",
            )
        )
    return out


# A ping waits its whole second for replies, so health asks the workers once per
# WORKER_CHECK_SECONDS per process; meanwhile every caller gets the last answer (ten anonymous
# health requests a second used to hold every WSGI thread for a second each).
WORKER_CHECK_SECONDS = 5.0
_workers_seen: tuple[float, CheckOut] | None = None
_workers_asking = threading.Lock()


def check_workers() -> CheckOut | None:
    """Celery workers that answer a ping within a second (none to ask in the embedded mode,
    where tasks run in process); asked at most once per ``WORKER_CHECK_SECONDS``."""
    global _workers_seen
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL:
        return None
    seen = _workers_seen
    if seen and time.monotonic() - seen[0] < WORKER_CHECK_SECONDS:
        return seen[1]
    # Another thread already asking: the last answer stands (the first caller waits for it).
    if not _workers_asking.acquire(blocking=seen is None):
        return seen[1]
    try:
        if _workers_seen is not seen and _workers_seen is not None:
            return _workers_seen[1]  # answered while this thread waited
        answer = _ping_workers()
        _workers_seen = (time.monotonic(), answer)
        return answer
    finally:
        _workers_asking.release()


def _ping_workers() -> CheckOut:

    def probe() -> str:
        from tradingai.celery import app

        replies = app.control.ping(timeout=1.0)
        if not replies:
            raise RuntimeError("no Celery worker answered")
        return ", ".join(sorted(name for reply in replies for name in reply))

    return _timed(probe)


def training_device() -> str:
    newest = ModelVersion.everything.order_by("-created_at").values_list("device", "version")
    found = newest.first()
    return f"{found[0]} (trained {found[1]})" if found else "unknown: no model trained yet"


def system_health(with_workers: bool = True) -> HealthOut:
    database = check_database()
    redis_check = check_redis()
    workers = check_workers() if with_workers else None
    now = datetime.now(UTC)
    series = series_freshness(now) if database.ok else []
    data = [SeriesOut(**vars(s), fresh=s.fresh) for s in series]
    models = champions(now) if database.ok else []
    refusals = (
        [
            RefusalOut(symbol=r.symbol, interval=r.interval, open_time=r.open_time, reason=r.reason)
            for r in NoSignal.objects.order_by("symbol", "interval")
        ]
        if database.ok
        else []
    )
    if not database.ok:
        status = "unhealthy"
    elif (
        (redis_check and not redis_check.ok)
        or not data
        or not all(s.fresh for s in data)
        or any(c.drift_triggers for c in models)
    ):
        status = "degraded"
    else:
        status = "healthy"
    health = HealthOut(
        status=status,
        mode="embedded" if settings.EMBEDDED else "production",
        database=database,
        redis=redis_check,
        workers=workers,
        compute_device=training_device() if database.ok else "unknown: the database is unreachable",
        data=data,
        champions=models,
        refusals=refusals,
    )
    return health


class HealthStatusOut(Schema):
    """What health tells a stranger when reads need a key: the verdict alone (the full report
    names the worker hosts, the champions and the refusal reasons)."""

    status: Literal["healthy", "degraded", "unhealthy"]


@router.get("/health", response=HealthOut | HealthStatusOut, auth=None)  # load balancers ask
def health(request: HttpRequest) -> HealthOut | HealthStatusOut:
    """Database, Redis when configured, and data freshness per symbol: healthy or degraded.
    An unreachable database answers 503 with the same report as the error's details. Without a
    key or a session where reads need one: the status alone."""
    report = system_health()
    full = may_read(request)
    if report.status == "unhealthy":
        details = report.dict() if full else {"status": report.status}
        raise ApiError(503, "unhealthy", "The database is unreachable.", details)
    return report if full else HealthStatusOut(status=report.status)


class ConfigOut(Schema):
    mode: Literal["embedded", "production"]
    symbols: list[str]
    intervals: list[str]
    binance_base_url: str
    binance_keys_configured: bool  # never the keys themselves
    api_auth: str
    api_rate_limit: int
    beat_schedule: dict[str, str]
    grading: dict
    gates: dict
    drift: dict
    training: dict
    mlflow_tracking: bool


@router.get("/config", response=ConfigOut)
def config(request: HttpRequest) -> ConfigOut:
    """The settings the product runs with: what it watches, how it grades and gates. Secrets
    (keys, passwords, the secret key, URLs with credentials) are never included."""
    symbols, intervals = universe.current()
    return ConfigOut(
        mode="embedded" if settings.EMBEDDED else "production",
        symbols=symbols,
        intervals=intervals,
        binance_base_url=settings.BINANCE_BASE_URL,
        binance_keys_configured=bool(settings.BINANCE_API_KEY and settings.BINANCE_API_SECRET),
        api_auth=settings.API_AUTH,
        api_rate_limit=settings.API_RATE_LIMIT,
        beat_schedule={name: entry["cron"] for name, entry in settings.BEAT_SCHEDULE.items()},
        grading=GradingConfig.current().rules().to_dict(),
        gates=settings.GATE_THRESHOLDS,
        drift=settings.DRIFT,
        training=settings.TRAINING,
        mlflow_tracking=bool(settings.MLFLOW_TRACKING_URI),
    )


@router.get("/metrics", auth=READ, include_in_schema=True)
def metrics(request: HttpRequest):
    """Prometheus text format (not the JSON envelope): requests, signals by grade, refusals,
    data lag, inference stage durations, training durations. Behind a key where reads need one
    (the scraper sends ``X-API-Key``): the counts are the product's business."""
    from tradingai.metrics import metrics_response

    return metrics_response()
