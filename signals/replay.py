"""Replay: stored history fed through the live path bar by bar, so the product can be seen
working without an exchange.

A replayed bar takes the route a freshly fetched one takes: ``candles_stored`` is sent inside a
transaction, the signals app enqueues ``infer`` on commit (a Celery worker in production, in
process in the embedded mode), the signal is stored once and pushed. Replaying a bar twice
stores nothing new: inference is idempotent per bar and model.

In the embedded mode the in-memory channel layer reaches only sockets of the process that
publishes, so to see signals arrive live the step is run by the server itself (the dashboard's
"replay next bar" button); the ``replay`` command stores them for the next page load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction

from analysis.events import candles_stored
from analysis.intervals import interval_ms
from analysis.models import Candle
from signals.models import NoSignal, Signal


def bars(symbol: str, interval: str, start: datetime, end: datetime) -> list[datetime]:
    return list(
        Candle.objects.filter(
            symbol=symbol, interval=interval, open_time__gte=start, open_time__lt=end
        )
        .order_by("open_time")
        .values_list("open_time", flat=True)
    )


def step(symbol: str, interval: str, bar: datetime) -> None:
    """One bar through the live path."""
    step_all([symbol], interval, bar)


def step_all(symbols: list[str], interval: str, bar: datetime) -> None:
    """One bar of several series in one event, as a fetch sends it (a universe model serves
    them in one round)."""
    with transaction.atomic():
        candles_stored.send(sender=step, series=[(s, interval, bar) for s in symbols])


def next_bar(symbol: str, interval: str, default_lookback: int = 14 * 24) -> datetime | None:
    """The bar after the newest one the series has an outcome for, its signal or its refusal
    (a refused bar stays refused: replaying it again would never move on), or
    ``default_lookback`` bars before the newest stored bar when there is neither yet; None
    when history is used up."""
    outcomes = [
        Signal.objects.filter(symbol=symbol, interval=interval)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first(),
        NoSignal.objects.filter(symbol=symbol, interval=interval)
        .values_list("open_time", flat=True)
        .first(),
    ]
    newest = max((t for t in outcomes if t is not None), default=None)
    candles = Candle.objects.filter(symbol=symbol, interval=interval)
    if newest:
        candles = candles.filter(open_time__gt=newest)
    else:
        last = candles.order_by("-open_time").values_list("open_time", flat=True).first()
        if last is None:
            return None
        candles = candles.filter(
            open_time__gte=last - timedelta(milliseconds=default_lookback * interval_ms(interval))
        )
    return candles.order_by("open_time").values_list("open_time", flat=True).first()


def replay(
    symbols: list[str],
    interval: str,
    start: datetime,
    end: datetime,
    *,
    speed: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Every bar of every symbol in [start, end), in time order, the symbols of a bar in one
    event; ``speed`` is simulated seconds per real second (3600: an hour bar a second), 0 as
    fast as it goes. Returns bars sent (one per symbol)."""
    by_bar: dict[datetime, list[str]] = {}
    for symbol in symbols:
        for bar in bars(symbol, interval, start, end):
            by_bar.setdefault(bar, []).append(symbol)
    pause = interval_ms(interval) / 1000 / speed if speed > 0 else 0.0
    total = sum(len(v) for v in by_bar.values())
    done = 0
    for i, bar in enumerate(sorted(by_bar)):
        if pause and i:
            sleep(pause)
        step_all(sorted(by_bar[bar]), interval, bar)
        done += len(by_bar[bar])
        if progress:
            progress(done, total)
    return total
