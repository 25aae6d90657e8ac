from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from analysis import universe
from analysis.chart import price_chart
from analysis.freshness import series_freshness
from analysis.market import (
    TimeframeView,
    UnknownSeries,
    cached_multi_timeframe,
    price_decimals,
)
from analysis.symbols import normalise

# (indicator, label, how it reads): "price" at the symbol's decimals, a number of decimals, or
# "direction" for a +1/-1 state.
KEY_ROWS: list[tuple[str, str, str | int]] = [
    ("close", "Close", "price"),
    ("rsi_14", "RSI 14", 2),
    ("macd_hist", "MACD histogram", "price"),
    ("adx_14", "ADX 14", 2),
    ("natr_14", "NATR 14 (%)", 2),
    ("ema_50", "EMA 50", "price"),
    ("ema_200", "EMA 200", "price"),
    ("supertrend_dir", "Supertrend direction", "direction"),
    ("efficiency_ratio_20", "Efficiency ratio 20", 3),
    ("bb_upper", "Bollinger upper", "price"),
    ("bb_lower", "Bollinger lower", "price"),
]


def indicator_rows(views: list[TimeframeView]) -> list[tuple[str, list[str]]]:
    """Each key indicator as a label and its value per timeframe, as a trader reads them."""
    decimals = price_decimals([v.indicators["close"] for v in views if v.indicators.get("close")])

    def shown(value: float | None, kind: str | int) -> str:
        if value is None:
            return "\u2013"  # an en dash, as the other pages show a missing value
        if kind == "direction":
            return "up" if value > 0 else "down"
        return f"{value:.{decimals if kind == 'price' else kind}f}"

    return [
        (label, [shown(v.indicators.get(key), kind) for v in views])
        for key, label, kind in KEY_ROWS
    ]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """What data the product holds and how current it is."""
    return render(request, "analysis/home.html", {"series": series_freshness(datetime.now(UTC))})


@login_required
def detail(request: HttpRequest, ticker: str) -> HttpResponse:
    """The chart (candles, EMA 50/200, Bollinger bands, the regime shaded, the symbol's signals
    as markers), then regime and key indicators on the stored interval, 4h and 1d (closed
    candles only)."""
    symbol = normalise(ticker)
    interval = request.GET.get("interval") or universe.intervals()[0]
    try:
        views = cached_multi_timeframe(symbol, interval)
        chart = price_chart(symbol, interval)
    except (UnknownSeries, ValueError) as exc:
        raise Http404(str(exc)) from exc
    return render(
        request,
        "analysis/detail.html",
        {
            "symbol": symbol,
            "interval": interval,
            "views": views,
            "rows": indicator_rows(views),
            "chart": chart,
        },
    )
