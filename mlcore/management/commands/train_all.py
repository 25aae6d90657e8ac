"""Train, gate and (maybe) promote a model per symbol.

1. For each symbol: a TrainingRun is recorded, then the gated pipeline of
   mlcore.training.symbol runs with a progress bar (stage and percent; the same figures the
   /training page shows).
2. Each gate's verdict is printed as it lands; a failed gate stops that symbol's run and leaves
   its champion untouched, unless --force.
3. Bad input (unknown symbol, too little data) is reported per symbol; the command exits
   non-zero if any symbol could not be trained at all.
With --pooled: one universe walk-forward over all the symbols instead (mlcore.training.universe),
per-symbol members on the same folds beside it; the report says which wins per symbol.
"""

from __future__ import annotations

import logging
import signal
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis import universe
from analysis.cli import parse_when, symbol_list
from mlcore.config import TrainRequest
from mlcore.models import TrainingRun
from mlcore.runs import TrainingError, start_run
from mlcore.training.risk import RiskError, train_risk
from mlcore.training.symbol import train
from mlcore.training.universe import UniverseError, UniverseRequest, run_universe


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Train the XGBoost + LSTM ensemble per symbol through the gates; promote the winners."

    def add_arguments(self, parser):
        parser.add_argument(
            "--symbols",
            type=symbol_list,
            default=None,
            help="comma-separated; default: TRADINGAI_SYMBOLS",
        )
        parser.add_argument("--interval", default=None)
        parser.add_argument(
            "--until",
            type=parse_when,
            default=None,
            help="train only on bars opening before this date",
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help="small search, few epochs: for demos and tests (recorded)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="run every stage and promote even past a failed gate (recorded)",
        )
        parser.add_argument(
            "--pooled",
            action="store_true",
            help="one universe model over all the symbols (walk-forward report; the universe "
            "is the default set)",
        )

    def handle(self, *args, **o):
        interval = o["interval"] or universe.intervals()[0]
        errors = []
        # SIGTERM (a stopped container) ends the run as an error instead of leaving it running.
        signal.signal(signal.SIGTERM, _interrupt)
        # The bar shows progress and each verdict is printed below; the run's log has the rest.
        logging.getLogger("mlcore.training").setLevel(logging.WARNING)
        if o["pooled"]:
            return self.pooled(o["symbols"] or universe.symbols(), interval, o)
        for symbol in o["symbols"] or universe.symbols():
            request = TrainRequest(
                symbol, interval, until=o["until"], quick=o["quick"], force=o["force"]
            )
            run = start_run(request)
            bar = tqdm(
                total=100,
                desc=f"{symbol} data",
                file=sys.stderr,
                unit="%",
                bar_format="{desc:<22} {percentage:3.0f}%|{bar}| {elapsed}",
            )

            def progress(stage: str, percent: float, bar=bar, symbol=symbol) -> None:
                bar.set_description_str(f"{symbol} {stage}")
                bar.update(percent - bar.n)

            try:
                run = train(request, run, progress)
            except TrainingError as exc:
                errors.append(f"{symbol}: {exc}")
                self.stderr.write(f"{symbol}: {exc}")
                continue
            except KeyboardInterrupt:
                run.status, run.message = TrainingRun.Status.ERROR, "interrupted"
                run.save(update_fields=["status", "message"])
                raise
            finally:
                bar.close()
            self.report(run)
        if errors:
            raise CommandError("could not train: " + "; ".join(errors))

    def report(self, run: TrainingRun) -> None:
        self.stdout.write(f"#{run.pk} {run.symbol} {run.interval}: {run.get_status_display()}")
        for g in run.gates:
            mark = "pass" if g["passed"] else "FAIL"
            self.stdout.write(f"  gate {g['number']} {mark}: {g['reason']}")
        self.stdout.write(f"  {run.message}")

    def pooled(self, symbols: list[str], interval: str, o: dict) -> None:
        request = UniverseRequest(
            tuple(symbols), interval, until=o["until"], quick=o["quick"], force=o["force"]
        )
        bar = tqdm(total=1, desc="universe walk-forward", file=sys.stderr, unit="fit")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            outcome = run_universe(request, progress)
        except UniverseError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(universe_summary(outcome.report))
        self.stdout.write(f"report: {outcome.path}")
        # The risk model beside it, on the same symbols and bars (it serves every call).
        try:
            fitted = train_risk(interval, symbols, until=o["until"])
            self.stdout.write(f"risk model: {fitted.record.version}")
        except RiskError as exc:
            self.stderr.write(f"no risk model: {exc}")
        self.stdout.write(
            f"#{outcome.run.pk} {outcome.run.get_status_display()}: {outcome.run.message}"
        )


def _ic(figure: dict | None) -> str:
    if not figure or figure.get("ic") is None:
        return "   n/a"
    p = figure.get("p_value")
    return f"{figure['ic']:+.4f}" + (f" (p {p:.1g})" if p is not None else "")


def universe_summary(rep: dict) -> str:
    lines = [
        f"universe {rep['interval']}: {len(rep['symbols'])} symbols, {rep['rows']} out-of-fold "
        f"rows, horizons chosen per fold {rep['horizons_chosen']}",
        f"  IC {_ic(rep['ic'])}; best rule {_ic(rep['best_rule']['ic_same_rows'])} "
        f"(chosen per fold: {rep['best_rule']['chosen']}); positive on "
        f"{rep['positive_symbols']} of {len(rep['symbols'])} symbols",
    ]
    for s in rep["per_symbol"]:
        lines.append(
            f"  {s['symbol']:<14} universe {_ic(s['universe'])}  own {_ic(s['per_symbol'])}"
            f"  -> {s['winner']}"
        )
    calls = rep["calls"]
    ece = calls["ece"]
    lines.append(
        f"  calls {calls['scored_calls']}, hit rate net of costs {calls['hit_base_rate']:.1%}"
        + (f", ECE {ece:.3f}" if ece is not None else "")
    )
    for g in calls["grades"]:
        lines.append(f"    {g['grade']:<2} {g['count']:>7} calls: {g['reason']}")
    for c in rep.get("conditional", []):
        ic = "n/a" if c["ic"] is None else f"{c['ic']:+.4f} (t {c['t']:+.1f})"
        lines.append(
            f"  {c['condition']}: IC {ic} on {c['independent']} independent of {c['rows']} rows"
        )
    chosen = rep.get("condition")
    if chosen:
        lines.append(
            f"  graded only in: {chosen['serving']['name']} ({chosen['calls_inside']} of "
            f"{chosen['calls']} out-of-fold calls inside their fold's condition; a call outside "
            "is C)"
        )
    unseen = rep.get("unseen")
    if unseen:
        lines.append(
            f"  symbols left out of training ({len(unseen['groups'])} groups): IC "
            f"{_ic(unseen['ic'])}, positive on {unseen['positive_symbols']} of "
            f"{len(unseen['per_symbol'])}; grades backed for unseen symbols: "
            f"{', '.join(unseen['supported']) or 'none'}"
        )
        for g in unseen["calls"]["grades"]:
            lines.append(f"    unseen {g['grade']:<2} {g['count']:>7} calls: {g['reason']}")
    d = rep.get("dissimilar")
    if d and d["flagged_share"] is not None:
        hit = d["hit_rate_flagged"]
        lines.append(
            f"  inputs unlike the training rows on {d['flagged_share']:.1%} of out-of-fold "
            f"rows: hit rate {'n/a' if hit is None else f'{hit:.1%}'} on {d['flagged_calls']} "
            f"flagged calls vs {d['hit_rate_unflagged']:.1%} unflagged"
        )
    for b in rep.get("backtests", []):
        every = next(x for x in b["sets"] if x["grade_set"] == "all calls")
        m, bh = every["metrics"], every["baselines"]["buy_and_hold"]
        pct = every["sharpe_percentile"]
        lines.append(
            f"  {b['symbol']:<14} every call net of costs {m['total_return']:+.1%} "
            f"(Sharpe {m['sharpe']:.2f}, random percentile "
            f"{'n/a' if pct is None else f'{pct:.0f}'}); best rule "
            f"{b['best_rule']['total_return']:+.1%}; buy-and-hold {bh['total_return']:+.1%}"
        )
    for name, why in rep["left_out"].items():
        lines.append(f"  left out {name}: {why}")
    gate = rep["gate"]
    lines.append(f"  gate 3 {'pass' if gate['passed'] else 'FAIL'}: {gate['reason']}")
    return "\n".join(lines)
