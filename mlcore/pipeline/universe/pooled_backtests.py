"""The universe walk-forward's calls traded, per symbol, net of fees, slippage and funding:
beside buy-and-hold, same-turnover random signals, and the best simple rule (chosen on earlier
folds) traded the same way. Pure; no Django.

Each symbol's out-of-fold span is one backtest: a call opens at the next bar's open in its
direction and is held for the model's horizon at most, with stop and target at the ATR
multiple its signals show (the way a trader would take it). Only the grades a set names open
positions; "all" trades every directional call, the honest picture of what the raw model does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mlcore.backtest import metrics
from mlcore.backtest.engine import Costs, Market, run
from mlcore.backtest.signals import SignalRules, backtest_grade_sets, graded_target
from mlcore.pipeline.common.rule_baselines import BestRule
from mlcore.pipeline.universe.pooled import PooledResult

SETS = {"all calls": ("A+", "A", "B", "C"), "B and up": ("A+", "A", "B")}


@dataclass(frozen=True)
class SymbolBacktest:
    symbol: str
    bars: int
    sets: list[dict]  # per grade set: signals, metrics, baselines, random percentiles
    best_rule: dict  # the rule's metrics traded the same way

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "bars": self.bars,
            "sets": self.sets,
            "best_rule": self.best_rule,
        }


def backtest_symbols(
    result: PooledResult,
    best: BestRule,
    markets: Mapping[str, Market],
    atr_multiple: float,
    random_runs: int = 20,
) -> list[SymbolBacktest]:
    oof, c = result.oof, result.calls
    horizon = int(np.median(oof.horizon))
    rules = SignalRules(horizon, atr_multiple, atr_multiple)
    costs = Costs.paying(result.config.round_trip_cost, result.config.maker_entry)
    times = result.data.open_time[oof.rows]
    symbols = result.data.symbol[oof.rows]
    out = []
    for symbol in sorted(markets):
        mine = np.flatnonzero(symbols == symbol)
        if len(mine) < 2:
            continue
        market = markets[symbol].span(int(times[mine].min()), int(times[mine].max()))
        at = np.searchsorted(market.open_time, times[mine])
        direction = np.zeros(len(market.open_time))
        grade = np.full(len(market.open_time), "", dtype=object)
        direction[at] = c.direction[mine]
        grade[at] = c.grade[mine]
        sets = backtest_grade_sets(
            market, direction, grade, SETS, rules, costs=costs, random_runs=random_runs
        )
        rule = np.zeros(len(market.open_time))
        rule[at] = np.nan_to_num(np.sign(best.score[mine]))
        target = graded_target(market, rule, np.full(len(rule), "C", dtype=object), ("C",), rules)
        rule_metrics = metrics.compute(run(market, target, costs=costs), market.step_ms)
        out.append(
            SymbolBacktest(
                symbol,
                len(market.open_time),
                [s.as_dict(with_curve=False) for s in sets],
                rule_metrics.as_dict(),
            )
        )
    return out
