"""Stored market data as frames, and what a chartist reads off them (indicators, regime)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import talib

from analysis.indicators import kaufman_efficiency_ratio, supertrend
from analysis.intervals import interval_ms
from analysis.models import FRAME_COLUMNS, Candle, FundingRate, ms_frame, span_frame
from analysis.quality import ms_to_datetime
from analysis.regime import RegimeSeries, RegimeThresholds, classify

TIMES = ("open_time", "close_time", "funding_time")  # stored as datetimes, read as epoch ms
FUNDING_COLUMNS = ["funding_time", "rate", "mark_price"]
# Enough bars for EMA200 and the Wilder smoothers to have forgotten their seeds.
LOOKBACK = 3000


MAX_DECIMALS = 10


def price_decimals(prices: list[float]) -> int:
    """The decimals the exchange quotes a symbol in, read off its prices (stored floats give
    back the exchange's digits): 1 for BTCUSDT, 7 for 1000PEPEUSDT. At least 2, so a coarse
    tick still reads as money."""
    decimals = 2
    for price in prices:
        digits = f"{price:.{MAX_DECIMALS}f}".rstrip("0").partition(".")[2]
        decimals = max(decimals, len(digits))
    return decimals


class UnknownSeries(LookupError):
    pass


def candles_frame(
    symbol: str,
    interval: str,
    last: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """The stored series, or its newest ``last`` bars, or the bars opening in [since, until)."""
    interval_ms(interval)  # a clear ValueError for an unknown interval
    if since and until and not last:  # a live read's shape: compiled once
        keys = {"symbol": symbol, "interval": interval}
        return span_frame(Candle, keys, "open_time", since, until, FRAME_COLUMNS, TIMES)
    queryset = Candle.objects.series(symbol, interval)
    if since:
        queryset = queryset.filter(open_time__gte=since)
    if until:
        queryset = queryset.filter(open_time__lt=until)
    if last:
        newest = list(
            queryset.order_by("-open_time").values_list("open_time", flat=True)[last - 1 : last]
        )
        if newest:
            queryset = queryset.filter(open_time__gte=newest[0])
    frame = queryset.to_frame()
    if frame.empty and not (since or until):
        raise UnknownSeries(f"no {interval} candles stored for {symbol}")
    return frame


def funding_frame(
    symbol: str, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """Stored settlements in time order, optionally only those in [since, until)."""
    columns = FUNDING_COLUMNS
    if since and until:
        return span_frame(
            FundingRate, {"symbol": symbol}, "funding_time", since, until, columns, TIMES
        )
    rows = FundingRate.objects.filter(symbol=symbol).order_by("funding_time")
    if since:
        rows = rows.filter(funding_time__gte=since)
    if until:
        rows = rows.filter(funding_time__lt=until)
    return ms_frame(rows, columns, TIMES)


def candles_frames(
    symbols: Sequence[str], interval: str, since: datetime, until: datetime
) -> dict[str, pd.DataFrame]:
    """``candles_frame(symbol, interval, since=since, until=until)`` of every symbol, in one
    query (a live round reads each symbol's newest bar: one query, not one a symbol)."""
    rows = Candle.objects.filter(
        symbol__in=list(symbols), interval=interval, open_time__gte=since, open_time__lt=until
    ).order_by("symbol", "open_time")
    return _by_symbol(ms_frame(rows, ["symbol", *FRAME_COLUMNS], TIMES), symbols)


def funding_frames(
    symbols: Sequence[str], since: datetime, until: datetime
) -> dict[str, pd.DataFrame]:
    """``funding_frame(symbol, since, until)`` of every symbol, in one query."""
    rows = FundingRate.objects.filter(
        symbol__in=list(symbols), funding_time__gte=since, funding_time__lt=until
    ).order_by("symbol", "funding_time")
    return _by_symbol(ms_frame(rows, ["symbol", *FUNDING_COLUMNS], TIMES), symbols)


def _by_symbol(frame: pd.DataFrame, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Rows ordered by symbol, then time -> each symbol's rows (an empty frame for none). A
    symbol's rows are one run whatever the database's collation orders the runs by."""
    names = frame["symbol"].to_numpy()
    body = frame.drop(columns="symbol")
    out = {s: body.iloc[:0] for s in symbols}
    if len(names):
        cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
        for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(names)], strict=True):
            out[names[start]] = body.iloc[start:end].reset_index(drop=True)
    return out


@dataclass(frozen=True)
class RegimeAt:
    open_time: datetime
    regime: str
    confidence: float
    adx: float
    efficiency_ratio: float
    ema_slope_atr: float
    noise: float

    @classmethod
    def at(cls, series: RegimeSeries, i: int, open_time_ms: int) -> RegimeAt:
        return cls(
            ms_to_datetime(open_time_ms),
            str(series.regime[i]),
            float(series.confidence[i]),
            float(series.adx[i]),
            float(series.er[i]),
            float(series.ema_slope[i]),
            float(series.noise[i]),
        )


def regimes(symbol: str, interval: str, bars: int = 1) -> tuple[list[RegimeAt], RegimeThresholds]:
    """The regime of the newest ``bars`` closed candles."""
    frame = candles_frame(symbol, interval, last=LOOKBACK + bars)
    thresholds = RegimeThresholds()
    series: RegimeSeries = classify(
        frame["high"].to_numpy(), frame["low"].to_numpy(), frame["close"].to_numpy(), thresholds
    )
    times = frame["open_time"].to_numpy()
    out = [
        RegimeAt.at(series, i, int(times[i]))
        for i in range(max(len(frame) - bars, 0), len(frame))
        if series.regime[i] is not None
    ]
    return out, thresholds


def indicators_of(frame: pd.DataFrame) -> dict[str, float | None]:
    """The indicators a chartist looks at first, at the frame's newest candle."""
    h, low, c, v = (frame[k].to_numpy() for k in ("high", "low", "close", "volume"))
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    direction, line = supertrend(h, low, c, 10, 3.0)
    values = {
        "close": c,
        "rsi_14": talib.RSI(c, 14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "stoch_k": talib.STOCH(h, low, c, 14, 3, 0, 3, 0)[0],
        "atr_14": talib.ATR(h, low, c, 14),
        "natr_14": talib.NATR(h, low, c, 14),
        "adx_14": talib.ADX(h, low, c, 14),
        "plus_di_14": talib.PLUS_DI(h, low, c, 14),
        "minus_di_14": talib.MINUS_DI(h, low, c, 14),
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "ema_20": talib.EMA(c, 20),
        "ema_50": talib.EMA(c, 50),
        "ema_200": talib.EMA(c, 200),
        "supertrend": line,
        "supertrend_dir": direction,
        "efficiency_ratio_20": kaufman_efficiency_ratio(c, 20),
        "obv": talib.OBV(c, v),
    }
    return {k: (None if np.isnan(x[-1]) else float(x[-1])) for k, x in values.items()}


def key_indicators(symbol: str, interval: str) -> tuple[datetime, dict[str, float | None]]:
    """Current values of the indicators a chartist looks at first, at the newest candle."""
    frame = candles_frame(symbol, interval, last=LOOKBACK)
    latest = indicators_of(frame)
    funding = FundingRate.objects.filter(symbol=symbol).order_by("-funding_time").first()
    latest["funding_rate"] = funding.rate if funding else None
    return ms_to_datetime(int(frame["open_time"].iloc[-1])), latest


def closed_buckets(frame: pd.DataFrame, step_ms: int, target_ms: int) -> pd.DataFrame:
    """Candles of a longer interval from complete buckets of ``frame``'s (aligned to the epoch
    like Binance's): a bucket still forming, or one with a missing bar, is left out."""
    bucket = frame["open_time"] // target_ms
    grouped = frame.groupby(bucket, sort=True)
    out = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        bars=("open", "size"),
    )
    out = out[out["bars"] == target_ms // step_ms].drop(columns="bars")
    out.insert(0, "open_time", out.index.to_numpy() * target_ms)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class TimeframeView:
    interval: str
    open_time: datetime | None  # of the newest closed candle used
    regime: RegimeAt | None
    indicators: dict[str, float | None]


def multi_timeframe(
    symbol: str, interval: str, higher: tuple[str, ...] = ("4h", "1d")
) -> list[TimeframeView]:
    """Regime and key indicators on the stored interval and on longer ones built from its
    closed candles (or stored directly, when they are)."""
    step = interval_ms(interval)
    views = []
    for tf in (interval, *higher):
        target = interval_ms(tf)
        if target < step or target % step:
            continue
        if tf == interval:
            frame = candles_frame(symbol, interval, last=LOOKBACK)
        else:
            base = candles_frame(symbol, interval, last=LOOKBACK * (target // step))
            frame = closed_buckets(base, step, target).tail(LOOKBACK)
        if len(frame) < 30:
            views.append(TimeframeView(tf, None, None, {}))
            continue
        h, low, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
        series = classify(h, low, c, RegimeThresholds())
        regime = None
        if series.regime[-1] is not None:
            regime = RegimeAt.at(series, -1, int(frame["open_time"].iloc[-1]))
        views.append(
            TimeframeView(
                tf, ms_to_datetime(int(frame["open_time"].iloc[-1])), regime, indicators_of(frame)
            )
        )
    return views


def analysis_cache_key(symbol: str, interval: str) -> str:
    return f"analysis:timeframes:{symbol}:{interval}"


def cached_multi_timeframe(symbol: str, interval: str) -> list[TimeframeView]:
    """``multi_timeframe`` through Django's cache (Redis in production): the signals app clears
    it when a new signal lands, and it expires within the hour regardless."""
    from django.core.cache import cache

    return cache.get_or_set(
        analysis_cache_key(symbol, interval), lambda: multi_timeframe(symbol, interval), 3600
    )
