"""The one NinjaAPI at /api/. Every response, errors included, is the envelope
``{"success", "data", "error", "timestamp"}``; the OpenAPI docs at /api/docs describe it."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer

from tradingai.api_errors import ApiError
from tradingai.auth import READ
from tradingai.envelope import envelope, error_body
from tradingai.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_S, database_down

log = logging.getLogger(__name__)


class EnvelopeRenderer(JSONRenderer):
    """Wraps whatever an endpoint or handler returns. Handlers below hand it ready error
    bodies; a bare ninja ``{"detail": ...}`` (from a place we did not handle) is wrapped too."""

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        if response_status < 400:
            body = envelope(data)
        elif isinstance(data, dict) and {"code", "message"} <= data.keys():
            body = envelope(error=data)
        else:
            detail = data.get("detail", data) if isinstance(data, dict) else data
            body = envelope(error=error_body(f"http_{response_status}", str(detail)))
        return json.dumps(body, cls=self.encoder_class)


class EnvelopedNinjaAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Describe the envelope in the docs: each JSON response schema becomes its ``data``."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    if not str(status).isdigit():
                        continue  # "default", added below (PUT and PATCH share one operation)
                    content = response.get("content", {}).get("application/json")
                    if content and "schema" in content:
                        content["schema"] = _enveloped(content["schema"], int(status) < 400)
                # Every error (401, 404, 422, 429, 503, ...) is the envelope with its error.
                responses.setdefault(
                    "default",
                    {
                        "description": "An error: the envelope, with success false and the error",
                        "content": {"application/json": {"schema": _enveloped({}, False)}},
                    },
                )
        return schema


def _enveloped(inner: dict, success: bool) -> dict:
    error = {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {},
        },
    }
    return {
        "type": "object",
        "required": ["success", "data", "error", "timestamp"],
        "properties": {
            "success": {"type": "boolean", "const": success},
            "data": inner if success else {"type": "null"},
            "error": {"type": "null"} if success else error,
            "timestamp": {"type": "string", "format": "date-time"},
        },
    }


api = EnvelopedNinjaAPI(
    title="Trading AI",
    version="1",
    description="Analysis-only signals for Binance USD-M futures. Every response is the "
    "envelope {success, data, error, timestamp}.",
    renderer=EnvelopeRenderer(),
    urls_namespace="api",
    auth=READ,  # every operation reads by default; writes say auth=WRITE, health is open
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return api.create_response(
        request, error_body(exc.code, exc.message, exc.details), status=exc.status
    )


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    body = error_body("invalid_request", "The request is not valid.", exc.errors)
    return api.create_response(request, body, status=422)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    given = bool(request.headers.get("X-API-Key"))
    message = (
        "the API key is not valid (unknown or revoked)"
        if given
        else "an API key is needed: send it in the X-API-Key header"
    )
    return api.create_response(request, error_body("http_401", message), status=401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    body = error_body(f"http_{exc.status_code}", str(exc))
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(
        request, error_body("not_found", str(exc) or "Not found."), status=404
    )


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = error_body("payload_too_large", f"the request body is over the {limit:,}-byte limit")
    return api.create_response(request, body, status=413)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    if database_down(exc):  # a restart under way: retry shortly (see tradingai.errors)
        log.warning("database unavailable on %s: %s", request.path, exc)
        body = error_body(*DATABASE_UNAVAILABLE)
        response = api.create_response(request, body, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
    log.exception("unhandled API error on %s", request.path)
    body = error_body("internal_error", "An unexpected error occurred; it has been logged.")
    return api.create_response(request, body, status=500)


@csrf_exempt  # it changes nothing; without this a POST to a wrong path got Django's HTML 403
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown paths under /api/ answer with the envelope too, not Django's HTML page."""
    body = envelope(error=error_body("not_found", f"No API endpoint at /api/{rest}."))
    return HttpResponse(json.dumps(body), status=404, content_type="application/json")


api.add_router("/system", "tradingai.health.router")
api.add_router("/analysis", "analysis.api.router")
api.add_router("/backtests", "mlcore.api.router")
api.add_router("/models", "mlcore.api.models_router")
api.add_router("/training", "mlcore.api.training_router")
api.add_router("/explain", "signals.api.router")
api.add_router("/signals", "signals.api.signals_router")
api.add_router("/risk", "signals.api.risk_router")
api.add_router("/trades", "journal.api.router")
api.add_router("/performance", "journal.api.performance_router")
api.add_router("/portfolio", "portfolio.api.router")
