from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.ingest import import_file, validate
from analysis.models import Candle
from analysis.quality import Gap
from analysis.tests.binance_replay import SHARED

pytestmark = pytest.mark.django_db(transaction=True)
H = 3_600_000


def run_check(*args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("check_data", *args, stdout=out, stderr=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_the_shared_history_has_no_gaps():
    for name in ("BTCUSDT_1h", "ETHUSDT_1h", "1000PEPEUSDT_1h", "BTCUSDT_15m"):
        import_file(SHARED / f"binance_futures_{name}.csv.gz")
    output, error = run_check()
    assert error is None, output
    assert output.count(": ok") == 4


def cut(tmp_path, ranges: list[tuple[datetime, int]]):
    """A copy of the BTC 1h history with ``count`` bars removed from each ``start``."""
    doomed = {
        int(start.timestamp() * 1000) + i * H for start, count in ranges for i in range(count)
    }
    with gzip.open(SHARED / "binance_futures_BTCUSDT_1h.csv.gz", "rt") as handle:
        lines = handle.read().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if int(line.split(",")[0]) not in doomed]
    path = tmp_path / "binance_futures_BTCUSDT_1h.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(kept) + "\n")
    return path


CUTS = [
    (datetime(2023, 2, 1, 5, tzinfo=UTC), 1),
    (datetime(2023, 8, 17, 0, tzinfo=UTC), 30),
    (datetime(2024, 3, 10, 23, tzinfo=UTC), 3),
]


def test_finds_exactly_the_gaps_cut_into_a_copy(tmp_path):
    import_file(cut(tmp_path, CUTS))
    report = validate("BTCUSDT", "1h")
    assert report.gaps == [
        Gap(start, datetime.fromtimestamp(start.timestamp() + (n - 1) * 3600, UTC), n)
        for start, n in CUTS
    ]
    assert report.missing == 34 and not report.problems
    output, error = run_check("--symbols", "BTCUSDT")
    assert error is not None and "3 gaps" in output
    assert "gap 2023-08-17 00:00 .. 2023-08-18 05:00 (30 missing)" in output


def test_repair_refetches_the_missing_windows(tmp_path, binance):
    import_file(cut(tmp_path, CUTS))
    output, error = run_check("--repair")
    assert error is None, output
    assert "refetched 34 missing candles" in output
    assert Candle.objects.count() == 11991
    windows = [
        (int(q["startTime"]), int(q["endTime"]))
        for _, p, q in binance.requests
        if p.endswith("klines")
    ]
    assert windows == [
        (int(s.timestamp() * 1000), int(s.timestamp() * 1000) + (n - 1) * H) for s, n in CUTS
    ]


def test_stored_rows_that_break_ohlc_rules_are_reported():
    import_file(SHARED / "binance_futures_ETHUSDT_1h.csv.gz")
    Candle.objects.filter(open_time=datetime(2023, 3, 1, tzinfo=UTC)).update(high=1.0)
    output, error = run_check()
    assert error is not None
    assert "2023-03-01 00:00: ohlc: high is below open or close" in output


def test_unknown_symbol_is_a_clear_error():
    import_file(SHARED / "binance_futures_ETHUSDT_1h.csv.gz")
    with pytest.raises(CommandError, match="no stored candles for NOPEUSDT"):
        call_command("check_data", "--symbols", "NOPEUSDT", stdout=io.StringIO())
