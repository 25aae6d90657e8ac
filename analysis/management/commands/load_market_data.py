"""Load market data for the configured universe, from Binance when reachable, else from files.

1. Ask Binance for its server time (one quick try).
2. Reachable: fetch TRADINGAI_HISTORY_DAYS of closed candles and funding for every symbol.
3. Unreachable: import every dump file in TRADINGAI_DATA_DIR and in its folders one level down
   (the shared data's research universe lives in ``universe/``) instead, and say so.
Both are idempotent: running this again changes nothing that is already stored.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from analysis.exchange import ExchangeError, get_exchange
from analysis.ingest import dump_files


class Command(BaseCommand):
    help = "Fetch recent history from Binance, or import the dump files in TRADINGAI_DATA_DIR."

    def handle(self, *args, **options):
        try:
            get_exchange(max_retries=0, timeout=5).server_time()
        except ExchangeError as exc:
            self.stdout.write(f"Binance is not reachable ({exc}).")
        else:
            self.stdout.write(
                f"Binance is reachable: fetching {settings.HISTORY_DAYS} days of history."
            )
            call_command("fetch_klines", stdout=self.stdout, stderr=self.stderr)
            return
        if not settings.DATA_DIR:
            raise CommandError(
                "no market data source: Binance is unreachable and TRADINGAI_DATA_DIR is not set"
            )
        self.stdout.write(
            f"Importing the dump files in {settings.DATA_DIR} instead (history, not live data)."
        )
        top = Path(settings.DATA_DIR)
        folders = [top, *sorted(p for p in top.iterdir() if p.is_dir() and dump_files([p]))]
        call_command("import_klines", *map(str, folders), stdout=self.stdout, stderr=self.stderr)
