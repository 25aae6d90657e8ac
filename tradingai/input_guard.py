"""One guard, before any view, for input the database cannot store.

PostgreSQL refuses a NUL character in text, any text that is not UTF-8 (a lone surrogate such as
``"\\ud800"`` in JSON), and a time zone offset beyond +-15:59; each reached a query as a 500. So
every request's path, query string, cookies, headers and body (JSON or form) is read once here,
and a request holding one of them is a 400 that names where it was: in the envelope under
``/api/``, plain text elsewhere. A query string of more fields than Django takes
(``DATA_UPLOAD_MAX_NUMBER_FIELDS``) is a 400 here too, instead of an error deep in a view.

A per-field check would have to be remembered at every new field; this one cannot be forgotten.
The API's writes take JSON only: a body of another type (text/plain, a form, XML) was read as
JSON all the same, and is now a 415.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse

from tradingai.envelope import envelope, error_body

# PostgreSQL's timestamptz takes offsets up to +-15:59 (Python's datetime takes up to 23:59).
MAX_OFFSET_MINUTES = 15 * 60 + 59
# An ISO time of day followed by a numeric offset, at the end of a value ("...T10:00+23:59").
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*[+-](\d{2}):?(\d{2})\Z")


def flaw(text: str, times: bool = True) -> str | None:
    """What in ``text`` the database cannot store, or None (``times``: look for an offset)."""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (not UTF-8)"
    found = _OFFSET.search(text) if times and len(text) <= 64 else None
    if found and int(found[1]) * 60 + int(found[2]) > MAX_OFFSET_MINUTES:
        return "a time zone offset beyond +-15:59"
    return None


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON value (keys too), with where it is."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]")


def _inputs(request: HttpRequest) -> Iterator[tuple[str, str, bool]]:
    """(where, text, whether a time may stand there) of every input the request carries."""
    yield "the path", request.path, True
    for name, values in request.GET.lists():  # may raise TooManyFieldsSent
        yield f"query parameter {name!r}", name, False
        for value in values:
            yield f"query parameter {name!r}", value, True
    for name, value in request.COOKIES.items():
        yield f"cookie {name!r}", value, False
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str):
            yield f"header {name[5:].replace('_', '-').title()}", value, False
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    kind = request.content_type or ""
    if kind == "application/json" or kind.endswith("+json"):
        try:
            body = json.loads(request.body)
        except ValueError:
            return  # not JSON: the endpoint's own parser says so
        yield from ((where, text, True) for where, text in _strings(body, "the body"))
    elif kind == "application/x-www-form-urlencoded":
        for name, values in request.POST.lists():
            for value in values:
                yield f"form field {name!r}", value, True


def first_flaw(request: HttpRequest) -> tuple[str, str] | None:
    for where, text, times in _inputs(request):
        found = flaw(text, times)
        if found:
            return where, found
    return None


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _not_json_write(request):
            return _refuse(
                request,
                "unsupported_media_type",
                f"the API takes JSON bodies (Content-Type: application/json), not "
                f"{request.content_type or 'an untyped body'}",
                status=415,
            )
        try:
            found = first_flaw(request)
        except TooManyFieldsSent as exc:
            return _refuse(request, "too_many_fields", str(exc))
        except RequestDataTooBig:
            found = None  # the body's size limit answers for itself (a 413 in the envelope)
        if found:
            where, what = found
            return _refuse(request, "unstorable_input", f"{where} holds {what}; nothing was stored")
        return self.get_response(request)


def _not_json_write(request: HttpRequest) -> bool:
    if request.method not in {"POST", "PUT", "PATCH"} or not request.path.startswith("/api/"):
        return False
    if not request.META.get("CONTENT_LENGTH", "0").strip("0 "):
        return False  # no body: nothing to misread
    kind = request.content_type or ""
    return not (kind == "application/json" or kind.endswith("+json"))


def _refuse(request: HttpRequest, code: str, message: str, status: int = 400) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = envelope(error=error_body(code, message))
        return HttpResponse(json.dumps(body), status=status, content_type="application/json")
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
