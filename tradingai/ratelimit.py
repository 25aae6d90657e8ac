"""Rate limiting of /api/: a fixed one-minute window per API key, else per client address,
counted in Django's cache (Redis in production, so every web process shares the count).
Over the limit: 429 in the envelope, with Retry-After."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from tradingai.envelope import envelope, error_body

WINDOW = 60


class RateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.API_RATE_LIMIT
        if not limit or not request.path.startswith("/api/"):
            return self.get_response(request)
        key = request.headers.get("X-API-Key", "").split(".", 1)[0]
        who = f"key:{key}" if key else f"addr:{request.META.get('REMOTE_ADDR', '?')}"
        window = int(time.time()) // WINDOW
        counter = f"ratelimit:{who}:{window}"
        cache.add(counter, 0, WINDOW + 5)
        try:
            count = cache.incr(counter)
        except ValueError:  # expired between add and incr
            cache.set(counter, 1, WINDOW + 5)
            count = 1
        if count > limit:
            retry = WINDOW - int(time.time()) % WINDOW
            body = envelope(
                error=error_body(
                    "rate_limited", f"more than {limit} requests a minute; retry in {retry} s"
                )
            )
            response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
            response["Retry-After"] = str(retry)
            return response
        return self.get_response(request)
