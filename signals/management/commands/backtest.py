"""Backtest a built-in rule or a positions file on stored candles and funding.

1. For each symbol: load the window, check it (candles present, funding covering it).
2. Simulate with fees, slippage, funding and liquidation; compute metrics and baselines
   (the Monte Carlo random runs show a progress bar).
3. Store a BacktestRun per symbol and write var/reports/backtest_summary.json.

It lives in the signals app because ``--signals`` replays the stored signals: this floor hands
their reader down to ``mlcore.backtest_runs``, which never imports upwards.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import universe
from analysis.cli import parse_when, progress_bar, symbol_list
from mlcore.backtest.engine import Costs, Margin
from mlcore.backtest_runs import (
    STRATEGIES,
    BacktestError,
    BacktestRequest,
    SignalsMissing,
    run_backtest,
    write_summary,
)
from mlcore.pipeline.common.grading import GRADES
from signals.history import signal_history


class Command(BaseCommand):
    help = "Backtest a strategy on stored data, against buy-and-hold, flat, momentum and random."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, required=True)
        parser.add_argument("--interval", default=None)
        parser.add_argument("--from", dest="start", type=parse_when, required=True)
        parser.add_argument("--to", dest="end", type=parse_when, required=True)
        parser.add_argument(
            "--strategy", default="momentum", help=f"{', '.join(STRATEGIES)} or positions"
        )
        parser.add_argument("--positions", type=Path, help="CSV of open_time,target")
        parser.add_argument(
            "--signals", action="store_true", help="the stored signals of the window, per grade set"
        )
        parser.add_argument(
            "--grade",
            choices=GRADES,
            default=None,
            help="with --signals: this grade and better only",
        )
        parser.add_argument("--leverage", type=float, default=1.0)
        parser.add_argument("--taker-fee", type=float, default=Costs.taker_fee)
        parser.add_argument("--maker", action="store_true", help="fill as maker")
        parser.add_argument("--slippage-bps", type=float, default=Costs.slippage_bps)
        parser.add_argument("--slippage-atr", type=float, default=0.0)
        parser.add_argument("--random-runs", type=int, default=200)
        parser.add_argument("--allow-missing-funding", action="store_true")

    def handle(self, *args, **o):
        strategy = "positions" if o["positions"] else o["strategy"]
        if o["signals"]:
            strategy = "signals"
        # --signals: one run per grade set (A+ only, A and up, ...), or the one --grade names.
        grade_sets = [()]
        if strategy == "signals":
            grade_sets = (
                [GRADES[: GRADES.index(o["grade"]) + 1]]
                if o["grade"]
                else [GRADES[: i + 1] for i in range(len(GRADES))]
            )
        costs = Costs(
            taker_fee=o["taker_fee"],
            as_maker=o["maker"],
            slippage_bps=o["slippage_bps"],
            slippage_atr=o["slippage_atr"],
        )
        runs = []
        for symbol, grades in ((s, g) for s in o["symbols"] for g in grade_sets):
            request = BacktestRequest(
                symbol=symbol,
                interval=o["interval"] or universe.intervals()[0],
                start=o["start"],
                end=o["end"],
                strategy=strategy,
                positions_file=o["positions"],
                grades=grades,
                costs=costs,
                margin=Margin(leverage=o["leverage"]),
                random_runs=o["random_runs"],
                allow_missing_funding=o["allow_missing_funding"],
                signal_history=signal_history if strategy == "signals" else None,
            )
            try:
                with progress_bar(f"{symbol} random baselines", "runs") as progress:
                    run = run_backtest(request, progress=progress)
            except SignalsMissing as exc:
                if len(grade_sets) == 1:
                    raise CommandError(str(exc)) from exc
                self.stdout.write(f"{symbol} {'/'.join(grades)}: {exc}")  # a set may be empty
                continue
            except BacktestError as exc:
                raise CommandError(str(exc)) from exc
            runs.append(run)
            m = run.metrics
            self.stdout.write(
                f"#{run.id} {run}: return {m['total_return']:+.2%}, Sharpe {m['sharpe']:.2f}, "
                f"max DD {m['max_drawdown']:.2%}, {m['trades']} trades; Sharpe percentile "
                f"among random: {run.comparison['sharpe_percentile']:.0f}"
            )
            for name, b in run.baselines.items():
                self.stdout.write(
                    f"    {name:<13} return {b['total_return']:+.2%}, Sharpe {b['sharpe']:.2f}"
                )
        if not runs:
            raise CommandError("nothing to backtest: no grade set had signals in the window")
        path = write_summary(runs)
        self.stdout.write(f"summary: {path}")
