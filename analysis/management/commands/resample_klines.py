"""Build slower candles from stored faster ones (``analysis.resample``): 4h bars for the
universe model from the research universe's 1h dumps, for example. Idempotent."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis.cli import symbol_list
from analysis.models import Candle
from analysis.resample import ResampleError, resample_stored


class Command(BaseCommand):
    help = (
        "Build slower candles (e.g. 4h) from stored faster ones (e.g. 1h), complete buckets only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", dest="target", required=True, help="e.g. 4h")
        parser.add_argument("--from", dest="source", default="1h")
        parser.add_argument(
            "--symbols", type=symbol_list, default=None, help="default: all with source bars"
        )

    def handle(self, *args, target, source, symbols, **options):
        symbols = symbols or sorted(
            {row["symbol"] for row in Candle.objects.coverage() if row["interval"] == source}
        )
        if not symbols:
            raise CommandError(f"no {source} candles stored")
        for symbol in symbols:
            try:
                result = resample_stored(symbol, source, target)
            except ResampleError as exc:
                raise CommandError(f"{symbol}: {exc}") from exc
            self.stdout.write(
                f"{symbol} {target} from {source}: {result.received} bars, {result.inserted} new, "
                f"{result.updated} changed"
            )
