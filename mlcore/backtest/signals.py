"""Graded model signals through the engine: one backtest per grade set, each beside the
baselines and the same-turnover random signals. Pure; no Django.

A signal opens a position at the next open in its direction; the position is held until an
opposite signal, the label horizon, or the label's ATR barriers (take profit / stop loss),
the way the model was taught to think about a trade. Gate 5 of training and ``evaluate`` both
call this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlcore.backtest import baselines, metrics
from mlcore.backtest.engine import Costs, Margin, Market, run
from mlcore.backtest.rules import HoldingRules, fixed_fraction, grade_filter, hold_positions


@dataclass(frozen=True)
class SignalRules:
    horizon: int  # bars a position is held at most
    take_profit_atr: float
    stop_loss_atr: float
    fraction: float = 1.0  # exposure per position, in multiples of equity


def signal_rules(barrier) -> SignalRules:
    """Trade a signal the way its label was defined: the same barriers and horizon (a
    ``labels.BarrierParams``)."""
    return SignalRules(barrier.horizon, barrier.upper_atr, barrier.lower_atr)


@dataclass(frozen=True)
class GradedBacktest:
    grade_set: str
    signals: int  # graded signals in the set
    metrics: metrics.Metrics
    comparison: baselines.Comparison
    curve: list[list[float]]

    def as_dict(self, with_curve: bool = True) -> dict:
        c = self.comparison
        traded = self.signals > 0  # no signal, no trade: no rank among random runs either
        out = {
            "grade_set": self.grade_set,
            "signals": self.signals,
            "metrics": self.metrics.as_dict(),
            "baselines": {name: m.as_dict() for name, m in c.baselines.items()},
            "random_runs": c.random_runs if traded else 0,
            "random_sharpe_median": c.random_sharpe_median if traded else None,
            "sharpe_percentile": c.sharpe_percentile if traded else None,
            "return_percentile": c.return_percentile if traded else None,
        }
        if with_curve:
            out["curve"] = self.curve
        return out


def graded_target(
    market: Market,
    direction: np.ndarray,
    grade: np.ndarray,
    allowed: tuple[str, ...],
    rules: SignalRules,
) -> np.ndarray:
    signal = grade_filter(direction.astype(np.float64), grade, allowed)
    held = hold_positions(
        signal,
        market.high,
        market.low,
        market.close,
        HoldingRules(
            exit_on_opposite=True,
            timeout=rules.horizon,
            take_profit_atr=rules.take_profit_atr,
            stop_loss_atr=rules.stop_loss_atr,
        ),
    )
    return fixed_fraction(held, rules.fraction, 1.0)


def backtest_grade_sets(
    market: Market,
    direction: np.ndarray,
    grade: np.ndarray,
    grade_sets: dict[str, tuple[str, ...]],
    rules: SignalRules,
    *,
    costs: Costs | None = None,
    margin: Margin | None = None,
    random_runs: int = 100,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[GradedBacktest]:
    costs, margin = costs or Costs(), margin or Margin()
    out = []
    for i, (name, allowed) in enumerate(grade_sets.items()):
        target = graded_target(market, direction, grade, allowed, rules)
        result = run(market, target, costs=costs, margin=margin)
        strategy = metrics.compute(result, market.step_ms)
        signals = int(np.isin(grade, allowed).sum())
        comparison = baselines.compare(
            market,
            target,
            strategy,
            costs=costs,
            margin=margin,
            runs=random_runs if signals else 1,
            seed=seed,
        )
        out.append(
            GradedBacktest(
                name,
                signals,
                strategy,
                comparison,
                metrics.curve_points(market.open_time, result.equity),
            )
        )
        if progress:
            progress(i + 1, len(grade_sets))
    return out
