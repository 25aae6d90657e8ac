"""/api/system/metrics: Prometheus text format, through prometheus_client.

- Requests: count and latency per method, route and status (this web process's own registry;
  each daphne process is scraped on its own).
- Read from the database at scrape time, so they cover the Celery workers too: signals by grade
  and direction, refusals, data lag per series, the mean stage durations of the last 200
  inferences, and the duration of the last training per series."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "tradingai_http_requests", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "tradingai_http_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY
)


METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None) or "unmatched"  # the pattern, not the raw path
        # Any string a client sends as its method would otherwise become a label: a series each.
        method = request.method if request.method in METHODS else "other"
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response


class StoredFigures(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from analysis.freshness import series_freshness
        from mlcore.models import TrainingRun
        from signals.models import NoSignal, Signal

        signals = GaugeMetricFamily(
            "tradingai_signals", "stored signals", labels=["symbol", "grade", "direction"]
        )
        for row in Signal.objects.values("symbol", "grade", "direction").annotate(n=Count("id")):
            signals.add_metric([row["symbol"], row["grade"] or "-", row["direction"]], row["n"])
        yield signals
        refusals = GaugeMetricFamily(
            "tradingai_signal_refusals",
            "series whose newest bar was refused",
            labels=["symbol", "interval"],
        )
        for r in NoSignal.objects.all():
            refusals.add_metric([r.symbol, r.interval], 1)
        yield refusals
        lag = GaugeMetricFamily(
            "tradingai_data_lag_seconds",
            "since the last stored candle closed",
            labels=["symbol", "interval"],
        )
        for s in series_freshness(datetime.now(UTC)):
            if s.age_seconds is not None:
                lag.add_metric([s.symbol, s.interval], s.age_seconds)
        yield lag
        stages = GaugeMetricFamily(
            "tradingai_inference_stage_seconds_mean",
            "mean seconds per stage of the last 200 inferences",
            labels=["stage"],
        )
        recent = list(Signal.objects.order_by("-id").values_list("timings", flat=True)[:200])
        for stage in ("inputs", "features", "models", "shap"):
            values = [t[stage] for t in recent if t and stage in t]
            if values:
                stages.add_metric([stage], sum(values) / len(values))
        yield stages
        training = GaugeMetricFamily(
            "tradingai_training_seconds",
            "duration of the last finished training",
            labels=["symbol", "interval"],
        )
        seen = set()
        for run in TrainingRun.objects.filter(finished_at__isnull=False, started_at__isnull=False):
            key = (run.symbol, run.interval)
            if key not in seen:
                seen.add(key)
                training.add_metric(list(key), (run.finished_at - run.started_at).total_seconds())
        yield training


REGISTRY.register(StoredFigures())


def metrics_response() -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
