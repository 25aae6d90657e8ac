"""What every /api/ response carries, whoever answered it: ``Cache-Control: no-store`` (signals,
trades, the portfolio's balances: no browser or proxy keeps a copy), and the envelope on the
answers Django and ninja give before any of our handlers runs (a 405 for a method a path does not
take is plain text there)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from tradingai.envelope import envelope, error_body


class ApiResponseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/") or request.path.startswith("/api/docs"):
            return self.get_response(request)
        head = request.method == "HEAD"
        if head:  # answered as the GET it asks about, without the body (ninja routes no HEAD)
            request.method = "GET"
        response = self.get_response(request)
        if head:
            request.method = "HEAD"
        if response.status_code >= 400 and not _is_json(response):
            response = _enveloped(request, response)
        patch_cache_control(response, no_store=True)
        if head:
            response.content = b""
        return response


def _enveloped(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A plain answer Django gave before the API saw the request (a 405 for a method the path
    does not take, a 400 for a Host not allowed, ...), as the envelope."""
    status = response.status_code
    if status == 405:
        allowed = response.get("Allow", "")
        code, message = (
            "method_not_allowed",
            f"{request.method} is not allowed here; allowed: {allowed}",
        )
    elif status == 400:
        code, message = (
            "bad_request",
            "the request was refused before it reached the API (is its Host allowed?)",
        )
    else:
        code, message = f"http_{status}", response.reason_phrase
    enveloped = HttpResponse(
        json.dumps(envelope(error=error_body(code, message))),
        status=status,
        content_type="application/json",
    )
    for header in ("Allow", "Retry-After"):
        if header in response:
            enveloped[header] = response[header]
    return enveloped


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
