"""Ingest benchmark: 1,000,000 1h candles into PostgreSQL and SQLite, against raw COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/ingest.py

Rows: the real BTCUSDT 1h history from the shared data, tiled over synthetic symbol names
until there are 1,000,000. Measured in one run, on one machine:
1. raw COPY: the rows, timestamps already rendered, COPYed into the empty candle table (the limit);
2. upsert: ``analysis.store.upsert_candles`` from frames into the empty table (new rows);
3. re-upsert: the same again (every row already stored and unchanged: nothing is written);
4. file import: ``analysis.ingest.import_file`` end to end (parse + check + upsert), PostgreSQL;
5. SQLite: upsert into an empty embedded database (run in a child process: one settings each).
The PostgreSQL work happens in a scratch database, created and dropped here.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TOTAL = 1_000_000
sys.path.insert(0, str(ROOT))

from benchmarks.targets import Targets  # noqa: E402


def candle_frames(total: int):
    """(symbol, frame) pairs adding up to ``total`` rows of real candles."""
    import pandas as pd

    from analysis.dumps import read_dump

    base = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame
    frames, left, n = [], total, 0
    while left > 0:
        part = base.head(left)
        frames.append((f"BENCH{n:03d}USDT", part))
        left -= len(part)
        n += 1
    assert sum(len(f) for _, f in frames) == total
    return frames, pd


def setup_django(database_url: str | None, var_dir: str) -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        os.environ.setdefault("SECRET_KEY", "benchmark-ingest-only-" + "k" * 40)
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["TRADINGAI_VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingai.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_postgres(database_url: str) -> dict[str, float]:
    from django.db import connection, transaction

    from analysis.models import Candle
    from analysis.store import CANDLE_VALUES, upsert_candles

    frames, pd = candle_frames(TOTAL)
    table = Candle._meta.db_table
    columns = ["symbol", "interval", "open_time", *CANDLE_VALUES]

    def truncate() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'TRUNCATE "{table}"')
            cursor.execute(f'VACUUM ANALYZE "{table}"')

    # 1. raw COPY: render timestamps first (not timed), then time only the COPY itself.
    rendered = io.StringIO()
    for symbol, frame in frames:
        out = frame.assign(symbol=symbol, interval="1h")
        for col in ("open_time", "close_time"):
            out[col] = pd.to_datetime(out[col], unit="ms", utc=True).dt.strftime(
                "%Y-%m-%d %H:%M:%S.%f+00"
            )
        out[columns].to_csv(rendered, header=False, index=False)
    payload = rendered.getvalue()
    truncate()

    def raw_copy() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in columns)
            with cursor.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT csv)') as copy:
                copy.write(payload)

    results = {"raw_copy_s": timed(raw_copy)}
    assert Candle.objects.count() == TOTAL
    truncate()

    # 2. and 3. our upsert, on an empty table and then again over identical rows.
    def upsert_all() -> None:
        for symbol, frame in frames:
            upsert_candles(symbol, "1h", frame)

    results["upsert_new_s"] = timed(upsert_all)
    assert Candle.objects.count() == TOTAL
    results["upsert_unchanged_s"] = timed(upsert_all)
    assert Candle.objects.count() == TOTAL
    truncate()

    # 4. the whole file path: gzip CSV -> parse -> check -> upsert.
    from analysis.ingest import import_file

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for symbol, frame in frames:
            path = Path(folder) / f"binance_futures_{symbol}_1h.csv.gz"
            with gzip.open(path, "wt", compresslevel=1) as handle:
                frame[["open_time", "open", "high", "low", "close", "volume"]].to_csv(
                    handle, index=False
                )
            paths.append(path)
        results["file_import_s"] = timed(lambda: [import_file(p) for p in paths])
    assert Candle.objects.count() == TOTAL
    truncate()
    return results


def run_sqlite() -> dict[str, float]:
    from analysis.models import Candle
    from analysis.store import upsert_candles

    frames, _ = candle_frames(TOTAL)
    seconds = timed(lambda: [upsert_candles(s, "1h", f) for s, f in frames])
    assert Candle.objects.count() == TOTAL
    return {"sqlite_upsert_new_s": seconds}


def scratch_url(database_url: str, name: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child-sqlite", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sqlite:
        with tempfile.TemporaryDirectory() as var_dir:
            setup_django(None, var_dir)
            print(json.dumps(run_sqlite()))
        return

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        sys.exit("set DATABASE_URL to a PostgreSQL server (the scratch database is made there)")
    import psycopg

    # The server's own maintenance database: the one DATABASE_URL names need not exist.
    admin = psycopg.connect(scratch_url(database_url, "postgres"), autocommit=True)
    admin.execute("DROP DATABASE IF EXISTS tradingai_bench WITH (FORCE)")
    admin.execute("CREATE DATABASE tradingai_bench")
    try:
        with tempfile.TemporaryDirectory() as var_dir:
            setup_django(scratch_url(database_url, "tradingai_bench"), var_dir)
            results = run_postgres(database_url)
            from django.db import connections

            for connection in connections.all():
                getattr(connection, "close_pool", connection.close)()  # a pool outlives close_all
    finally:
        # FORCE: any connection still open (a pool's, a crashed run's) must not keep it.
        admin.execute("DROP DATABASE IF EXISTS tradingai_bench WITH (FORCE)")
    child = subprocess.run(
        [sys.executable, __file__, "--child-sqlite"], capture_output=True, text=True, check=True
    )
    results |= json.loads(child.stdout.strip().splitlines()[-1])

    raw_rate = TOTAL / results["raw_copy_s"]
    print(f"ingest benchmark: {TOTAL:,} 1h candles, {os.cpu_count()} CPUs")
    print(f"{'path':<42}{'seconds':>9}{'rows/s':>12}{'vs raw COPY':>13}")
    for label, key in [
        ("PostgreSQL raw COPY (the limit)", "raw_copy_s"),
        ("PostgreSQL upsert, new rows", "upsert_new_s"),
        ("PostgreSQL upsert, all rows unchanged", "upsert_unchanged_s"),
        ("PostgreSQL file import (parse+check+upsert)", "file_import_s"),
        ("SQLite upsert, new rows", "sqlite_upsert_new_s"),
    ]:
        rate = TOTAL / results[key]
        print(f"{label:<42}{results[key]:>9.2f}{rate:>12,.0f}{rate / raw_rate:>12.0%}")
    targets = Targets()
    share = results["raw_copy_s"] / results["upsert_new_s"]
    verdict = targets.check("PostgreSQL upsert of new rows >= 80% of raw COPY", share >= 0.8)
    print(f"target (PostgreSQL upsert of new rows >= 80% of raw COPY speed): {verdict}")
    targets.finish()


if __name__ == "__main__":
    main()
