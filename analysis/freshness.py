"""How current the stored market data is, per (symbol, interval)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings

from analysis import universe
from analysis.intervals import interval_ms
from analysis.models import Candle, FundingRate
from analysis.quality import ms_to_datetime

HOUR_MS = 3_600_000
FUNDING_GRACE_MS = HOUR_MS  # a settlement this late past its schedule means stale funding


@dataclass(frozen=True)
class SeriesFreshness:
    symbol: str
    interval: str
    candles: int
    first_open_time: datetime | None
    last_open_time: datetime | None
    last_close_time: datetime | None
    age_seconds: float | None  # since the last stored candle closed
    verdict: str  # "fresh" | "stale" | "no data"

    @property
    def fresh(self) -> bool:
        return self.verdict == "fresh"


def series_freshness(now: datetime) -> list[SeriesFreshness]:
    """Every stored series plus every configured one that has no data yet.

    A series is fresh while its last closed candle is at most FRESHNESS_INTERVALS intervals
    old; history imported from dump files is honestly stale."""
    rows = {(row["symbol"], row["interval"]): row for row in Candle.objects.coverage()}
    for key in universe.series():
        rows.setdefault(key, {"candles": 0, "first": None, "last": None})
    result = []
    for (symbol, interval), row in sorted(rows.items()):
        step = timedelta(milliseconds=interval_ms(interval))
        last = row["last"]
        if last is None:
            result.append(SeriesFreshness(symbol, interval, 0, None, None, None, None, "no data"))
            continue
        closed_at = last + step
        age = (now - closed_at).total_seconds()
        limit = settings.FRESHNESS_INTERVALS * step.total_seconds()
        verdict = "fresh" if age <= limit else "stale"
        result.append(
            SeriesFreshness(
                symbol, interval, row["candles"], row["first"], last, closed_at, age, verdict
            )
        )
    return result


def funding_due_ms(times_ms: np.ndarray, at_ms: int) -> tuple[int, int] | None:
    """The last settlement known at ``at_ms`` and when the next one was due, the schedule read
    off the last settlements (8h on most symbols, 4h or 1h on some); None with none known."""
    known = np.sort(times_ms[times_ms <= at_ms])
    if not len(known):
        return None
    gaps = np.diff(known[-4:])
    period = round(float(np.median(gaps)) / HOUR_MS) * HOUR_MS if len(gaps) else 8 * HOUR_MS
    return int(known[-1]), int(known[-1]) + period


def last_complete_bar(symbol: str, interval: str) -> datetime | None:
    """The newest stored bar whose inputs are all stored: its candle, and funding settled on
    schedule up to its close (a dump whose funding file ends before its candles leaves the
    bars after that overdue). A symbol with no funding at all: its last candle (a model that
    needs funding says so itself)."""
    last = Candle.objects.last_open_time(symbol, interval)
    if last is None:
        return None
    step = interval_ms(interval)
    times = np.array(
        FundingRate.objects.filter(symbol=symbol)
        .order_by("-funding_time")
        .values_list("funding_time", flat=True)[:8],
        dtype="datetime64[ms]",
    ).astype(np.int64)
    last_ms = int(last.timestamp() * 1000)
    due = funding_due_ms(times, last_ms + step - 1)
    if due is None:
        return last
    # The newest bar closing by the due time plus the grace serving allows.
    complete = (due[1] + FUNDING_GRACE_MS - step) // step * step
    return ms_to_datetime(min(last_ms, complete))
