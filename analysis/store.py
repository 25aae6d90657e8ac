"""Idempotent, atomic upserts of candle and funding frames.

One call is one transaction: all rows land or none do. A row that is already stored with the
same values is left untouched, so running an import or a fetch twice changes nothing. A call
that stores or changes any row raises the series' ``SeriesRevision`` in the same transaction.

PostgreSQL takes a bulk batch through ``COPY`` into a temporary staging table and merges it with
one ``INSERT .. SELECT .. ON CONFLICT``; a bulk batch where its series has no row yet (the
common import) goes straight into the table with one ``COPY``, at raw ``COPY`` speed (see
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
from django.db import IntegrityError, connection, models, transaction

from analysis.models import Candle, FundingRate, SeriesRevision

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


def delete_candles(symbol: str, interval: str, **lookups: object) -> int:
    """Delete a series' candles matching ``lookups`` (``open_time__gte=...``); the series'
    revision is raised with it, as for any write. Returns how many were deleted."""
    with transaction.atomic():
        deleted, _ = Candle.objects.filter(symbol=symbol, interval=interval, **lookups).delete()
        if deleted:
            SeriesRevision.bump(symbol, interval)
    return deleted


def _upsert(target: _Target, fixed: dict[str, str], frame: pd.DataFrame) -> UpsertResult:
    """``fixed``: the key columns shared by every row of the batch (symbol, interval)."""
    if frame.empty:
        return EMPTY
    rows = frame[[c for c in target.keys + target.values if c not in fixed]]
    time_key = next(k for k in target.keys if k not in fixed)
    with transaction.atomic():
        newest = _newest_locked(target, fixed, time_key)
        if connection.vendor == "postgresql":
            inserted, updated = _upsert_postgres(target, fixed, rows)
        else:
            inserted, updated = _upsert_sqlite(target, rows.assign(**fixed))
        if inserted or updated:  # what is stored changed: caches of it must know
            # Rows after the newest stored one cannot have been stored: all of them were
            # inserted. Exactly those inserted, nothing updated: a pure append.
            after = int((rows[time_key] > newest).sum()) if newest is not None else len(rows)
            SeriesRevision.bump(
                fixed["symbol"],
                fixed.get("interval", SeriesRevision.FUNDING),
                history=bool(updated or inserted != after),
            )
    return UpsertResult(len(rows), inserted, updated)


def _newest_locked(target: _Target, fixed: dict[str, str], time_key: str) -> int | None:
    """The series' newest stored time (epoch ms), read after taking the series' write lock
    (PostgreSQL: a transaction-level advisory lock, so writers of one series wait for each
    other; SQLite serialises writers itself): no other writer can store rows between this read
    and the commit."""
    if connection.vendor == "postgresql":
        lock = ":".join([target.table, *fixed.values()])
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [lock])
    newest = target.model.objects.filter(**fixed).aggregate(newest=models.Max(time_key))["newest"]
    return None if newest is None else int(newest.timestamp() * 1000)


def _cells(rows: pd.DataFrame) -> np.ndarray:
    """The rows' values for the driver: plain Python numbers, None (NULL) for NaN/NA."""
    cells = rows.to_numpy(dtype=object)
    cells[rows.isna().to_numpy()] = None
    return cells


# Up to this many rows (a live fetch stores one or two) travel as one parameterised VALUES list:
# a staging table and COPY cost ~3 ms of fixed overhead, which a bulk import earns back.
SMALL_BATCH = 500
COPY_SLICE = 20_000  # rows rendered and sent at a time by a direct COPY


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
        if _copy_if_new(cursor, target, fixed, rows):
            return len(rows), 0
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


def _copy_if_new(cursor, target: _Target, fixed: dict[str, str], rows: pd.DataFrame) -> bool:
    """A batch that lands where its series has no row yet (a first import, the next month of
    a dump) is all new: it goes straight into the table with one COPY, at raw COPY speed,
    instead of through staging and the merge. The caller holds the series' write lock
    (``_newest_locked``), so no row can appear between the check and the COPY; a row written
    past the lock fails the COPY, which is then undone and merged instead."""
    time_key = next(k for k in target.keys if k not in fixed)
    where = " AND ".join(f'"{k}" = %s' for k in fixed)
    first, last = int(rows[time_key].min()), int(rows[time_key].max())
    cursor.execute(
        f"""SELECT EXISTS (SELECT 1 FROM "{target.table}" WHERE {where} AND "{time_key}"
        BETWEEN to_timestamp(%s / 1000.0) AND to_timestamp(%s / 1000.0))""",
        [*fixed.values(), first, last],
    )
    if cursor.fetchone()[0]:
        return False
    import psycopg

    binary = _binary_copy(target, fixed, rows)
    if binary is not None:
        names = ", ".join(f'"{c}"' for c in [*fixed, *rows.columns])
        copy_sql = f'COPY "{target.table}" ({names}) FROM STDIN (FORMAT binary)'
        slices = [binary]
    else:
        table = pa.Table.from_pandas(rows, preserve_index=False)
        for name in TIME_COLUMNS & set(rows.columns):  # epoch ms -> timestamptz, exactly
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table[name].cast(pa.timestamp("ms", tz="UTC")))
        for name, value in fixed.items():
            table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), len(rows)))
        names = ", ".join(f'"{c}"' for c in table.column_names)
        copy_sql = f'COPY "{target.table}" ({names}) FROM STDIN (FORMAT csv)'
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        slices = (_csv(batch, options) for batch in table.to_batches(max_chunksize=COPY_SLICE))
    try:
        # A savepoint: a failed COPY is undone alone and leaves the batch to the merge.
        with transaction.atomic(), cursor.cursor.copy(copy_sql) as copy:
            for data in slices:
                copy.write(data)
    except (IntegrityError, psycopg.IntegrityError):
        return False
    return True


def _csv(batch: pa.RecordBatch, options: pa_csv.WriteOptions) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(pa.Table.from_batches([batch]), sink, options)
    return sink.getvalue()


PG_EPOCH_MS = 946_684_800_000  # 2000-01-01, where PostgreSQL's binary timestamps count from
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, no extension
BINARY_TYPES = {"double precision": ">f8", "bigint": ">i8", "integer": ">i4"}


def _binary_copy(target: _Target, fixed: dict[str, str], rows: pd.DataFrame) -> bytes | None:
    """The batch in PostgreSQL's binary COPY format, built by numpy as one record array (no
    text to render or parse: rendering shortest round-trip floats cost more than the COPY
    itself). Every row has the same layout when each column is either all values or all NULL;
    a column with some NULLs returns None (the CSV route takes that batch)."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    values: dict[str, object] = {"count": len(fixed) + len(rows.columns)}
    for name, value in fixed.items():
        raw = value.encode()
        fields += [(f"{name}_n", ">i4"), (name, f"S{len(raw)}")]
        values |= {f"{name}_n": len(raw), name: raw}
    for name in rows.columns:
        column = rows[name]
        missing = column.isna().to_numpy()
        if missing.all():
            fields.append((f"{name}_n", ">i4"))
            values[f"{name}_n"] = -1
            continue
        if missing.any():
            return None
        if name in TIME_COLUMNS:
            kind, data = ">i8", (column.to_numpy(np.int64) - PG_EPOCH_MS) * 1000
        else:
            kind = BINARY_TYPES.get(target.db_type(name))
            if kind is None:
                return None
            data = column.to_numpy()
        fields += [(f"{name}_n", ">i4"), (name, kind)]
        values |= {f"{name}_n": np.dtype(kind).itemsize, name: data}
    records = np.empty(len(rows), dtype=np.dtype(fields))
    for name, value in values.items():
        records[name] = value
    return BINARY_HEADER + records.tobytes() + b"\xff\xff"


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
