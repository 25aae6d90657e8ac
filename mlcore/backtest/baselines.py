"""Simple baselines every strategy is shown against, over the same window and costs.

- buy and hold, always flat, a momentum rule (sign of the 24-bar return);
- random signals with the same turnover: as many position changes as the strategy, at random
  bars, to random sides at the strategy's typical size (Monte Carlo); the strategy's percentile
  among them says whether its timing beats luck."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mlcore.backtest import metrics
from mlcore.backtest.engine import Costs, Margin, Market, run


def buy_and_hold(market: Market) -> np.ndarray:
    return np.ones(len(market))


def flat(market: Market) -> np.ndarray:
    return np.zeros(len(market))


def momentum(market: Market, bars: int = 24) -> np.ndarray:
    """Long after a rise over ``bars``, short after a fall: decided at the close, so causal."""
    target = np.zeros(len(market))
    target[bars:] = np.sign(market.close[bars:] - market.close[:-bars])
    return target


RULES = {"buy_and_hold": buy_and_hold, "flat": flat, "momentum": momentum}


def random_like(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random targets with the same number of changes and the same typical size."""
    n = len(target)
    changes = int(np.count_nonzero(np.diff(target))) + (target[0] != 0)
    size = float(np.median(np.abs(target[target != 0]))) if (target != 0).any() else 1.0
    out = np.zeros(n)
    if changes == 0:
        return out
    points = np.sort(rng.choice(n, size=min(changes, n), replace=False))
    levels = rng.choice([-size, 0.0, size], size=len(points))
    for i, start in enumerate(points):  # consecutive equal levels are fine: fewer real trades
        out[start : points[i + 1] if i + 1 < len(points) else n] = levels[i]
    return out


@dataclass(frozen=True)
class Comparison:
    baselines: dict[str, metrics.Metrics]
    random_runs: int
    random_sharpe_median: float
    sharpe_percentile: float  # of the strategy among the random runs
    return_percentile: float


def compare(
    market: Market,
    target: np.ndarray,
    strategy: metrics.Metrics,
    *,
    costs: Costs,
    margin: Margin,
    runs: int = 200,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    size = min(margin.leverage, 1.0)  # the baselines never borrow more than the margin allows
    baselines = {
        name: metrics.compute(
            run(market, rule(market) * size, costs=costs, margin=margin), market.step_ms
        )
        for name, rule in RULES.items()
    }
    rng = np.random.default_rng(seed)
    sharpes, returns = [], []
    for done in range(1, runs + 1):
        result = run(market, random_like(target, rng), costs=costs, margin=margin)
        m = metrics.compute(result, market.step_ms)
        sharpes.append(m.sharpe)
        returns.append(m.total_return)
        if progress:
            progress(done, runs)
    return Comparison(
        baselines=baselines,
        random_runs=runs,
        random_sharpe_median=float(np.median(sharpes)),
        sharpe_percentile=float(stats.percentileofscore(sharpes, strategy.sharpe)),
        return_percentile=float(stats.percentileofscore(returns, strategy.total_return)),
    )
