"""Import kline and funding-rate dump files (CSV, CSV.gz or ZIP; directories are expanded).

Each file is read whole and checked before anything is stored; a malformed file is refused with
its name and line number and nothing of it is committed. Re-importing changes nothing.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis.dumps import DumpFormatError
from analysis.ingest import dump_files, import_file


class Command(BaseCommand):
    help = "Import Binance kline/funding dump files (monthly/daily CSV or ZIP, or CSV.gz)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="files or directories")
        parser.add_argument("--symbol", help="for files whose name does not say it")
        parser.add_argument("--interval", help="for files whose name does not say it")

    def handle(self, *args, paths, symbol, interval, **options):
        files = dump_files(paths)
        if not files:
            raise CommandError(f"no dump files found in {', '.join(paths)}")
        refused = 0
        for path in tqdm(files, desc="importing", unit="file", file=sys.stderr):
            try:
                result = import_file(path, symbol=symbol, interval=interval)
            except (DumpFormatError, FileNotFoundError, ValueError) as exc:
                refused += 1
                self.stderr.write(self.style.ERROR(f"refused {exc}"))
                continue
            self.stdout.write(str(result))
        if refused:
            raise CommandError(
                f"{refused} of {len(files)} file(s) refused; nothing of them was stored"
            )
