"""Rate limiting of /api/ with the maintained ``limits`` library: a fixed one-minute window per
verified API key, else per client address. Counted in Redis in production (every web process
shares the count; one round trip per request: ``limits`` increments and sets the expiry in one
Lua call), in memory in the embedded mode. Over the limit: 429 in the envelope, with
Retry-After.

Who is counted: a key only once it is verified (a cached check, ``ApiKey.verify``), so a
client sending a different made-up key each time is still its address, and nobody can use up a
real key's allowance by sending its prefix with a wrong secret. A dead Redis costs the limit,
not the answer: the request goes through, with a logged warning.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from tradingai.client_ip import client_ip
from tradingai.envelope import envelope, error_body
from tradingai.models import ApiKey

log = logging.getLogger(__name__)


_building = threading.Lock()
# Health is what a load balancer and a monitor poll; a flood of strangers must not make the
# product look down.
EXEMPT = {"/api/system/health"}


def limiter(redis_url: str) -> FixedWindowRateLimiter:
    # limits resolves its Redis dependency lazily, and not thread-safely: threads building
    # the first limiter at once failed with "redis version 0.0.0" under load (measured). One
    # builds it; the middleware builds it at start-up already.
    with _building:
        return _limiter(redis_url)


@lru_cache(maxsize=4)
def _limiter(redis_url: str) -> FixedWindowRateLimiter:
    storage: Storage = (
        # Short timeouts: a dead Redis must cost milliseconds, not a hung request.
        storage_from_string(redis_url, socket_connect_timeout=0.25, socket_timeout=0.25)
        if redis_url
        else storage_from_string("memory://")
    )
    return FixedWindowRateLimiter(storage)


def who(request: HttpRequest) -> str:
    """The bucket: a verified key, else a signed-in user (the dashboard's session: a trader is
    never counted with strangers behind the same proxy), else the client's address."""
    raw = request.headers.get("X-API-Key", "")
    if raw and ApiKey.verify(raw) is not None:
        return f"key:{raw.split('.', 1)[0]}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"addr:{client_ip(request) or '?'}"


class RateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        if settings.API_RATE_LIMIT:
            try:
                limiter(settings.REDIS_URL or "")
            except Exception as exc:  # counted as unreachable per request, below
                log.warning("rate limit store not ready: %s", exc)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.API_RATE_LIMIT
        if not limit or not request.path.startswith("/api/") or request.path in EXEMPT:
            return self.get_response(request)
        item = RateLimitItemPerMinute(limit)
        bucket = who(request)
        try:
            rate = limiter(settings.REDIS_URL or "")
            allowed = rate.hit(item, bucket)
        except Exception as exc:  # any failure of the store: fail open
            log.warning("rate limit skipped: its store is unreachable (%s)", exc)
            return self.get_response(request)
        if allowed:
            return self.get_response(request)
        try:
            retry = max(1, int(rate.get_window_stats(item, bucket).reset_time - time.time()))
        except Exception:  # the answer stands without an exact wait
            retry = 60
        body = envelope(
            error=error_body(
                "rate_limited", f"more than {limit} requests a minute; retry in {retry} s"
            )
        )
        response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
        response["Retry-After"] = str(retry)
        return response
