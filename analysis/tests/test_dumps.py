from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.dumps import DumpFormatError, read_dump
from analysis.ingest import import_file
from analysis.models import Candle, FundingRate
from analysis.tests.binance_replay import SHARED

pytestmark = pytest.mark.django_db(transaction=True)

BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)
ROWS = (
    "1704067200000,42314.0,42700.0,42289.6,42651.3,6186.441,1704070799999,263190524.42,61349,3384.812,144008440.01,0\n"
    "1704070800000,42651.3,42783.0,42555.1,42590.9,4437.227,1704074399999,189357223.53,47260,2031.221,86686218.57,0\n"
    "1704074400000,42590.9,42640.0,42368.3,42471.5,3553.079,1704077999999,150962116.86,39818,1583.957,67306213.32,0\n"
)


def write_zip(path: Path, member: str, text: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, text)
    return path


@pytest.mark.parametrize("header", [True, False])
def test_binance_monthly_zip_with_or_without_header(tmp_path, header):
    text = (BINANCE_HEADER if header else "") + ROWS
    path = write_zip(tmp_path / "BTCUSDT-1h-2024-01.zip", "BTCUSDT-1h-2024-01.csv", text)
    result = import_file(path)
    assert (result.symbol, result.interval, result.stored.inserted) == ("BTCUSDT", "1h", 3)
    candle = Candle.objects.series("BTCUSDT", "1h").first()
    assert candle.close == 42651.3 and candle.trades == 61349
    assert candle.taker_buy_quote == 144008440.01 and candle.quote_volume == 263190524.42


def test_daily_csv_and_microsecond_times(tmp_path):
    micro = "\n".join(
        ",".join([str(int(f[0]) * 1000), *f[1:6], str(int(f[6]) * 1000), *f[7:]])
        for f in (line.split(",") for line in ROWS.splitlines())
    )
    (tmp_path / "ETHUSDT-1h-2024-01-01.csv").write_text(micro + "\n")
    import_file(tmp_path / "ETHUSDT-1h-2024-01-01.csv")
    first = Candle.objects.series("ETHUSDT", "1h").first()
    assert first.open_time.isoformat() == "2024-01-01T00:00:00+00:00"


def test_binance_funding_dump(tmp_path):
    text = (
        "calc_time,funding_interval_hours,last_funding_rate\n"
        "1704067200000,8,0.00037409\n1704096000000,8,0.00032015\n"
    )
    path = write_zip(
        tmp_path / "BTCUSDT-fundingRate-2024-01.zip", "BTCUSDT-fundingRate-2024-01.csv", text
    )
    result = import_file(path)
    assert result.stored.inserted == 2
    assert FundingRate.objects.filter(symbol="BTCUSDT", mark_price__isnull=True).count() == 2


def test_shared_files_import_whole_and_again_changes_nothing():
    first = import_file(SHARED / "binance_futures_ETHUSDT_1h.csv.gz")
    again = import_file(SHARED / "binance_futures_ETHUSDT_1h.csv.gz")
    assert first.stored.inserted == 11991
    assert (again.stored.inserted, again.stored.updated) == (0, 0)
    assert Candle.objects.count() == 11991
    # Columns the shared files lack stay NULL, never zero.
    assert not Candle.objects.filter(trades__isnull=False).exists()


def test_a_changed_row_is_updated_in_place(tmp_path):
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text(ROWS)
    import_file(path)
    path.write_text(ROWS.replace("42651.3,6186.441", "42651.3,6190.000"))
    result = import_file(path)
    assert (result.stored.inserted, result.stored.updated, result.stored.unchanged) == (0, 1, 2)
    assert Candle.objects.count() == 3


def gz_with(tmp_path: Path, name: str, mutate) -> Path:
    with gzip.open(SHARED / "binance_futures_BTCUSDT_1h.csv.gz", "rt") as handle:
        lines = handle.read().splitlines()
    lines = mutate(lines)
    path = tmp_path / name
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("mutate", "line", "message"),
    [
        (
            lambda ls: [*ls[:9000], ls[9000].replace(",", ",x", 1), *ls[9001:]],
            9001,
            "open is not a number",
        ),
        (lambda ls: [*ls[:500], ls[500] + ",1,2,3,4,5,6,7", *ls[501:]], 501, "malformed CSV"),
        (lambda ls: [*ls[:11990], "1715695200000,1,2", *ls[11991:]], 11991, "low is not a number"),
        (
            lambda ls: [*ls[:42], "1672678800000,100.0,90.0,95.0,99.0,1.0", *ls[43:]],
            43,
            "high is below",
        ),
        (lambda ls: [*ls[:7], ls[6], *ls[8:]], 8, "repeats the previous row"),
    ],
)
def test_a_malformed_file_is_refused_with_its_line_and_nothing_lands(
    tmp_path, mutate, line, message
):
    path = gz_with(tmp_path, "binance_futures_BTCUSDT_1h.csv.gz", mutate)
    with pytest.raises(DumpFormatError, match=message) as err:
        import_file(path)
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}:")
    assert Candle.objects.count() == 0


def test_unreadable_and_unnamed_files_are_refused(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(DumpFormatError, match="cannot tell symbol"):
        read_dump(tmp_path / "broken.zip")
    (tmp_path / "BTCUSDT-1h-2024-01.zip").write_bytes(b"not a zip")
    with pytest.raises(DumpFormatError, match="cannot read file"):
        read_dump(tmp_path / "BTCUSDT-1h-2024-01.zip")
    (tmp_path / "BTCUSDT-1h-2024-02.csv").write_text("")
    with pytest.raises(DumpFormatError, match="empty"):
        read_dump(tmp_path / "BTCUSDT-1h-2024-02.csv")


def test_import_command_refuses_bad_files_and_keeps_good_ones(tmp_path):
    (tmp_path / "BTCUSDT-1h-2024-01.csv").write_text(ROWS)
    (tmp_path / "ETHUSDT-1h-2024-01.csv").write_text(
        ROWS.replace("42590.9,42640.0", "oops,42640.0")
    )
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command("import_klines", str(tmp_path), stdout=out, stderr=err)
    assert "ETHUSDT-1h-2024-01.csv:3: open is not a number" in err.getvalue()
    assert set(Candle.objects.values_list("symbol", flat=True).distinct()) == {"BTCUSDT"}


def test_several_imports_in_one_outer_transaction(tmp_path):
    from django.db import transaction

    (tmp_path / "BTCUSDT-1h-2024-01.csv").write_text(ROWS)
    (tmp_path / "ETHUSDT-1h-2024-01.csv").write_text(ROWS)
    with transaction.atomic():
        import_file(tmp_path / "BTCUSDT-1h-2024-01.csv")
        import_file(tmp_path / "ETHUSDT-1h-2024-01.csv")
    assert Candle.objects.count() == 6
