"""Pages of the signal list for ``GET /api/signals``, served from Django's cache.

Every client polls the same few pages (newest 50, per ticker, per grade), and they change only
when a signal is stored or acknowledged. So a page is built once per change: queried, checked
against the API schema, rendered to JSON and cached with the list's current *generation*.
Any save or delete of a signal bumps the generation when its transaction commits, which
retires every cached page at once (Django's cache cannot delete by pattern; a generation
needs not). Serving a cached page reads the generation and the page in one round trip.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

from analysis.models import Candle
from signals.models import Signal
from signals.serialize import signal_json

GENERATION = "signals:list:generation"
# A page lives a minute at most: it absorbs the bursts of polls between two signals, and a
# generation advance lost to a Redis blink cannot keep a stale page for longer.
TTL = 60
BUILD_SECONDS = 0.25  # the longest a request waits for another to build the page


_known: set[str] = set()


def known_symbol(symbol: str) -> bool:
    """Whether any candle or signal names the symbol: a well-formed symbol the product has never
    heard of is a 404, like /api/explain's, not an empty list that reads as "no signals yet".
    A symbol once known stays known, so on the hot path this costs nothing after its first ask."""
    if symbol not in _known and (
        Candle.objects.filter(symbol=symbol).exists()
        or Signal.everything.filter(symbol=symbol).exists()
    ):
        _known.add(symbol)
    return symbol in _known


def generation() -> int:
    # A missing generation (never set, evicted, flushed) starts from the clock, so it can never
    # meet the pages an earlier one cached.
    value = cache.get(GENERATION)
    if value is None:
        cache.add(GENERATION, time.time_ns(), None)
        value = cache.get(GENERATION) or time.time_ns()
    return value


def _advance() -> None:
    try:
        cache.incr(GENERATION)
    except ValueError:
        generation()


def bump(**kwargs) -> None:
    """Connected to ``post_save``/``post_delete`` of ``Signal`` (``SignalsConfig.ready``). Now and
    again once the save commits: a page built in between, without the new row, is retired."""
    _advance()
    transaction.on_commit(_advance)


def page(
    symbol: str | None, grade: str | None, limit: int, offset: int, actionable: bool | None = None
) -> dict:
    """One page of graded signals, newest first, with the total count."""
    signals = Signal.objects.graded().select_related("model_version")
    if symbol:
        signals = signals.filter(symbol=symbol)
    if grade:
        signals = signals.filter(grade=grade)
    if actionable is not None:
        signals = signals.filter(actionable=actionable)
    items = [signal_json(s) for s in signals[offset : offset + limit]]
    return {"count": signals.count(), "limit": limit, "offset": offset, "items": items}


def page_json(
    symbol: str | None,
    grade: str | None,
    limit: int,
    offset: int,
    schema,
    actionable: bool | None = None,
) -> str:
    """The page as JSON checked against ``schema``, built once per generation. A cached page
    costs one cache round trip: the generation and the page (stored with the generation it was
    built under) are read together; a page of an older generation is built again."""
    which = "*" if actionable is None else int(actionable)
    key = f"signals:list:{symbol or '*'}:{grade or '*'}:{which}:{limit}:{offset}"
    found = cache.get_many([GENERATION, key])
    current = found.get(GENERATION)
    if current is None:
        current = generation()
    cached = found.get(key)
    if cached is not None and cached[0] == current:
        return cached[1]
    # One request builds the new page; the others (every thread of every process polls the
    # same pages) do not all query at once: while it builds they get the page it replaces
    # (older by one signal, for the few milliseconds of the build; the new signal reaches the
    # dashboards over the WebSocket anyway), or, with no page yet, wait a moment for it.
    # Measured: a new signal a second made the list's p99 ten times its median without this.
    building = f"{key}:building:{current}"
    if not cache.add(building, 1, BUILD_SECONDS):
        if cached is not None:
            return cached[1]
        deadline = time.monotonic() + BUILD_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.003)
            cached = cache.get(key)
            if cached is not None and cached[0] == current:
                return cached[1]
    body = schema.model_validate(page(symbol, grade, limit, offset, actionable)).model_dump_json()
    cache.set(key, (current, body), TTL)
    return body
