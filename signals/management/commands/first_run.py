"""Make a fresh installation show what the product does: graded, explained signals.

1. For every series with enough stored candles and no champion (or one whose files an older
   model format wrote, which this code refuses), train a model with --quick --force: it is
   marked quick and forced on every page, since it has earned nothing.
2. Replay the last --days of each series with a champion through the live path, so the
   dashboard opens on signals (and on the refusals the data calls for).
Idempotent: models and signals that exist are kept; a second run does nothing new.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

from analysis import universe
from analysis.models import Candle
from mlcore import artifacts
from mlcore.models import ModelVersion, RiskModel
from mlcore.training.risk import train_risk
from signals.models import Signal
from signals.replay import replay

MIN_CANDLES = 4000  # below this the walk-forward has too few rows (a young listing)


def usable(champion: ModelVersion | None) -> bool:
    """A champion this code can load: one written by an older model format (after an upgrade)
    would refuse every bar, so it counts as missing and a quick model replaces it."""
    if champion is None:
        return False
    try:
        artifacts.read_manifest(Path(champion.artifact_path))
    except artifacts.ArtifactError:
        return False
    return True


class Command(BaseCommand):
    help = "Quick-train missing models and replay recent history, for a first look."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=14)

    def handle(self, *args, **o):
        intervals = universe.intervals()
        series = [
            (row["symbol"], row["interval"])
            for row in Candle.objects.coverage()
            if row["interval"] in intervals and row["candles"] >= MIN_CANDLES
        ]
        if not series:
            self.stdout.write("No series with enough candles: load market data first.")
            return
        missing = sorted({s for s, i in series if not usable(ModelVersion.objects.champion(s, i))})
        for interval in sorted({i for _, i in series}):
            symbols = [s for s in missing if (s, interval) in series]
            if symbols:
                self.stdout.write(f"Training quick models (marked forced) for {', '.join(symbols)}")
                call_command(
                    "train_all",
                    "--symbols",
                    ",".join(symbols),
                    "--interval",
                    interval,
                    "--quick",
                    "--force",
                    stdout=self.stdout,
                    stderr=self.stderr,
                )
        for interval in sorted({i for _, i in series}):
            if RiskModel.current(interval) is None:
                symbols = [s for s, i in series if i == interval]
                self.stdout.write(f"Fitting the {interval} risk model on {', '.join(symbols)}")
                train_risk(interval, symbols)
        for symbol, interval in series:
            last = Candle.objects.last_open_time(symbol, interval)
            start = last - timedelta(days=o["days"])
            if Signal.objects.filter(
                symbol=symbol, interval=interval, open_time__gte=start
            ).exists():
                continue
            sent = replay([symbol], interval, start, last + timedelta(seconds=1))
            count = Signal.objects.filter(symbol=symbol, interval=interval).count()
            self.stdout.write(f"Replayed {sent} bars of {symbol} {interval}: {count} signals")
