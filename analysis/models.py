"""Market data: candles and funding rates as Binance USD-M serves them.

Prices and volumes are 64-bit floats, not decimals. Binance quotes at most 8 decimal places and
at most ~15 significant digits, which a double round-trips exactly (str -> float -> repr gives
the same text); every consumer downstream (TA-Lib, numpy, XGBoost) computes in float64 anyway,
and floats keep bulk import close to raw COPY speed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Count, Max, Min
from django.db.models.functions import Cast, Extract

from analysis.intervals import INTERVAL_MS
from analysis.symbols import MAX_WATCHED, SYMBOL, normalise

FRAME_COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]


def datetimes_to_ms(values: list[datetime]) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("ms").asi8 if values else np.empty(0, np.int64)


def ms_frame(rows: models.QuerySet, columns: list[str], times: tuple[str, ...]) -> pd.DataFrame:
    """``columns`` of ``rows`` as a frame, the ``times`` among them as epoch milliseconds.

    On PostgreSQL, the query the ORM builds is run on a binary cursor and the times come back
    as integers: Django's cursor binds client-side and reads text, and parsing the text
    (timestamps above all) was most of what a live inference spent reading its window
    (1,600 bars and a week of funding: 15 ms, now 3)."""
    times = tuple(c for c in columns if c in times)
    if connection.vendor == "postgresql":
        return _fetch_frame(*_epoch_sql(rows, columns, times), columns)
    frame = pd.DataFrame.from_records(list(rows.values_list(*columns)), columns=columns)
    for column in times:
        frame[column] = datetimes_to_ms(list(frame[column]))
    return frame


_SENTINELS = (datetime(1001, 1, 1, tzinfo=UTC), datetime(1002, 1, 1, tzinfo=UTC))
_span_sql: dict[tuple, tuple[str, list[int]]] = {}


def span_frame(
    model: type[models.Model],
    keys: dict[str, str],
    time_field: str,
    since: datetime,
    until: datetime,
    columns: list[str],
    times: tuple[str, ...],
) -> pd.DataFrame:
    """``ms_frame`` of ``model``'s rows matching ``keys`` with ``time_field`` in [since, until),
    in time order. On PostgreSQL the ORM compiles the query once per process (with marker
    values, whose places in its parameters are then filled with the real ones): compiling
    was three quarters of a small live read (3.6 ms of a one-bar read, 0.8 without)."""
    times = tuple(c for c in columns if c in times)
    if connection.vendor != "postgresql":
        rows = model.objects.filter(
            **keys, **{f"{time_field}__gte": since, f"{time_field}__lt": until}
        ).order_by(time_field)
        return ms_frame(rows, columns, times)
    shape = (model, tuple(keys), time_field, tuple(columns), times)
    if shape not in _span_sql:
        markers = {k: f"\x01{k}\x01" for k in keys}
        rows = model.objects.filter(
            **markers,
            **{f"{time_field}__gte": _SENTINELS[0], f"{time_field}__lt": _SENTINELS[1]},
        ).order_by(time_field)
        sql, params = _epoch_sql(rows, columns, times)
        values = [*markers.values(), *_SENTINELS]
        # Each parameter: the place of the value it stands for, or a constant of the query
        # (the time zone its epoch is extracted in).
        _span_sql[shape] = (sql, [(values.index(p), None) if p in values else (-1, p)
                                  for p in params])  # fmt: skip
    sql, places = _span_sql[shape]
    given = [*keys.values(), since, until]
    return _fetch_frame(sql, [given[i] if i >= 0 else p for i, p in places], columns)


def _epoch_sql(rows: models.QuerySet, columns: list[str], times: tuple[str, ...]):
    ms = models.BigIntegerField()
    epoch = {f"{c}_ms": Cast(Extract(c, "epoch") * 1000, ms) for c in times}
    names = [f"{c}_ms" if c in times else c for c in columns]
    return rows.annotate(**epoch).values_list(*names).query.sql_with_params()


def _fetch_frame(sql: str, params, columns: list[str]) -> pd.DataFrame:
    connection.ensure_connection()
    # Django's exception types, and its transaction state, as for any query of its own.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return pd.DataFrame(cursor.fetchall(), columns=columns)


class CandleQuerySet(models.QuerySet):
    def series(self, symbol: str, interval: str) -> CandleQuerySet:
        return self.filter(symbol=symbol, interval=interval).order_by("open_time")

    def last_open_time(self, symbol: str, interval: str) -> datetime | None:
        # The newest entry of the unique index, walked backwards. Not ``Max``: PostgreSQL turns
        # that into the same walk only when its statistics expect many rows, and right after an
        # import (before autovacuum analyzes) it read every bar of the series: 2 ms at 12,000
        # bars, on every fetch, and growing with the history.
        return (
            self.filter(symbol=symbol, interval=interval)
            .order_by("-open_time")
            .values_list("open_time", flat=True)
            .first()
        )

    def to_frame(self, columns: list[str] = FRAME_COLUMNS) -> pd.DataFrame:
        """The rows as a frame in open-time order; datetimes become epoch milliseconds."""
        return ms_frame(self.order_by("open_time"), columns, ("open_time", "close_time"))

    def coverage(self) -> list[dict]:
        """One row per stored (symbol, interval): candle count, first and last open time."""
        return list(
            self.values("symbol", "interval")
            .annotate(candles=Count("id"), first=Min("open_time"), last=Max("open_time"))
            .order_by("symbol", "interval")
        )


class Candle(models.Model):
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    open_time = models.DateTimeField()
    close_time = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField(help_text="Base-asset volume.")
    # The columns below come from the API and Binance's dump files; some sources lack them,
    # and then they stay NULL rather than a misleading zero.
    quote_volume = models.FloatField(null=True, blank=True)
    trades = models.BigIntegerField(null=True, blank=True)
    taker_buy_base = models.FloatField(null=True, blank=True)
    taker_buy_quote = models.FloatField(null=True, blank=True)

    objects = CandleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "interval", "open_time"], name="candle_unique_bar"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.interval} {self.open_time:%Y-%m-%d %H:%M}"


class FundingRateQuerySet(models.QuerySet):
    def last_funding_time(self, symbol: str) -> datetime | None:
        # Backwards along the unique index, whatever the planner's statistics (see above).
        return (
            self.filter(symbol=symbol)
            .order_by("-funding_time")
            .values_list("funding_time", flat=True)
            .first()
        )


class FundingRate(models.Model):
    symbol = models.CharField(max_length=20)
    # Exactly as Binance stamps it (often a few ms past the hour); consumers round if they join.
    funding_time = models.DateTimeField()
    rate = models.FloatField(help_text="Rate per funding interval; positive: longs pay shorts.")
    mark_price = models.FloatField(null=True, blank=True)

    objects = FundingRateQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["symbol", "funding_time"], name="funding_unique_time")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} funding {self.funding_time:%Y-%m-%d %H:%M}"


class Universe(models.Model):
    """The symbols and intervals the product fetches, trains, serves and checks; edited in the
    admin or on /settings. One row (pk=1) when saved; until then the environment's
    ``TRADINGAI_SYMBOLS`` and ``TRADINGAI_INTERVALS`` (read through ``analysis.universe``)."""

    updated_at = models.DateTimeField(auto_now=True)
    symbols = models.TextField(help_text="Binance USD-M symbols, comma-separated: BTCUSDT,ETHUSDT")
    intervals = models.CharField(max_length=100, default="1h", help_text="comma-separated: 1h,4h")

    class Meta:
        verbose_name = verbose_name_plural = "universe"

    def __str__(self) -> str:
        return f"{self.symbols} · {self.intervals}"

    @staticmethod
    def split(text: str) -> list[str]:
        return list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))

    def clean(self) -> None:
        symbols = [normalise(s) for s in self.split(self.symbols)]
        if len(symbols) > MAX_WATCHED:  # each fetch round asks the exchange for every one
            raise ValidationError({"symbols": f"at most {MAX_WATCHED} symbols, not {len(symbols)}"})
        bad = [s for s in symbols if not SYMBOL.fullmatch(s)]
        if not symbols or bad:
            problem = f"not a Binance symbol: {', '.join(bad)}" if bad else "name at least one"
            raise ValidationError({"symbols": problem})
        unlisted = _not_listed([s for s in symbols if not Candle.objects.filter(symbol=s).exists()])
        if unlisted:
            raise ValidationError(
                {"symbols": f"Binance lists no USD-M perpetual {', '.join(unlisted)}"}
            )
        intervals = [i.lower() for i in self.split(self.intervals)]
        unknown = [i for i in intervals if i not in INTERVAL_MS]
        if not intervals or unknown:
            problem = f"unknown: {', '.join(unknown)}" if unknown else "name at least one"
            raise ValidationError({"intervals": f"{problem}; one of {', '.join(INTERVAL_MS)}"})
        self.symbols, self.intervals = ",".join(symbols), ",".join(intervals)


def _not_listed(symbols: list[str]) -> list[str]:
    """Of symbols with nothing stored, those the exchange does not list as trading perpetuals;
    none when the exchange cannot be reached (no keys needed, one short try): a symbol with
    stored data, or an exchange that is down, is taken as written."""
    if not symbols:
        return []
    from analysis.exchange import ExchangeError, get_exchange

    try:
        listed = get_exchange(timeout=3.0, max_retries=0).symbols()
    except ExchangeError:
        return []
    return [s for s in symbols if s not in listed]


class SeriesRevision(models.Model):
    """A stamp per stored series (a symbol's candles of one interval, or its funding), replaced
    by a fresh random one in the same transaction as every write that inserts, changes or
    deletes a row of it (``analysis.store``, the only writer; the admin shows market data
    read-only). An unchanged stamp means exactly the same stored rows: what lets a process keep
    a computation over a series' window (``mlcore.training.inputs``) and know in one indexed read
    whether it still holds. Random rather than counted: a database emptied and refilled (a
    restore, a test's flush) cannot come back to a stamp a process kept for other rows.

    ``history`` is a second stamp, replaced only by a write that is not a pure append: one that
    changes or deletes a stored row, or inserts a row at or before the series' newest. While it
    is unchanged, every write since was new rows after the newest one then stored, so a process
    that keeps state over the series (``mlcore.live_state``) reads only the rows after its own
    last one; when it changes, the state is rebuilt from a full read. The store classifies each
    write under a per-series lock, so two writers cannot both see the same newest row."""

    FUNDING = "funding"

    symbol = models.CharField(max_length=20)
    series = models.CharField(max_length=8)  # an interval, or "funding"
    revision = models.PositiveBigIntegerField(default=0)
    history = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["symbol", "series"], name="one_revision_per_series")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.series} r{self.revision}"

    @classmethod
    def bump(cls, symbol: str, series: str, *, history: bool = True) -> None:
        """Inside the writer's transaction: the new stamp commits with the rows. One statement,
        so two first writers cannot both write the same stamp. ``history=False``: the write
        only appended rows after the newest stored one."""
        table = cls._meta.db_table
        fresh = (
            "(random() * 9.2e18)::bigint" if connection.vendor == "postgresql" else "abs(random())"
        )
        also = f", history = {fresh}" if history else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (symbol, series, revision, history) "
                f"VALUES (%s, %s, {fresh}, {fresh}) "
                f"ON CONFLICT (symbol, series) DO UPDATE SET revision = {fresh}{also}",
                [symbol, series],
            )

    @classmethod
    def stamps(cls, symbol: str, series: list[str]) -> dict[str, tuple[int, int]]:
        """(revision, history) of each of a symbol's series, (0, 0) for one never written;
        one indexed read."""
        found = {
            kind: (revision, history)
            for kind, revision, history in cls.objects.filter(
                symbol=symbol, series__in=series
            ).values_list("series", "revision", "history")
        }
        return {kind: found.get(kind, (0, 0)) for kind in series}

    @classmethod
    def current(
        cls, symbols: list[str], series: list[str]
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """Each (symbol, series)'s (revision, history), (0, 0) for one never written; one
        indexed read."""
        found = {
            (symbol, kind): (revision, history)
            for symbol, kind, revision, history in cls.objects.filter(
                symbol__in=symbols, series__in=series
            ).values_list("symbol", "series", "revision", "history")
        }
        return {(s, k): found.get((s, k), (0, 0)) for s in symbols for k in series}
