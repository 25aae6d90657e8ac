"""Fit the risk model of an interval on the stored bars (``mlcore.training.risk``): volatility
forecasts, ranges and first-touch calibrators per horizon. With ``--holdout-from`` it fits on
the bars before that date only and prints the out-of-time evaluation of the rest, beside EWMA
and HAR-RV on the same rows (written to ``var/reports/risk_<interval>.json``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis import universe
from analysis.cli import parse_when, symbol_list
from mlcore.training.risk import RiskError, describe, train_risk


class Command(BaseCommand):
    help = "Fit the risk model (volatility, ranges, first-touch odds) on the stored bars."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, default=None)
        parser.add_argument("--interval", default=None)
        parser.add_argument("--until", type=parse_when, default=None)
        parser.add_argument(
            "--holdout-from",
            type=parse_when,
            default=None,
            help="fit on the bars before this date; evaluate on the rest, out of time",
        )

    def handle(self, *args, **o):
        interval = o["interval"] or universe.intervals()[0]
        try:
            fit = train_risk(
                interval,
                o["symbols"] or universe.symbols(),
                until=o["until"],
                holdout_from=o["holdout_from"],
                progress=lambda line: self.stdout.write(line),
            )
        except RiskError as exc:
            raise CommandError(str(exc)) from exc
        record = fit.record
        for symbol, why in fit.left_out.items():
            self.stderr.write(f"left out {symbol}: {why}")
        self.stdout.write(f"recorded {record.version} on {len(record.symbols)} symbols")
        for key, figures in record.report.items():
            if key.isdigit():
                self.stdout.write(describe(int(key), figures))
