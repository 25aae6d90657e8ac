"""The training gates as plain functions: figures in, pass/fail with its reason out.

1. data QA (QA gate 1)  2. features and labels aligned (QA gate 2)
3. XGBoost walk-forward beats the class prior in out-of-fold log loss, and the best simple rule
   (chosen on earlier folds) in out-of-fold IC
4. the LSTM is not worse than that prior
5. graded out-of-fold signals, backtested net of fees and funding, beat same-turnover random
   signals
6. promotion: the challenger beats the champion on the same out-of-sample rows
Thresholds are data (``GateThresholds``), recorded with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mlcore.backtest.signals import GradedBacktest
from mlcore.pipeline.common import rule_baselines
from mlcore.pipeline.common.rule_baselines import BestRule


@dataclass(frozen=True)
class GateThresholds:
    xgb_max_loss_ratio: float = 1.0  # out-of-fold log loss / prior log loss must be below
    lstm_max_loss_ratio: float = 1.0  # must be at most
    backtest_grade_set: str = "all"  # which graded signals gate 5 trades
    min_sharpe_percentile: float = 80.0  # among the same-turnover random runs
    min_signals: int = 30
    promotion_margin: float = 0.0  # challenger log loss must undercut the champion's by this
    min_common_rows: int = 500  # labelled rows both models predicted out of sample

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateResult:
    number: int
    name: str
    passed: bool
    reason: str
    figures: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def data_quality(problems: int, gaps: int, candles: int, detail: str) -> GateResult:
    passed = problems == 0 and gaps == 0 and candles > 0
    reason = "candles are sane, ordered, unique and complete" if passed else detail
    figures = {"candles": candles, "row_problems": problems, "gaps": gaps}
    return GateResult(1, "data quality", passed, reason, figures)


def alignment(problems: list[str], rows: int) -> GateResult:
    reason = f"{rows} rows aligned" if not problems else "; ".join(problems)
    return GateResult(2, "features and labels aligned", not problems, reason, {"rows": rows})


def member_vs_prior(
    number: int, member: str, loss: float, prior: float, max_ratio: float, strict: bool
) -> GateResult:
    ratio = loss / prior
    passed = ratio < max_ratio if strict else ratio <= max_ratio
    if strict:
        verb = "beats" if passed else "does not beat"
    else:
        verb = "is not worse than" if passed else "is worse than"
    reason = (
        f"{member} out-of-fold log loss {loss:.4f} {verb} the class prior's {prior:.4f} "
        f"(ratio {ratio:.4f}, threshold {'<' if strict else '<='} {max_ratio})"
    )
    figures = {"log_loss": loss, "prior_log_loss": prior, "ratio": ratio}
    return GateResult(number, f"{member} vs class prior", passed, reason, figures)


def xgb_vs_baselines(
    loss: float, prior: float, max_ratio: float, model_ic: float | None, best: BestRule
) -> GateResult:
    """Gate 3: the prior's log loss, and the rule a trader could have picked on earlier folds."""
    vs_prior = member_vs_prior(3, "XGBoost", loss, prior, max_ratio, True)
    rule_ic = best.ic
    chosen = sorted(set(best.chosen.values()))
    beats_rule = rule_baselines.beats_rule(model_ic, rule_ic)
    if model_ic is None:
        versus = "no out-of-fold IC could be measured"
    else:
        rules = ", ".join(chosen) or "none"
        ic_text = "n/a" if rule_ic is None else f"{rule_ic:+.4f}"
        versus = (
            f"out-of-fold IC {model_ic:+.4f} {'beats' if beats_rule else 'does not beat'} the "
            f"best simple rule chosen on earlier folds ({rules}: {ic_text}) and zero"
        )
    figures = vs_prior.figures | {
        "ic": model_ic,
        "best_rule_ic": rule_ic,
        "best_rules": chosen,
        "rules": {r.rule: r.ic for r in best.rules},
    }
    return GateResult(
        3,
        "XGBoost vs class prior and simple rules",
        vs_prior.passed and beats_rule,
        f"{vs_prior.reason}; {versus}",
        figures,
    )


def too_few_calls(calls: int, needed: int) -> GateResult:
    """Gate 5 when no fold had enough earlier settled calls to learn a call's hit rate."""
    reason = (
        f"only {calls} directional out-of-fold calls with a known outcome: too few for any fold "
        f"to learn how often a call is a hit (each needs {needed} earlier ones)"
    )
    return GateResult(5, "graded backtest vs random", False, reason, {"calls": calls})


def backtest_vs_random(backtests: list[GradedBacktest], t: GateThresholds) -> GateResult:
    chosen = next((b for b in backtests if b.grade_set == t.backtest_grade_set), None)
    if chosen is None:
        raise ValueError(f"no backtest of grade set {t.backtest_grade_set!r}")
    m, c = chosen.metrics, chosen.comparison
    figures = {
        "grade_set": chosen.grade_set,
        "signals": chosen.signals,
        "total_return": m.total_return,
        "sharpe": m.sharpe,
        "sharpe_percentile": c.sharpe_percentile,
        "random_sharpe_median": c.random_sharpe_median,
        "trades": m.trades,
        "fees": m.fees,
        "funding": m.funding,
    }
    if chosen.signals < t.min_signals:
        reason = f"only {chosen.signals} {chosen.grade_set} signals (need {t.min_signals})"
        return GateResult(5, "graded backtest vs random", False, reason, figures)
    passed = c.sharpe_percentile >= t.min_sharpe_percentile
    reason = (
        f"{chosen.grade_set} signals net of fees and funding: return {m.total_return:+.2%}, "
        f"Sharpe {m.sharpe:.2f} at percentile {c.sharpe_percentile:.0f} of "
        f"{c.random_runs} same-turnover random runs (need {t.min_sharpe_percentile:.0f})"
    )
    return GateResult(5, "graded backtest vs random", passed, reason, figures)


def promotion(
    challenger_loss: float | None,
    champion_loss: float | None,
    rows: int,
    t: GateThresholds,
    champion: str | None,
) -> GateResult:
    if champion is None:
        return GateResult(6, "promotion", True, "no champion yet: the challenger takes the place")
    figures = {
        "rows": rows,
        "challenger_log_loss": challenger_loss,
        "champion_log_loss": champion_loss,
        "champion": champion,
    }
    if rows < t.min_common_rows or challenger_loss is None or champion_loss is None:
        reason = (
            f"only {rows} labelled rows where both the challenger and champion {champion} "
            f"predicted out of sample (need {t.min_common_rows}): no fair comparison"
        )
        return GateResult(6, "promotion", False, reason, figures)
    passed = challenger_loss < champion_loss - t.promotion_margin
    verb = "beats" if passed else "does not beat"
    reason = (
        f"challenger log loss {challenger_loss:.4f} {verb} champion {champion}'s "
        f"{champion_loss:.4f} on the same {rows} out-of-sample rows"
    )
    return GateResult(6, "promotion", passed, reason, figures)
