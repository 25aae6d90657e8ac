"""Idempotent, atomic upserts of candle and funding frames.

One call is one transaction: all rows land or none do. A row that is already stored with the
same values is left untouched, so running an import or a fetch twice changes nothing.

PostgreSQL takes a bulk batch through ``COPY`` into a temporary staging table and merges it with
one ``INSERT .. SELECT .. ON CONFLICT``: that keeps bulk imports near raw ``COPY`` speed (see
benchmarks/ingest.py). A small one (a live fetch's newest bars) goes into the same merge as a
parameterised ``VALUES`` list. The CSV for COPY is rendered by pyarrow, four times faster than
pandas and exact (shortest round-trip floats, empty fields for NULL). SQLite takes the same upsert
through ``executemany``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection, models, transaction

from analysis.models import Candle, FundingRate

CANDLE_VALUES = [
    "close_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_base",
    "taker_buy_quote",
]
TIME_COLUMNS = {"open_time", "close_time", "funding_time"}


@dataclass(frozen=True)
class UpsertResult:
    received: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.received - self.inserted - self.updated

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.received + other.received,
            self.inserted + other.inserted,
            self.updated + other.updated,
        )


EMPTY = UpsertResult(0, 0, 0)


@dataclass(frozen=True)
class _Target:
    model: type[models.Model]
    keys: list[str]  # the unique constraint, in order
    values: list[str]  # columns updated when an incoming row differs

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def db_type(self, column: str) -> str:
        return self.model._meta.get_field(column).db_type(connection)


def _candle_target() -> _Target:
    return _Target(Candle, ["symbol", "interval", "open_time"], CANDLE_VALUES)


def _funding_target() -> _Target:
    return _Target(FundingRate, ["symbol", "funding_time"], ["rate", "mark_price"])


def upsert_candles(symbol: str, interval: str, frame: pd.DataFrame) -> UpsertResult:
    """``frame``: analysis.dumps.KLINE_COLUMNS, times in epoch ms, already checked."""
    return _upsert(_candle_target(), {"symbol": symbol, "interval": interval}, frame)


def upsert_funding(symbol: str, frame: pd.DataFrame) -> UpsertResult:
    """``frame``: funding_time (epoch ms), rate, mark_price."""
    return _upsert(_funding_target(), {"symbol": symbol}, frame)


def _upsert(target: _Target, fixed: dict[str, str], frame: pd.DataFrame) -> UpsertResult:
    """``fixed``: the key columns shared by every row of the batch (symbol, interval)."""
    if frame.empty:
        return EMPTY
    rows = frame[[c for c in target.keys + target.values if c not in fixed]]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            inserted, updated = _upsert_postgres(target, fixed, rows)
        else:
            inserted, updated = _upsert_sqlite(target, rows.assign(**fixed))
    return UpsertResult(len(rows), inserted, updated)


def _cells(rows: pd.DataFrame) -> np.ndarray:
    """The rows' values for the driver: plain Python numbers, None (NULL) for NaN/NA."""
    cells = rows.to_numpy(dtype=object)
    cells[rows.isna().to_numpy()] = None
    return cells


# Up to this many rows (a live fetch stores one or two) travel as one parameterised VALUES list:
# a staging table and COPY cost ~3 ms of fixed overhead, which a bulk import earns back.
SMALL_BATCH = 500


def _upsert_postgres(target: _Target, fixed: dict[str, str], rows: pd.DataFrame) -> tuple[int, int]:
    staged_columns = list(rows.columns)
    columns = [*fixed, *staged_columns]
    column_list = ", ".join(f'"{c}"' for c in columns)
    types = {c: "bigint" if c in TIME_COLUMNS else target.db_type(c) for c in staged_columns}
    # Times travel as epoch-ms integers and become timestamptz in SQL, exactly. The casts give
    # a VALUES column its type even when every row of it is NULL.
    select = ", ".join(
        ["%s"] * len(fixed)
        + [
            f"""'epoch'::timestamptz + "{c}"::bigint * interval '1 millisecond'"""
            if c in TIME_COLUMNS
            else f'"{c}"::{types[c]}'
            for c in staged_columns
        ]
    )
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in target.values)
    current = ", ".join(f't."{c}"' for c in target.values)
    incoming = ", ".join(f'excluded."{c}"' for c in target.values)
    keys = ", ".join(f'"{c}"' for c in target.keys)
    staged_list = ", ".join(f'"{c}"' for c in staged_columns)
    merge = f"""
        WITH written AS (
            INSERT INTO "{target.table}" AS t ({column_list})
            SELECT {select} FROM {{source}}
            ON CONFLICT ({keys}) DO UPDATE SET {updates}
            WHERE ({current}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM written
        """
    with connection.cursor() as cursor:
        if len(rows) <= SMALL_BATCH:
            cells = _cells(rows)
            values = ", ".join(["(" + ", ".join(["%s"] * len(staged_columns)) + ")"] * len(rows))
            source = f"(VALUES {values}) AS v ({staged_list})"
            cursor.execute(merge.format(source=source), [*fixed.values(), *cells.ravel().tolist()])
            inserted, updated = cursor.fetchone()
            return int(inserted), int(updated)
        sink = pa.BufferOutputStream()
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        pa_csv.write_csv(pa.Table.from_pandas(rows, preserve_index=False), sink, options)
        staged = ", ".join(f'"{c}" {types[c]}' for c in staged_columns)
        cursor.execute(f"CREATE TEMPORARY TABLE _stage ({staged}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY _stage ({staged_list}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(sink.getvalue())
        cursor.execute(merge.format(source="_stage"), list(fixed.values()))
        inserted, updated = cursor.fetchone()
        # Dropped now, not only at commit: a caller may run several upserts in one transaction.
        cursor.execute("DROP TABLE _stage")
    return int(inserted), int(updated)


def _upsert_sqlite(target: _Target, rows: pd.DataFrame) -> tuple[int, int]:
    columns = target.keys + target.values
    rows = rows[columns]
    column_list = ", ".join(f'"{c}"' for c in columns)
    params = ", ".join(f'? AS "{c}"' for c in columns)
    # Django keeps SQLite datetimes as str(datetime): no fraction when it is zero, else six
    # digits. Written any other way, equality lookups and the unique key would not match.
    select = ", ".join(
        f"""datetime("{c}" / 1000, 'unixepoch') || CASE WHEN "{c}" % 1000 = 0 THEN ''
        ELSE printf('.%06d', ("{c}" % 1000) * 1000) END"""
        if c in TIME_COLUMNS
        else f'"{c}"'
        for c in columns
    )
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in target.values)
    differs = " OR ".join(f'"{target.table}"."{c}" IS NOT excluded."{c}"' for c in target.values)
    keys = ", ".join(f'"{c}"' for c in target.keys)
    records = _cells(rows).tolist()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{target.table}"')
        before = cursor.fetchone()[0]
        raw = cursor.connection
        changes_before = raw.total_changes
        cursor.executemany(
            f"""INSERT INTO "{target.table}" ({column_list})
            SELECT {select} FROM (SELECT {params}) WHERE true
            ON CONFLICT ({keys}) DO UPDATE SET {updates} WHERE {differs}""",
            records,
        )
        written = raw.total_changes - changes_before
        cursor.execute(f'SELECT count(*) FROM "{target.table}"')
        inserted = cursor.fetchone()[0] - before
    return inserted, written - inserted
