"""QA gate 1: validate stored candle series and report problems and gaps.

1. For each series (all stored ones, or --symbols/--interval), check OHLC sanity, alignment,
   order, duplicates and gaps.
2. With --repair, refetch every gap's window from Binance and check again.
3. Exit non-zero if any problem or gap remains.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis.cli import symbol_list
from analysis.exchange import ExchangeError
from analysis.ingest import repair_gaps, stored_series, validate
from analysis.quality import QualityReport

SHOWN = 20  # per kind, so a badly broken series still gives a readable report


class Command(BaseCommand):
    help = "Validate stored candles (OHLC, order, duplicates, gaps); --repair refetches gaps."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, default=None)
        parser.add_argument("--interval", default=None)
        parser.add_argument("--repair", action="store_true", help="refetch missing windows")

    def handle(self, *args, symbols, interval, repair, **options):
        series = [
            (s, i)
            for s, i in stored_series()
            if (not symbols or s in symbols) and (not interval or i == interval)
        ]
        for symbol in symbols or []:
            if not any(s == symbol for s, _ in series):
                raise CommandError(
                    f"no stored candles for {symbol}{' ' + interval if interval else ''}"
                )
        if not series:
            raise CommandError("no candles stored yet")
        failing = 0
        for symbol, name in series:
            report = validate(symbol, name)
            if repair and report.gaps:
                try:
                    repaired = repair_gaps(symbol, name)
                except ExchangeError as exc:
                    self.stderr.write(self.style.ERROR(f"repair failed: {exc}"))
                else:
                    fetched = sum(r.stored.inserted for r in repaired.fetched)
                    self.stdout.write(f"{symbol} {name}: refetched {fetched} missing candles")
                    report = repaired.report or report
            self.print_report(report)
            failing += not report.ok
        if failing:
            raise CommandError(f"{failing} of {len(series)} series have problems or gaps")

    def print_report(self, report: QualityReport) -> None:
        head = f"{report.symbol} {report.interval}: {report.candles} candles"
        if report.first:
            head += f", {report.first:%Y-%m-%d %H:%M} .. {report.last:%Y-%m-%d %H:%M} UTC"
        style = self.style.SUCCESS if report.ok else self.style.ERROR
        verdict = "ok" if report.ok else f"{len(report.problems)} bad rows, {len(report.gaps)} gaps"
        self.stdout.write(style(f"{head}: {verdict}"))
        for gap in report.gaps[:SHOWN]:
            self.stdout.write(f"  gap {gap}")
        for problem in report.problems[:SHOWN]:
            self.stdout.write(f"  bad row {problem}")
        hidden = max(0, len(report.gaps) - SHOWN) + max(0, len(report.problems) - SHOWN)
        if hidden:
            self.stdout.write(f"  ... and {hidden} more")
