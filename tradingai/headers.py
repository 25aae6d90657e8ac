"""Response headers the API's data needs: ``Cache-Control: no-store`` on everything under
/api/ (signals, trades, the portfolio's balances), so no browser or proxy keeps a copy."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


class ApiNoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/") and not request.path.startswith("/api/docs"):
            patch_cache_control(response, no_store=True)
        return response
