"""The journal: PnL and excursions by hand, on stored candles, bad input refused with nothing
stored, followed/overrode, the performance figures, the CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from analysis.ingest import import_file
from analysis.models import Candle
from analysis.tests.binance_replay import SHARED
from journal.models import Trade
from journal.outcome import outcome
from journal.performance import performance
from signals.tests.factories import signal_row

H13 = datetime(2024, 5, 13, tzinfo=UTC)


def test_pnl_and_excursions_by_hand():
    highs, lows = np.array([105.0, 112.0]), np.array([98.0, 101.0])
    long = outcome(1, 100.0, 110.0, 2.0, 5.0, fees=1.0, funding=0.5, highs=highs, lows=lows)
    assert long.pnl == pytest.approx(20 - 1.5)
    assert long.return_on_margin == pytest.approx(18.5 / (100 * 2 / 5))
    assert (long.mfe, long.mae, long.mfe_pct, long.mae_pct) == (12.0, 2.0, 0.12, 0.02)
    short = outcome(-1, 100.0, 110.0, 2.0, 1.0, fees=1.0, funding=-0.5, highs=highs, lows=lows)
    assert short.pnl == pytest.approx(-20 - 0.5)  # funding received reduces the cost
    assert (short.mfe, short.mae) == (2.0, 12.0)
    still_open = outcome(1, 100.0, None, 1.0, 1.0, 0.0, 0.0, highs, lows)
    assert still_open.pnl is None and still_open.mfe == 12.0


@pytest.fixture
def btc(db):
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")


def journal(*args: str) -> str:
    out = io.StringIO()
    call_command("journal", *args, stdout=out)
    return out.getvalue()


def test_add_computes_from_the_stored_candles(btc):
    out = journal(
        "add",
        "--action",
        "executed",
        "--ticker",
        "btcusdt",
        "--side",
        "long",
        "--entry",
        "62000",
        "--exit",
        "62500",
        "--qty",
        "0.1",
        "--fees",
        "6.2",
        "--entry-time",
        "2024-05-13T07:30",
        "--exit-time",
        "2024-05-13T10:30",
    )
    trade = Trade.objects.get()
    assert trade.pnl == pytest.approx(50 - 6.2) and "PnL +43.80 USDT" in out
    held = Candle.objects.filter(
        symbol="BTCUSDT", open_time__gte=H13.replace(hour=7), open_time__lte=H13.replace(hour=10)
    )
    high = max(c.high for c in held)
    low = min(c.low for c in held)
    assert trade.mfe == pytest.approx(max(high - 62000, 0))
    assert trade.mae == pytest.approx(max(62000 - low, 0))
    assert trade.followed_signal is None and trade.grade == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ticker", "NOPEUSDT"], "--ticker: no market data stored for NOPEUSDT"),
        (["--qty", "-1"], "--qty: must be a positive number"),
        (["--exit-time", "2024-05-12T00:00"], "--exit-time: the exit must come after the entry"),
        (["--signal", "999"], "--signal: no signal #999"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(btc, args, message):
    base = {
        "--action": "executed",
        "--ticker": "BTCUSDT",
        "--side": "short",
        "--entry": "62000",
        "--exit": "61000",
        "--qty": "0.1",
        "--entry-time": "2024-05-13T00:00",
        "--exit-time": "2024-05-13T05:00",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError, match=message):
        journal("add", *[x for pair in base.items() for x in pair])
    assert not Trade.objects.exists()


def test_followed_overrode_and_performance(btc):
    signal = signal_row(open_time=H13)
    common = {
        "ticker": "BTCUSDT",
        "entry_time": H13,
        "exit_time": H13.replace(hour=5),
        "quantity": 1.0,
    }
    Trade.objects.create(
        action="executed", side="long", signal=signal, entry_price=100, exit_price=110, **common
    )
    Trade.objects.create(
        action="executed", side="short", signal=signal, entry_price=100, exit_price=104, **common
    )
    Trade.objects.create(
        action="skipped", side="long", signal=signal, entry_price=100, exit_price=90, **common
    )
    Trade.objects.create(action="executed", side="long", entry_price=100, exit_price=95, **common)
    figures = json.loads(journal("performance"))
    overall = figures["overall"]
    assert (overall["trades"], overall["wins"], overall["total_pnl"]) == (3, 1, 10 - 4 - 5)
    assert overall["profit_factor"] == pytest.approx(10 / 9)
    assert figures["followed_vs_overrode"]["followed"]["total_pnl"] == 10
    assert figures["followed_vs_overrode"]["overrode"]["total_pnl"] == -4
    assert figures["by_grade"]["B"]["trades"] == 2
    assert figures["by_action"]["skipped"]["total_pnl"] == -10
    # The long signal was right on the first two trades' moves, wrong on the skipped one.
    assert figures["prediction_hit_rate"]["B"] == {"trades": 3, "hit_rate": pytest.approx(2 / 3)}
    assert [round(p, 6) for _, p in figures["equity_curve"]] == [10, 6, 1]


def test_the_admin_exports_csv(btc):
    Trade.objects.create(
        action="executed",
        side="long",
        ticker="BTCUSDT",
        entry_time=H13,
        exit_time=H13.replace(hour=2),
        entry_price=100,
        exit_price=101,
        quantity=2,
    )
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "b@x.y", "x" * 12))
    response = client.post(
        "/admin/journal/trade/",
        {"action": "export_csv", "_selected_action": [Trade.objects.get().pk]},
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["id", "entry_time", "exit_time", "ticker"]
    assert rows[1][rows[0].index("pnl")] == "2.0"


# A closed long the dashboard's form records (the date picker sends no zone: UTC).
FORM = {
    "ticker": "BTCUSDT",
    "action": "executed",
    "side": "long",
    "entry_time": "2024-05-13T07:30",
    "entry_price": "62000",
    "exit_time": "2024-05-13T10:30",
    "exit_price": "62500",
    "quantity": "0.1",
    "leverage": "1",
    "fees": "0",
    "funding": "0",
    "notes": "",
}


def test_the_journal_page_records_and_shows(btc):
    client = Client()
    assert client.get("/journal/").status_code == 302  # sign in first
    client.force_login(User.objects.create_user("t", password="x" * 12))
    assert client.post("/journal/", FORM).status_code == 302
    page = client.get("/journal/").content.decode()
    assert "Recorded #" in page and "PnL +50.00 USDT" in page and "journal-equity" in page
    assert "Entry time (UTC)" in page  # the date picker sends no zone: the form says which
    assert Trade.objects.get().entry_time.isoformat() == "2024-05-13T07:30:00+00:00"
    bad = client.post("/journal/", FORM | {"quantity": "-1"}).content.decode()
    assert "must be a positive number" in bad and Trade.objects.count() == 1


def test_the_csv_export_never_hands_a_spreadsheet_a_formula():
    from journal.admin import spreadsheet_safe

    for formula in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"):
        assert spreadsheet_safe(formula) == "'" + formula
    assert spreadsheet_safe("bought the dip") == "bought the dip"
    assert spreadsheet_safe(-2.5) == -2.5  # a number stays a number


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("entry_time", "0001-01-01T00:00", "between 2000 and 2100"),
        ("exit_time", "9999-12-31T23:59", "between 2000 and 2100"),
        ("quantity", "1e300", "at most 1e+12"),
        ("fees", "-1e300", "between -1e+12 and 1e+12"),
    ],
)
def test_the_journal_page_refuses_times_and_sizes_a_trade_cannot_have(btc, field, value, message):
    """The dashboard's form: a year-1 date once overflowed the excursion window into a 500."""
    client = Client()
    client.force_login(User.objects.create_user("t", password="x" * 12))
    answer = client.post("/journal/", FORM | {field: value})
    assert answer.status_code == 200 and message in answer.content.decode()
    assert not Trade.objects.exists()


def test_a_skipped_signal_is_recorded_with_its_reason_alone(btc):
    """A skipped or missed entry needs no side, prices or quantity: it records the signal (its
    side taken from it) and the reason; the entry time is now; nothing is priced."""
    signal = signal_row(open_time=H13, direction="short", grade="A")
    out = journal(
        "add", "--action", "skipped", "--ticker", "BTC-USD", "--signal", str(signal.pk),
        "--notes", "news risk",
    )  # fmt: skip
    trade = Trade.objects.get()
    assert out.startswith(f"#{trade.pk} skipped short BTCUSDT")
    assert (trade.ticker, trade.side, trade.grade, trade.notes) == (
        "BTCUSDT",
        "short",
        "A",
        "news risk",
    )
    assert trade.followed_signal is True and trade.pnl is None and trade.entry_price is None
    assert abs((datetime.now(UTC) - trade.entry_time).total_seconds()) < 60
    assert performance(Trade.objects.select_related("signal"))["by_action"] == {}
    with pytest.raises(CommandError, match="--side: an executed trade needs its side"):
        journal("add", "--action", "executed", "--ticker", "BTCUSDT", "--entry", "1", "--qty", "1")
    with pytest.raises(CommandError, match="--entry: must be a positive number"):
        journal(
            "add", "--action", "executed", "--ticker", "BTCUSDT", "--side", "long", "--qty", "1"
        )
    assert Trade.objects.count() == 1


def test_an_ideas_odds_are_kept_and_compared_with_what_the_candles_touched_first(db):
    """A trade journaled with the idea as checked (levels, horizon, odds shown): the stored
    candles say which level came first (a bar touching both counts as the stop), and the
    performance compares the odds with what happened. Levels on the wrong side are refused."""
    import json
    from datetime import UTC, datetime

    from django.test import Client

    from analysis.ingest import import_file
    from analysis.models import Candle
    from analysis.tests.binance_replay import SHARED
    from journal.models import Trade

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    entry_time = datetime(2024, 5, 1, 1, tzinfo=UTC)  # at a bar's open: it is the first read
    first = Candle.objects.get(symbol="BTCUSDT", interval="1h", open_time=entry_time)
    entry = first.open
    body = {"ticker": "BTCUSDT", "action": "executed", "side": "long", "quantity": 0.1,
            "entry_time": entry_time.isoformat(), "entry_price": entry,
            "stop_price": first.low * 0.999999, "target_price": first.high * 10,
            "horizon_hours": 4, "odds": {"target": 0.2, "stop": 0.5, "neither": 0.3}}  # fmt: skip
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("trader", password="x" * 12))

    def post(**changes):
        data = json.dumps(body | changes)
        return client.post("/api/trades", data, content_type="application/json")

    # The stop sits just under the first bar's low... and nothing touches a target 10x up.
    made = post()
    assert made.status_code == 201, made.content
    trade = Trade.objects.get(pk=made.json()["data"]["id"])
    assert trade.touched in {"stop", "neither"} and trade.odds["stop"] == 0.5
    # A stop and a target both inside the first bar's range: both touched, so the stop.
    both = post(stop_price=first.low * 1.000001, target_price=first.high * 0.999999,
                entry_price=(first.low + first.high) / 2)  # fmt: skip
    assert both.status_code == 201, both.content
    assert both.json()["data"]["touched"] == "stop"
    wrong = post(stop_price=entry * 1.01)
    assert wrong.status_code == 422 and "stop_price" in wrong.content.decode()
    bad_odds = post(odds={"target": 0.9, "stop": 0.9, "neither": 0.1})
    assert bad_odds.status_code == 422 and "odds" in bad_odds.content.decode()
    figures = client.get("/api/trades/performance").json()["data"]
    assert figures["odds"]["trades"] == 2 and figures["odds"]["happened"]["stop"] >= 0.5
