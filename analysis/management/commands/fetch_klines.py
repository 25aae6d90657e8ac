"""Fetch closed candles (and funding rates) from Binance USD-M, incrementally.

1. For each symbol, fetch klines after the last stored candle (or from --since).
2. Then its funding-rate history, likewise (skip with --no-funding).
Each page is stored atomically; an interrupted run keeps what it stored and resumes next time.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis import universe
from analysis.cli import parse_when, progress_bar, symbol_list
from analysis.exchange import ExchangeError, get_exchange
from analysis.ingest import fetch_funding, fetch_klines
from analysis.intervals import interval_ms


class Command(BaseCommand):
    help = "Fetch closed klines and funding rates from Binance USD-M futures."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, default=None, help="BTCUSDT,ETHUSDT")
        parser.add_argument(
            "--interval", default=None, help="e.g. 1h (default: TRADINGAI_INTERVALS)"
        )
        parser.add_argument("--since", type=parse_when, default=None, help="YYYY-MM-DD")
        parser.add_argument("--until", type=parse_when, default=None, help="YYYY-MM-DD")
        parser.add_argument("--no-funding", action="store_true", help="klines only")

    def handle(self, *args, symbols, interval, since, until, no_funding, **options):
        intervals = [interval] if interval else universe.intervals()
        for name in intervals:
            try:
                interval_ms(name)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        exchange = get_exchange()
        failed = []
        for symbol in symbols or universe.symbols():
            for name in intervals:
                try:
                    with progress_bar(f"{symbol} {name}", "candles") as progress:
                        result = fetch_klines(
                            symbol,
                            name,
                            since=since,
                            until=until,
                            exchange=exchange,
                            progress=progress,
                        )
                    self.stdout.write(str(result))
                except ExchangeError as exc:
                    failed.append(str(exc))
                    self.stderr.write(self.style.ERROR(str(exc)))
            if no_funding:
                continue
            try:
                with progress_bar(f"{symbol} funding", "rates") as progress:
                    result = fetch_funding(
                        symbol, since=since, until=until, exchange=exchange, progress=progress
                    )
                self.stdout.write(str(result))
            except ExchangeError as exc:
                failed.append(str(exc))
                self.stderr.write(self.style.ERROR(str(exc)))
        if failed:
            raise CommandError(f"{len(failed)} fetch(es) failed; what was fetched before is kept")
