"""The product's own track record: replay stored history through the models it would have had.

1. The simulation named ``--name`` is created (or resumed: the same command after a kill goes
   on from the first window whose calls are not stored; other settings are refused unless
   ``--replace``).
2. Every ``--retrain-every`` from ``--from`` to ``--to`` the universe model (``--pooled``), or
   each symbol's own model, is trained on the rows before that moment (the product's own gates;
   ``--quick`` for the small search), and the model the product would then have served makes
   the window's calls: stored as simulated signals, never shown with live ones.
3. The track record is evaluated and written to ``var/reports/simulation_<name>.json``; the
   /simulations page shows it. Two bars: the windows, and the training in flight.
"""

from __future__ import annotations

import re
import signal
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis import universe
from analysis.cli import parse_when, symbol_list
from mlcore.reports import report_path
from mlcore.training.risk import describe
from signals.simulation import SimulationError, SimulationRequest, simulate

UNITS = {"d": "days", "h": "hours", "w": "weeks"}


def period(value: str) -> timedelta:
    """``30d``, ``12h``, ``2w``."""
    match = re.fullmatch(r"(\d+)([dhw])", value.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"not a period: {value!r} (use 30d, 12h or 2w)")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Replay history through the models the product would have had, retrained on schedule."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, default=None,
                            help="comma-separated; default: TRADINGAI_SYMBOLS")  # fmt: skip
        parser.add_argument("--interval", default=None)
        parser.add_argument("--from", dest="start", type=parse_when, required=True)
        parser.add_argument("--to", dest="end", type=parse_when, required=True)
        parser.add_argument("--retrain-every", type=period, default=timedelta(days=30),
                            help="30d (default), 12h, 2w")  # fmt: skip
        parser.add_argument("--pooled", action="store_true",
                            help="the universe model (default: each symbol's own)")  # fmt: skip
        parser.add_argument("--quick", action="store_true", help="the small training search")
        parser.add_argument("--force", action="store_true",
                            help="serve each new model even past a failed gate (its calls are "
                            "then never actionable)")  # fmt: skip
        parser.add_argument("--name", default=None, help="default: from the settings")
        parser.add_argument("--replace", action="store_true",
                            help="start a simulation of that name over")  # fmt: skip

    def handle(self, *args, **o):
        interval = o["interval"] or universe.intervals()[0]
        symbols = tuple(o["symbols"] or universe.symbols())
        every = o["retrain_every"]
        name = o["name"] or (
            f"{'universe' if o['pooled'] else 'symbols'}-{interval}-{o['start']:%Y%m%d}-"
            f"{o['end']:%Y%m%d}-{int(every.total_seconds() // 3600)}h"
            + ("-quick" if o["quick"] else "")
            + ("-forced" if o["force"] else "")
        )
        request = SimulationRequest(
            name, symbols, interval, o["start"], o["end"], every,
            pooled=o["pooled"], quick=o["quick"], force=o["force"], replace=o["replace"],
        )  # fmt: skip
        signal.signal(signal.SIGTERM, _interrupt)  # a stopped container: resumable, not stuck
        windows = tqdm(total=1, desc="windows", file=sys.stderr, unit="window", position=0)
        training = tqdm(total=1, desc="training", file=sys.stderr, unit="fit", position=1)

        def progress(what: str, done: int, total: int) -> None:
            bar = windows if what == "windows" else training
            if what != "windows":
                training.set_description_str(what, refresh=False)  # one print per poll
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()

        try:
            sim = simulate(request, progress)
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            training.close()
            windows.close()
        self.stdout.write(summary(sim.report))
        self.stdout.write(f"report: {report_path(f'simulation_{sim.name}.json')}")


def summary(report: dict) -> str:
    calls = report.get("calls") or {}
    every = calls.get("all_calls") or {}
    actionable = calls.get("actionable") or {}
    ic = report.get("ic") or {}
    lines = [f"simulation {report['name']}: {len(report['windows'])} windows"]
    for w in report["windows"]:
        symbol = f" {w['symbol']}" if w.get("symbol") else ""
        lines.append(
            f"  {w['start'][:10]}{symbol} served by {w['served_by'] or '(none: abstained)'}"
            f"{' [forced]' if w['forced'] else ''}: {w['calls']} calls, hit rate "
            + (f"{w['hit_rate']:.1%}" if w["hit_rate"] is not None else "-")
        )
    if every.get("count"):
        lines.append(
            f"every call: {every['hit_rate']:.1%} hits net of costs on {every['count']:,} "
            f"({every.get('independent')} independent) "
            f"[{every['hit_rate_low']:.1%}, {every['hit_rate_high']:.1%}]; IC "
            + (f"{ic['ic']:+.4f}" if ic.get("ic") is not None else "-")
            + (f" (p {ic['p_value']:.2g})" if ic.get("p_value") is not None else "")
        )
    lines.append(
        f"actionable: {actionable.get('count', 0):,} calls"
        + (f", {actionable['hit_rate']:.1%} hits" if actionable.get("count") else "")
    )
    risk = report.get("risk") or {}
    if "refused" in risk:
        lines.append(f"risk figures: not judged: {risk['refused']}")
    for key, figures in risk.items():
        if key.isdigit():
            lines.append("risk " + describe(int(key), figures))
    return "\n".join(lines)
