"""The evaluation of a simulated track record: what the product's own calls, as it would have
made them bar by bar with the models it would have had, came to. Pure; no Django.

Every figure is out of sample by construction: a call at bar t was made by a model trained on
rows whose labels ended before t (``signals.simulation`` proves it per window). Given, per
symbol, its calls in time order and its market over the span (and the bars after it, for the
last calls' outcomes):
1. each call's outcome: its direction times the forward return over its model's horizon, net of
   the round trip; a hit is a positive net return (the event the confidence is the chance of);
2. per grade, the actionable calls, every directional call, and the calls whose inputs were
   flagged as unlike the training rows against the rest: hit rate with its Wilson 95 %
   interval and mean net return (``hits.grade_figures``); the IC of the score against the
   forward return, with its p-value on the effective sample (``baselines.ic_with_p``);
3. per symbol, the calls traded net of fees, slippage and funding (``backtest_grade_sets``:
   every call, B and up, the actionable ones) beside buy-and-hold, same-turnover random
   signals, and the simple rule each window chose on its training rows, traded the same way;
4. the equal-weight portfolio's equity curves of those (each symbol's curve from 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from mlcore.backtest import metrics
from mlcore.backtest.engine import Costs, Market, run
from mlcore.backtest.signals import SignalRules, backtest_grade_sets, graded_target
from mlcore.pipeline.common.fills import credited, maker_filled, next_bar_extremes
from mlcore.pipeline.common.hits import GRADES, grade_figures, independent_slots
from mlcore.pipeline.common.rule_baselines import ic_with_p

SETS = {"all calls": ("A+", "A", "B", "C"), "B and up": ("A+", "A", "B")}
ACTIONABLE = "actionable"


@dataclass(frozen=True)
class SymbolCalls:
    """One symbol's simulated calls, in time order (bars the product abstained on included,
    with direction 0)."""

    symbol: str
    open_time: np.ndarray  # ms
    direction: np.ndarray  # -1, 0, 1
    grade: np.ndarray  # "A+".."C", "" when neutral
    confidence: np.ndarray
    score: np.ndarray
    actionable: np.ndarray  # bool
    horizon: np.ndarray  # bars, the serving model's
    rule: np.ndarray  # the window's chosen simple rule's score at the bar
    window: np.ndarray  # index of the window (model period) the call belongs to
    outside: np.ndarray  # bool: inputs unlike the serving model's training rows (flagged)


def forward_returns(market: Market, open_time: np.ndarray, horizon: np.ndarray) -> np.ndarray:
    """Close-to-close return from each call's bar over its horizon; NaN past the data."""
    at = np.searchsorted(market.open_time, open_time)
    later = at + horizon
    ok = (at < len(market.open_time)) & (later < len(market.open_time))
    out = np.full(len(open_time), np.nan)
    out[ok] = market.close[later[ok]] / market.close[at[ok]] - 1.0
    # A hole in the data would stretch the horizon: such a call has no outcome.
    stretched = np.zeros(len(open_time), dtype=bool)
    stretched[ok] = (
        market.open_time[later[ok]] - market.open_time[at[ok]] != horizon[ok] * market.step_ms
    )
    out[stretched] = np.nan
    return out


def _figures(
    name: str,
    take: np.ndarray,
    net: np.ndarray,
    confidence: np.ndarray,
    promise: float | None = None,
    slots: np.ndarray | None = None,
) -> dict:
    return asdict(grade_figures(name, take, net, confidence, promise, slots=slots))


def call_figures(
    grade: np.ndarray,
    direction: np.ndarray,
    actionable: np.ndarray,
    confidence: np.ndarray,
    net: np.ndarray,
    promises: Mapping[str, float],
    outside: np.ndarray | None = None,
    slots: np.ndarray | None = None,
) -> dict:
    """Per grade, the actionable calls, every directional call, and the calls flagged as
    unlike the training rows against the rest: hits with Wilson bounds (on the independent
    calls, given their ``slots``: ``hits.independent_slots``)."""
    called = direction != 0
    outside = np.zeros(len(direction), dtype=bool) if outside is None else outside

    def figures(name: str, take: np.ndarray, promise: float | None = None) -> dict:
        return _figures(name, take, net, confidence, promise, slots)

    return {
        "flagged": figures("flagged", called & outside),
        "unflagged": figures("unflagged", called & ~outside),
        "per_grade": [figures(g, called & (grade == g), promises.get(g)) for g in GRADES],
        "actionable": figures(ACTIONABLE, called & actionable),
        "all_calls": figures("all calls", called),
    }


def _curve(open_time: np.ndarray, equity: np.ndarray) -> list[list[float]]:
    return metrics.curve_points(open_time, equity, points=400)


def backtest_symbol(
    market: Market,
    calls: SymbolCalls,
    atr_multiple: float,
    random_runs: int,
    costs: Costs | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """The symbol's calls traded over the span they cover; and the equity per strategy (for
    the portfolio curve)."""
    first, last = int(calls.open_time[0]), int(calls.open_time[-1])
    span = market.span(first, last)
    at = np.searchsorted(span.open_time, calls.open_time)
    direction = np.zeros(len(span.open_time))
    grade = np.full(len(span.open_time), "", dtype=object)
    direction[at] = calls.direction
    grade[at] = calls.grade
    rules = SignalRules(int(np.median(calls.horizon)), atr_multiple, atr_multiple)
    sets = backtest_grade_sets(
        span, direction, grade, SETS, rules, costs=costs, random_runs=random_runs
    )
    actionable_grade = np.full(len(span.open_time), "", dtype=object)
    actionable_grade[at] = np.where(calls.actionable, calls.grade, "")
    sets += backtest_grade_sets(
        span,
        direction,
        actionable_grade,
        {ACTIONABLE: GRADES},
        rules,
        costs=costs,
        random_runs=random_runs,
    )
    rule = np.zeros(len(span.open_time))
    rule[at] = np.nan_to_num(np.sign(calls.rule))
    rule_result = run(span, graded_target(span, rule, np.full(len(rule), "C", dtype=object),
                                          ("C",), rules), costs=costs)  # fmt: skip
    # Every curve as a multiple of its starting equity, so symbols and strategies average.
    equity = {s.grade_set: np.array([p[1] for p in s.curve]) / s.curve[0][1] for s in sets}
    curve_time = np.array([p[0] for p in sets[0].curve], dtype=np.int64)
    pick = np.searchsorted(span.open_time, curve_time)
    equity["best rule"] = rule_result.equity[pick] / rule_result.equity[0]
    equity["buy and hold"] = span.close[pick] / span.close[0]
    figures = {
        "symbol": calls.symbol,
        "bars": len(span.open_time),
        "sets": [s.as_dict(with_curve=False) for s in sets],
        "best_rule": metrics.compute(rule_result, span.step_ms).as_dict(),
    }
    return figures, equity | {"_time": curve_time}


def portfolio_curves(equities: list[dict[str, np.ndarray]]) -> dict[str, list[list[float]]]:
    """Equal weight across symbols: each symbol's equity, from 1, averaged on a common clock
    (a symbol counts from its first call; before it, its share stays in cash at 1)."""
    if not equities:
        return {}
    clock = np.unique(np.concatenate([e["_time"] for e in equities]))
    out = {}
    for name in [k for k in equities[0] if k != "_time"]:
        total = np.zeros(len(clock))
        for e in equities:
            at = np.searchsorted(e["_time"], clock, side="right") - 1
            values = np.where(at >= 0, e[name][np.clip(at, 0, None)], 1.0)
            total += values
        out[name] = [
            [int(t), round(float(v), 4)] for t, v in zip(clock, total / len(equities), strict=True)
        ]
    return out


def evaluate_track_record(
    calls: list[SymbolCalls],
    markets: Mapping[str, Market],
    round_trip_cost: float,
    promises: Mapping[str, float],
    atr_multiple: float,
    random_runs: int = 20,
    maker_entry: bool = False,
) -> dict:
    """The steps of the module docstring, over every symbol's calls. With ``maker_entry`` a
    call counts only where its limit at the close traded in the next bar (``fills``)."""
    if not calls:
        return {"calls": None, "ic": None, "backtests": [], "curves": {}, "per_symbol": []}
    forward = [forward_returns(markets[c.symbol], c.open_time, c.horizon) for c in calls]
    net = [c.direction * f - round_trip_cost for c, f in zip(calls, forward, strict=True)]
    unfilled = 0
    if maker_entry:
        for i, c in enumerate(calls):
            m = markets[c.symbol]
            low, high = next_bar_extremes(m.open_time, m.low, m.high, m.step_ms)
            at = np.clip(np.searchsorted(m.open_time, c.open_time), 0, len(m.open_time) - 1)
            filled = maker_filled(c.direction, m.close[at], low[at], high[at])
            net[i], missed = credited(net[i], c.direction, filled)
            unfilled += missed
    costs = Costs.paying(round_trip_cost, maker_entry)
    cat = np.concatenate
    everything = call_figures(
        cat([c.grade for c in calls]),
        cat([c.direction for c in calls]),
        cat([c.actionable for c in calls]),
        cat([c.confidence for c in calls]),
        cat(net),
        promises,
        cat([c.outside for c in calls]),
        independent_slots(
            cat([np.full(len(c.open_time), c.symbol) for c in calls]),
            cat([c.open_time for c in calls]),
            cat([c.horizon * markets[c.symbol].step_ms for c in calls]),
        ),
    )
    horizon = int(np.median(cat([c.horizon for c in calls])))
    rho, p, n = ic_with_p(cat([c.score for c in calls]), cat(forward), horizon)
    rule_rho, rule_p, _ = ic_with_p(cat([c.rule for c in calls]), cat(forward), horizon)
    per_symbol, backtests, equities = [], [], []
    for c, f, r in zip(calls, forward, net, strict=True):
        s_rho, s_p, _ = ic_with_p(c.score, f, horizon)
        called = c.direction != 0
        per_symbol.append(
            {
                "symbol": c.symbol,
                "calls": int(called.sum()),
                "ic": s_rho,
                "ic_p_value": s_p,
                "hit_rate": _figures(c.symbol, called, r, c.confidence)["hit_rate"],
                "actionable": int((called & c.actionable).sum()),
            }
        )
        if called.any():
            figures, equity = backtest_symbol(
                markets[c.symbol], c, atr_multiple, random_runs, costs
            )
            backtests.append(figures)
            equities.append(equity)
    return {
        "calls": everything,
        "entry": "maker" if maker_entry else "taker",
        "unfilled": unfilled,  # maker entries whose limit never traded: no outcome
        "ic": {"ic": rho, "p_value": p, "rows": n, "horizon": horizon},
        "best_rule_ic": {"ic": rule_rho, "p_value": rule_p},
        "per_symbol": per_symbol,
        "backtests": backtests,
        "curves": portfolio_curves(equities),
    }


def window_figures(
    calls: list[SymbolCalls], markets: Mapping[str, Market], round_trip_cost: float, window: int
) -> dict:
    """One model period's calls: how many, their hit rate and IC (for the timeline)."""
    picked = []
    for c in calls:
        mine = c.window == window
        if mine.any():
            f = forward_returns(markets[c.symbol], c.open_time[mine], c.horizon[mine])
            picked.append((c.direction[mine], c.score[mine], f, c.horizon[mine]))
    if not picked:
        return {"calls": 0, "hit_rate": None, "ic": None}
    direction = np.concatenate([p[0] for p in picked])
    score = np.concatenate([p[1] for p in picked])
    forward = np.concatenate([p[2] for p in picked])
    net = direction * forward - round_trip_cost
    known = (direction != 0) & np.isfinite(net)
    rho, _, _ = ic_with_p(score, forward, int(np.median(np.concatenate([p[3] for p in picked]))))
    return {
        "calls": int(known.sum()),
        "hit_rate": float((net[known] > 0).mean()) if known.any() else None,
        "ic": rho,
    }
