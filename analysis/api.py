"""/api/analysis: what the market looks like now, per symbol."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from analysis import market, universe
from analysis.intervals import INTERVAL_MS
from tradingai.api_errors import ApiError, symbol_or_404

router = Router(tags=["analysis"])


# The schema names the intervals that exist, so a client (and a fuzzer) knows them.
IntervalName = Literal[tuple(INTERVAL_MS)]  # type: ignore[valid-type]


class SeriesQuery(Schema):
    interval: IntervalName = Field(default_factory=lambda: universe.intervals()[0])


class RegimeQuery(SeriesQuery):
    bars: int = Field(1, ge=1, le=1000, description="how many of the newest bars")


class RegimeOut(Schema):
    symbol: str
    interval: str
    current: market.RegimeAt
    history: list[market.RegimeAt]
    thresholds: dict[str, float]


class IndicatorsOut(Schema):
    symbol: str
    interval: str
    open_time: datetime
    values: dict[str, float | None]


def _checked(ticker: str, interval: str) -> str:
    if interval not in INTERVAL_MS:
        raise ApiError(422, "invalid_interval", f"unknown interval {interval!r}")
    return symbol_or_404(ticker)


@router.get("/{ticker}/regime", response=RegimeOut)
def regime(request: HttpRequest, ticker: str, q: Query[RegimeQuery]) -> RegimeOut:
    """TRENDING / RANGING / CHOPPY at the newest closed candle (and the ``bars`` before it),
    with the inputs and thresholds that decided it."""
    symbol = _checked(ticker, q.interval)
    try:
        bars, thresholds = market.regimes(symbol, q.interval, q.bars)
    except market.UnknownSeries as exc:
        raise ApiError(404, "unknown_symbol", str(exc)) from exc
    if not bars:
        raise ApiError(409, "not_enough_data", f"too few {q.interval} candles for {symbol}")
    return RegimeOut(
        symbol=symbol,
        interval=q.interval,
        current=bars[-1],
        history=bars,
        thresholds=thresholds.as_dict(),
    )


@router.get("/{ticker}/indicators", response=IndicatorsOut)
def indicators(request: HttpRequest, ticker: str, q: Query[SeriesQuery]) -> IndicatorsOut:
    """Current values of the key indicators at the newest closed candle."""
    symbol = _checked(ticker, q.interval)
    try:
        open_time, values = market.key_indicators(symbol, q.interval)
    except market.UnknownSeries as exc:
        raise ApiError(404, "unknown_symbol", str(exc)) from exc
    return IndicatorsOut(symbol=symbol, interval=q.interval, open_time=open_time, values=values)


class TimeframeOut(Schema):
    interval: str
    open_time: datetime | None
    regime: market.RegimeAt | None
    indicators: dict[str, float | None]


class SummaryOut(Schema):
    symbol: str
    interval: str
    timeframes: list[TimeframeOut]


@router.get("", response=SummaryOut)
@router.get("/", response=SummaryOut, include_in_schema=False)
def summary(request: HttpRequest, ticker: str, q: Query[SeriesQuery]) -> SummaryOut:
    """Regime and key indicators on the stored interval, 4h and 1d, from closed candles only
    (cached; cleared when a new signal lands)."""
    symbol = _checked(ticker, q.interval)
    try:
        views = market.cached_multi_timeframe(symbol, q.interval)
    except market.UnknownSeries as exc:
        raise ApiError(404, "unknown_symbol", str(exc)) from None
    return SummaryOut(
        symbol=symbol,
        interval=q.interval,
        timeframes=[
            TimeframeOut(
                interval=v.interval, open_time=v.open_time, regime=v.regime, indicators=v.indicators
            )
            for v in views
        ],
    )
