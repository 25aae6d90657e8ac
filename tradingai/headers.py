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
        response = self.get_response(request)
        if not request.path.startswith("/api/") or request.path.startswith("/api/docs"):
            return response
        if response.status_code == 405 and not _is_json(response):
            allowed = response.get("Allow", "")
            message = f"{request.method} is not allowed here; allowed: {allowed}"
            body = envelope(error=error_body("method_not_allowed", message))
            enveloped = HttpResponse(json.dumps(body), status=405, content_type="application/json")
            enveloped["Allow"] = allowed
            response = enveloped
        patch_cache_control(response, no_store=True)
        return response


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
