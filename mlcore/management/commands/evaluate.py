"""Score a model on a stored window it never saw.

1. For each symbol: the named model version (--model) or the champion.
2. Refuse a window overlapping its training window plus embargo.
3. Batch inference through the live path's function, figures per grade, calibration, IC, and
   the graded signals backtested per grade set against the baselines (progress bar).
4. Store the Evaluation (shown at /models/<id>/) and write var/reports/evaluation_<SYMBOL>.json.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis import universe
from analysis.cli import parse_when, progress_bar, symbol_list
from mlcore.artifacts import ArtifactError
from mlcore.evaluation import EvaluateRequest, EvaluationError, evaluated_symbol, run_evaluation
from mlcore.training.risk import describe


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


class Command(BaseCommand):
    help = "Evaluate a model out of sample: per-grade hit rates, calibration, IC, backtests."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, required=True)
        parser.add_argument("--interval", default=None)
        parser.add_argument("--from", dest="start", type=parse_when, required=True)
        parser.add_argument("--to", dest="end", type=parse_when, required=True)
        parser.add_argument("--model", default=None, help="a model version; default: champion")
        parser.add_argument("--random-runs", type=int, default=None)

    def handle(self, *args, **o):
        if o["model"] and len(o["symbols"]) > 1:
            raise CommandError("--model names one model: give one symbol with it")
        for symbol in o["symbols"]:
            request = EvaluateRequest(
                symbol,
                o["interval"] or universe.intervals()[0],
                o["start"],
                o["end"],
                version=o["model"],
                random_runs=o["random_runs"],
            )
            try:
                with progress_bar(f"{symbol} graded backtests", "sets") as progress:
                    evaluation = run_evaluation(request, progress)
            except (EvaluationError, ArtifactError, ValueError) as exc:
                raise CommandError(f"{symbol}: {exc}") from exc
            self.summary(evaluation)

    def summary(self, evaluation) -> None:
        f = evaluation.figures  # one shape for every family (``judged.CallFigures``)
        model = evaluation.model_version
        flags = (" [forced]" if model.forced else "") + (" [quick]" if model.quick else "")
        if f["kind"] == "universe":
            seen = "" if f["trained_on_symbol"] else ", never trained on it"
            flags += f" [universe model{seen}]"
        self.stdout.write(
            f"{evaluated_symbol(evaluation)} {model.interval} {model.version}{flags}: "
            f"{evaluation.start:%Y-%m-%d}..{evaluation.end:%Y-%m-%d}, {f['rows']} labelled bars"
        )
        ic = f["ic"]
        self.stdout.write(
            f"  IC {'n/a' if ic is None else f'{ic:+.4f}'} (p {f['ic_p_value']}); "
            f"{f['signals']} calls, hit rate net of costs {_pct(f['hit_base_rate'])}, "
            f"hit-probability ECE {f['hit_ece']}\n  a call is for {f['horizon']} {model.interval} "
            f"bars; a hit: {f['hit_definition']} ({f['entry']} costs"
            + (f", {f['unfilled']} calls unfilled)" if f["entry"] == "maker" else ")")
        )
        rule = (f.get("detail") or {}).get("best_rule_same_rows") or {}
        if rule.get("ic") is not None:
            self.stdout.write(
                f"  the rule its training favoured ({rule['rule']}), same rows: IC "
                f"{rule['ic']:+.4f} (p {rule['ic_p_value']:.2g}), hit rate net of costs "
                f"{_pct(rule['hit_rate'])}, mean net {rule['mean_net']:+.3%} a call"
            )
        if classes := f["classes"]:
            self.stdout.write(
                f"  accuracy {_pct(classes['accuracy'])} vs majority class "
                f"{_pct(classes['majority_accuracy'])}; log loss "
                f"{classes['calibrated']['log_loss']:.4f} vs prior "
                f"{classes['prior_log_loss']:.4f}; ECE {classes['raw']['ece']:.3f} raw -> "
                f"{classes['calibrated']['ece']:.3f} calibrated"
            )
        for g in f["per_grade"]:
            self.stdout.write(
                f"  grade {g['grade']:<2} {g['count']:>5} signals ({g.get('independent')} "
                f"independent), hit rate {_pct(g['hit_rate'])} "
                f"[{_pct(g['hit_rate_low'])}, {_pct(g['hit_rate_high'])}], "
                f"mean net return {_pct(g['mean_return'])}"
                + (f"; {g['reason']}" if g.get("reason") else "")
            )
        for b in evaluation.backtests:
            m, bh = b["metrics"], b["baselines"]["buy_and_hold"]
            if not b["signals"]:
                self.stdout.write(f"  backtest {b['grade_set']:<9} no signals")
                continue
            self.stdout.write(
                f"  backtest {b['grade_set']:<9} return {m['total_return']:+.2%} "
                f"Sharpe {m['sharpe']:.2f} (PSR {_pct(m['psr'])}), random percentile "
                f"{b['sharpe_percentile']:.0f}; buy-and-hold {bh['total_return']:+.2%}"
            )
        risk = f.get("risk") or {}
        if "refused" in risk:
            self.stdout.write(f"  risk figures: not judged: {risk['refused']}")
        for key, figures in risk.items():
            if key.isdigit():
                self.stdout.write("  risk " + describe(int(key), figures).replace("\n", "\n  "))
        self.stdout.write(f"  report: {evaluation.report_path}")
