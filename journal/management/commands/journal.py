"""The trade journal from the command line.

    manage.py journal add --action executed --ticker BTCUSDT --side long --entry 45000
        --exit 45500 --qty 0.1 [--entry-time ...] [--exit-time ...] [--leverage 3]
        [--fees 4.5] [--funding 0.8] [--signal ID] [--notes "..."]
    manage.py journal add --action skipped --ticker BTC-USD --signal ID --notes "news risk"
    manage.py journal performance

1. add: the input is checked as the admin checks it (a clear message per field, nothing stored
   when anything is wrong); PnL and MAE/MFE are computed from the stored candles.
2. performance: win rate, PnL, profit factor, by grade, action and followed/overrode, and the
   hit rate of the linked signals' predictions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from analysis.cli import parse_when
from journal.models import Trade
from journal.performance import performance
from signals.models import Signal

# The model's field -> the option it came from, so a message names what to fix.
OPTION = {
    "entry_price": "--entry",
    "exit_price": "--exit",
    "quantity": "--qty",
    "entry_time": "--entry-time",
    "exit_time": "--exit-time",
    "ticker": "--ticker",
    "leverage": "--leverage",
    "signal": "--signal",
    "side": "--side",
    "fees": "--fees",
    "funding": "--funding",
}


class Command(BaseCommand):
    help = "Add a trade to the journal, or show the journal's performance."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="record a trade")
        add.add_argument("--action", choices=Trade.Action.values, required=True)
        add.add_argument("--ticker", required=True)
        # Executed trades need --side, --entry and --qty (the model says so, naming them);
        # a skipped or missed signal is recorded with --signal and --notes saying why.
        add.add_argument("--side", choices=Trade.Side.values, default="")
        add.add_argument("--entry", type=float, default=None, help="entry price")
        add.add_argument("--exit", type=float, default=None, help="exit price (closed trades)")
        add.add_argument("--qty", type=float, default=None)
        add.add_argument("--entry-time", type=parse_when, default=None, help="default: now")
        add.add_argument(
            "--exit-time", type=parse_when, default=None, help="default with --exit: now"
        )
        add.add_argument("--leverage", type=float, default=1.0)
        add.add_argument("--fees", type=float, default=0.0)
        add.add_argument("--funding", type=float, default=0.0)
        add.add_argument("--signal", type=int, default=None, help="the signal's id")
        add.add_argument("--notes", default="")
        sub.add_parser("performance", help="the journal's figures as JSON")

    def handle(self, *args, **o):
        if o["verb"] == "performance":
            trades = Trade.objects.select_related("signal")
            self.stdout.write(json.dumps(performance(trades), indent=2, default=str))
            return
        now = datetime.now(UTC)
        signal = None
        if o["signal"] is not None:
            signal = Signal.objects.filter(pk=o["signal"]).first()
            if signal is None:
                raise CommandError(f"--signal: no signal #{o['signal']}")
        trade = Trade(
            action=o["action"],
            ticker=o["ticker"],  # the model reads BTC-USD as BTCUSDT
            side=o["side"],
            signal=signal,
            entry_price=o["entry"],
            exit_price=o["exit"],
            quantity=o["qty"],
            entry_time=o["entry_time"] or now,
            exit_time=o["exit_time"] or (now if o["exit"] is not None else None),
            leverage=o["leverage"],
            fees=o["fees"],
            funding=o["funding"],
            notes=o["notes"],
        )
        try:
            trade.full_clean()
        except ValidationError as exc:
            problems = "; ".join(
                f"{OPTION.get(k, k)}: {' '.join(v)}" for k, v in exc.message_dict.items()
            )
            raise CommandError(f"not recorded: {problems}") from None
        trade.save()
        pnl = "open" if trade.pnl is None else f"PnL {trade.pnl:+.2f} USDT"
        self.stdout.write(f"#{trade.pk} {trade}: {pnl}; MAE {trade.mae} MFE {trade.mfe}")
