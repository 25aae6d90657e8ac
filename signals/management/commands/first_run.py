"""Make a fresh installation show what the product does, with a record to judge it by.

Per configured interval, over every stored series with enough candles:
1. The replay's end: each series' last complete bar (``freshness.last_complete_bar``: its
   candle stored and its funding settled on schedule), so no series opens on a refusal the
   dump files alone call for (a funding file that ends before its candles).
2. The universe model, quick and forced (marked so on every page: it has earned nothing),
   trained on the bars before the replay, so that every replayed call is out of sample; the
   risk model likewise. A per-symbol model is not trained here (``train_all`` does it): the
   universe model serves every symbol, those it never trained on too.
3. A short ``simulate`` (``--simulate-days``, the models retrained every 30 days, quick and
   forced) over the months before the replay: the Track record page opens on the calls the
   product would have made and what came of them.
4. The last ``--days`` replayed through the live path, each bar's series in one event as a
   fetch sends them.
Idempotent: what exists is kept (a champion this code cannot load is replaced); a second run
does nothing new.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

from analysis import universe
from analysis.freshness import last_complete_bar
from analysis.models import Candle
from mlcore import artifacts
from mlcore.models import ModelVersion, RiskModel
from mlcore.pipeline.universe.final_model import UNIVERSE
from mlcore.training.risk import train_risk
from signals.models import Signal, Simulation
from signals.replay import replay
from signals.simulation import SimulationError, SimulationRequest, simulate

MIN_CANDLES = 4000  # below this a series adds too few rows to train on (a young listing)
SIMULATION = "first-run-{interval}"


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
    help = "Quick-train the universe model, simulate its recent track record, replay the end."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=2, help="days replayed live")
        parser.add_argument("--simulate-days", type=int, default=60,
                            help="days of track record before the replay (0: none)")  # fmt: skip

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
        for interval in sorted({i for _, i in series}):
            symbols = sorted(s for s, i in series if i == interval)
            ends = {s: last_complete_bar(s, interval) for s in symbols}
            end = max(t for t in ends.values() if t is not None)
            start = end - timedelta(days=o["days"])
            self.universe_model(symbols, interval, start)
            if o["simulate_days"] > 0:
                self.track_record(ends, interval, start, o["simulate_days"])
            self.replay(ends, interval, start)

    def universe_model(self, symbols: list[str], interval: str, until: datetime) -> None:
        if usable(ModelVersion.objects.champion(UNIVERSE, interval)):
            return
        self.stdout.write(
            f"Training the quick universe model (marked forced) on {len(symbols)} symbols, "
            f"{interval} bars before {until:%Y-%m-%d %H:%M}"
        )
        call_command(
            "train_all", "--pooled", "--quick", "--force", "--symbols", ",".join(symbols),
            "--interval", interval, "--until", until.isoformat(),
            stdout=self.stdout, stderr=self.stderr,
        )  # fmt: skip
        if RiskModel.current(interval) is None:
            self.stdout.write(f"Fitting the {interval} risk model on the same bars")
            train_risk(interval, symbols, until=until)

    def track_record(
        self, ends: dict[str, datetime | None], interval: str, end: datetime, days: int
    ) -> None:
        name = SIMULATION.format(interval=interval)
        if Simulation.objects.filter(name=name, status=Simulation.Status.DONE).exists():
            return
        start = end - timedelta(days=days)
        symbols = sorted(s for s, last in ends.items() if last is not None and last >= end)
        self.stdout.write(
            f"Simulating the track record {start:%Y-%m-%d} .. {end:%Y-%m-%d} "
            f"(quick models retrained every 30 days; /simulations shows it)"
        )
        tick = time.perf_counter()
        request = SimulationRequest(
            name, tuple(symbols), interval, start, end, timedelta(days=30), quick=True, force=True
        )
        try:
            sim = simulate(request)
        except SimulationError as exc:  # the product still runs; the page says why
            self.stderr.write(f"the track record could not be simulated: {exc}")
            return
        calls = (sim.report.get("calls") or {}).get("all_calls") or {}
        self.stdout.write(
            f"  {calls.get('count', 0):,} calls judged in {time.perf_counter() - tick:.0f} s"
        )

    def replay(self, ends: dict[str, datetime | None], interval: str, start: datetime) -> None:
        ready = [s for s, end in ends.items() if end is not None and end >= start]
        if Signal.objects.filter(
            symbol__in=ready, interval=interval, open_time__gte=start
        ).exists():
            return
        # Each series up to its own last complete bar: bars after it would be refused.
        stop = max(ends[s] for s in ready) + timedelta(seconds=1)
        late = [s for s in ready if ends[s] + timedelta(seconds=1) < stop]
        sent = replay([s for s in ready if s not in late], interval, start, stop)
        for symbol in late:
            sent += replay([symbol], interval, start, ends[symbol] + timedelta(seconds=1))
        count = Signal.objects.filter(interval=interval, open_time__gte=start).count()
        self.stdout.write(f"Replayed {sent} bars of {len(ready)} {interval} series: {count} calls")
