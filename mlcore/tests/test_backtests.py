"""The backtest product: command, stored run, summary report, API and page, bad input."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from ninja.testing import TestClient

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from mlcore.models import BacktestRun
from tradingai.api import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    import_file(SHARED / "binance_futures_BTCUSDT_funding.csv.gz")
    return tmp_path


def backtest(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", *args, "--random-runs", "20", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_stores_a_run_and_writes_the_summary(stored):
    output = backtest("--symbols", "BTCUSDT", "--from", "2023-03-01", "--to", "2023-09-01")
    run = BacktestRun.objects.get()
    assert run.strategy == "momentum" and run.params["bars"] == 184 * 24
    assert set(run.baselines) == {"buy_and_hold", "flat", "momentum"}
    assert 0 <= run.comparison["sharpe_percentile"] <= 100
    assert len(run.curve) <= 2000 and run.trades[0]["reason"] in {"signal", "end", "liquidation"}
    summary = json.loads((stored / "reports" / "backtest_summary.json").read_text())
    assert summary[0]["id"] == run.id and summary[0]["metrics"]["trades"] == run.metrics["trades"]
    assert f"#{run.id} momentum on BTCUSDT" in output


def test_positions_file_plugs_into_the_same_engine(stored):
    positions = stored / "positions.csv"
    positions.write_text("open_time,target\n2023-03-02,1\n2023-04-01,-0.5\n2023-05-01,0\n")
    backtest(
        "--symbols",
        "BTCUSDT",
        "--from",
        "2023-03-01",
        "--to",
        "2023-06-01",
        "--positions",
        str(positions),
    )
    run = BacktestRun.objects.get()
    assert run.strategy == "positions:positions.csv"
    assert [t["side"] for t in run.trades] == ["long", "short"]
    assert run.trades[0]["entry_time"].startswith("2023-03-02T01:00")  # next open after the signal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--symbols", "NOPEUSDT", "--from", "2023-03-01", "--to", "2023-04-01"],
            "no 1h candles stored for NOPEUSDT",
        ),
        (
            ["--symbols", "BTCUSDT", "--from", "2021-01-01", "--to", "2021-02-01"],
            "no 1h candles for BTCUSDT between",
        ),
        (
            ["--symbols", "BTCUSDT", "--from", "2024-05-01", "--to", "2024-06-01"],
            "none after 2024-05-14 00:00",
        ),
        (
            [
                "--symbols",
                "BTCUSDT",
                "--from",
                "2023-03-01",
                "--to",
                "2023-04-01",
                "--strategy",
                "astrology",
            ],
            "unknown strategy 'astrology'",
        ),
    ],
)
def test_bad_input_is_a_clear_error(stored, args, message):
    with pytest.raises(CommandError, match=message):
        backtest(*args)
    assert not BacktestRun.objects.exists()


MARCH = ("--symbols", "BTCUSDT", "--from", "2023-03-01", "--to", "2023-04-01")


def test_positions_beyond_the_leverage_are_refused(stored):
    positions = stored / "positions.csv"
    positions.write_text("open_time,target\n2023-03-02,3\n")
    with pytest.raises(CommandError, match=r"exposure 3\.00x exceeds leverage 1\.0x"):
        backtest(*MARCH, "--positions", str(positions))
    positions.write_text("open_time,target\n2023-03-02,lots\n")
    with pytest.raises(CommandError, match=r"positions\.csv:2: target is not a number"):
        backtest(*MARCH, "--positions", str(positions))


def test_missing_funding_is_refused_unless_allowed(stored):
    from analysis.models import FundingRate

    FundingRate.objects.filter(funding_time__month=4, funding_time__year=2023).delete()
    with pytest.raises(CommandError, match="none between 2023-03-31 16:00 and 2023-05-01 00:00"):
        backtest("--symbols", "BTCUSDT", "--from", "2023-03-01", "--to", "2023-06-01")
    backtest(
        "--symbols",
        "BTCUSDT",
        "--from",
        "2023-03-01",
        "--to",
        "2023-06-01",
        "--allow-missing-funding",
    )
    assert BacktestRun.objects.count() == 1


def test_api_and_page(stored, signed_in):
    backtest("--symbols", "BTCUSDT", "--from", "2023-03-01", "--to", "2023-09-01")
    run = BacktestRun.objects.get()
    body = TestClient(api).get(f"/backtests/{run.id}").json()
    assert body["success"] and body["data"]["metrics"] == run.metrics
    assert body["data"]["baselines"]["buy_and_hold"]["trades"] == 1
    missing = TestClient(api).get("/backtests/999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    listing = TestClient(api).get("/backtests/").json()["data"]
    assert [r["id"] for r in listing] == [run.id] and "curve" not in listing[0]

    assert Client().get(f"/backtests/{run.id}/").status_code == 302  # sign in first
    page = signed_in.get(f"/backtests/{run.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and "buy_and_hold" in html and 'id="curve-data"' in html
    partial = signed_in.get(f"/backtests/{run.id}/?page=2", headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<div id="trades">')
    assert "<html" not in partial.content.decode()
    assert signed_in.get("/backtests/").status_code == 200
