"""How current the stored market data is, per (symbol, interval)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from analysis import universe
from analysis.intervals import interval_ms
from analysis.models import Candle


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
