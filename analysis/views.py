from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from analysis import universe
from analysis.freshness import series_freshness
from analysis.market import UnknownSeries, cached_multi_timeframe

KEY_ROWS = [
    ("close", "Close"),
    ("rsi_14", "RSI 14"),
    ("macd_hist", "MACD histogram"),
    ("adx_14", "ADX 14"),
    ("natr_14", "NATR 14 (%)"),
    ("ema_50", "EMA 50"),
    ("ema_200", "EMA 200"),
    ("supertrend_dir", "Supertrend direction"),
    ("efficiency_ratio_20", "Efficiency ratio 20"),
    ("bb_upper", "Bollinger upper"),
    ("bb_lower", "Bollinger lower"),
]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """What data the product holds and how current it is."""
    return render(request, "analysis/home.html", {"series": series_freshness(datetime.now(UTC))})


@login_required
def detail(request: HttpRequest, ticker: str) -> HttpResponse:
    """Regime and key indicators on the stored interval, 4h and 1d (closed candles only)."""
    symbol = ticker.upper()
    interval = request.GET.get("interval") or universe.intervals()[0]
    try:
        views = cached_multi_timeframe(symbol, interval)
    except (UnknownSeries, ValueError) as exc:
        raise Http404(str(exc)) from exc
    return render(
        request,
        "analysis/detail.html",
        {"symbol": symbol, "interval": interval, "views": views, "keys": KEY_ROWS},
    )
