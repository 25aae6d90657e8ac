"""Graded signals through the engine: a set without signals is flat and not ranked; a set
with signals trades them with the label's barriers and horizon."""

from __future__ import annotations

import numpy as np

from mlcore.backtest.data import market_from_frames
from mlcore.backtest.signals import SignalRules, backtest_grade_sets, graded_target


def test_grade_sets_trade_only_their_grades(btc):
    candles, funding = btc
    market = market_from_frames(candles.iloc[:3000], funding, "1h")
    n = len(market)
    direction = np.zeros(n)
    grade = np.full(n, "", dtype=object)
    direction[100::200], grade[100::200] = 1, "B"
    rules = SignalRules(horizon=24, take_profit_atr=2.0, stop_loss_atr=2.0)
    target = graded_target(market, direction, grade, ("A+", "A", "B"), rules)
    held = np.flatnonzero(target)
    assert held[0] == 100 and target[100] == 1.0
    assert np.all(np.diff(held[held < 200]) == 1) and held[held < 200][-1] <= 100 + 24
    sets = {"A and up": ("A+", "A"), "B and up": ("A+", "A", "B")}
    results = {
        b.grade_set: b.as_dict()
        for b in backtest_grade_sets(market, direction, grade, sets, rules, random_runs=20)
    }
    empty, traded = results["A and up"], results["B and up"]
    assert empty["signals"] == 0 and empty["metrics"]["trades"] == 0
    assert empty["sharpe_percentile"] is None and empty["random_runs"] == 0
    assert traded["signals"] == 15 and traded["metrics"]["trades"] == 15
    assert 0 <= traded["sharpe_percentile"] <= 100 and traded["random_runs"] == 20
