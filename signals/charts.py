"""Chart data for a signal's detail: recent candles, other signals as markers, stop and target."""

from __future__ import annotations

from datetime import timedelta

from analysis.intervals import interval_ms
from analysis.market import price_decimals
from analysis.models import Candle
from signals.models import Signal

BARS_BEFORE, BARS_AFTER = 120, 24


def signal_chart(signal: Signal) -> dict:
    step = timedelta(milliseconds=interval_ms(signal.interval))
    since, until = signal.open_time - BARS_BEFORE * step, signal.open_time + BARS_AFTER * step
    candles = (
        Candle.objects.filter(
            symbol=signal.symbol,
            interval=signal.interval,
            open_time__gte=since,
            open_time__lte=until,
        )
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close")
    )
    markers = (
        Signal.objects.graded()
        .filter(
            symbol=signal.symbol,
            interval=signal.interval,
            open_time__gte=since,
            open_time__lte=until,
        )
        .values_list("id", "open_time", "direction", "grade")
    )
    rows = list(candles)
    return {
        "candles": [[int(t.timestamp()), o, h, lo, c] for t, o, h, lo, c in rows],
        # The price axis and the lines at the symbol's own precision (the chart's default of
        # two decimals read 0.01 for every level of a 0.0106 price).
        "decimals": price_decimals([p for row in rows for p in row[1:]]),
        "markers": [
            {"time": int(t.timestamp()), "direction": d, "grade": g, "selected": i == signal.pk}
            for i, t, d, g in markers
        ],
        "entry": signal.entry_price,
        "stop": signal.stop_price,
        "target": signal.target_price,
        # The 90 % range of the close at the call's risk horizon (or the first one).
        "range": _range(signal),
    }


def _range(signal: Signal) -> list[float] | None:
    horizons = (signal.risk or {}).get("horizons") or []
    if not horizons:
        return None
    wanted = (signal.risk.get("levels") or {}).get("h")
    chosen = next((f for f in horizons if f["h"] == wanted), horizons[0])
    return chosen["close"]["90"]
