"""Binance kline intervals and their lengths. Pure; no Django."""

from __future__ import annotations

MINUTE_MS = 60_000
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
}
# Monthly ("1M") and weekly ("1w") candles are not fixed-length or not aligned to the epoch;
# the product works on intraday and daily bars only, so they are deliberately absent.


def interval_ms(interval: str) -> int:
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        known = ", ".join(INTERVAL_MS)
        raise ValueError(f"unknown interval {interval!r}; known: {known}") from None
