"""Replay stored history through the live path: candle committed -> infer -> push.

1. For each bar of the symbols in [--from, --to), in time order, the candles_stored event
   (what a fetch sends), with --speed simulated seconds per second (default: as fast as it goes).
2. Inference per bar: queued to the Celery workers in production, run in process embedded.
3. A summary: signals stored and bars refused, with the refusal reasons.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis import universe
from analysis.cli import parse_when, progress_bar, symbol_list
from signals.models import NoSignal, Signal
from signals.replay import replay


class Command(BaseCommand):
    help = "Feed stored candles through the live path, bar by bar, so signals appear."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, required=True)
        parser.add_argument("--interval", default=None)
        parser.add_argument("--from", dest="start", type=parse_when, required=True)
        parser.add_argument("--to", dest="end", type=parse_when, required=True)
        parser.add_argument(
            "--speed",
            type=float,
            default=0.0,
            help="simulated seconds per second (3600: a 1h bar a second)",
        )

    def handle(self, *args, **o):
        if o["end"] <= o["start"]:
            raise CommandError("--to must come after --from")
        interval = o["interval"] or universe.intervals()[0]
        before = Signal.objects.count()
        with progress_bar("replaying", "bars") as progress:
            sent = replay(
                o["symbols"], interval, o["start"], o["end"], speed=o["speed"], progress=progress
            )
        if not sent:
            raise CommandError(
                f"no stored {interval} candles of {', '.join(o['symbols'])} in that window"
            )
        self.stdout.write(f"replayed {sent} bars: {Signal.objects.count() - before} new signals")
        for refusal in NoSignal.objects.filter(symbol__in=o["symbols"]):
            self.stdout.write(f"  latest refusal {refusal}")
