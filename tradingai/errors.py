"""Django's last resort for an uncaught exception (``handler500``), which it calls from inside
the ``except`` block, so the exception is at hand. A database that cannot be reached (being
restarted, or the pool waited its 3 s for a connection) is a 503 with ``Retry-After``, not a
500: the request was fine and will succeed shortly. Under /api/ the answer is the envelope,
whoever failed (a middleware reading the key or the rate limit, or a view); pages get a short
plain page. Found by benchmarks/soak.py, which stops PostgreSQL under a running web process."""

from __future__ import annotations

import json
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from tradingai.envelope import envelope, error_body

RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = ("database_unavailable", "The database cannot be reached; retry shortly.")


def database_down(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def server_error(request: HttpRequest) -> HttpResponse:
    down = database_down(sys.exc_info()[1])
    status = 503 if down else 500
    if down:
        code, message = DATABASE_UNAVAILABLE
    else:
        code, message = "internal_error", "An unexpected error occurred; it has been logged."
    if request.path.startswith("/api/"):
        body = json.dumps(envelope(error=error_body(code, message)))
        response = HttpResponse(body, status=status, content_type="application/json")
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if down:
        response["Retry-After"] = str(RETRY_AFTER_S)
    return response
