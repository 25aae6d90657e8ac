from __future__ import annotations

import numpy as np

from mlcore.backtest.rules import (
    HoldingRules,
    fixed_fraction,
    grade_filter,
    hold_positions,
    volatility_target,
)

FLAT = np.full(40, 100.0)


def test_grade_filter_keeps_only_allowed_grades():
    signal = np.array([1.0, -1.0, 1.0, -1.0])
    grade = np.array(["A+", "B", "A", "C"])
    assert grade_filter(signal, grade, ("A+", "A")).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_position_holds_until_the_opposite_signal():
    signal = np.zeros(40)
    signal[5], signal[12], signal[20] = 1, -1, 0
    held = hold_positions(signal, FLAT + 0.5, FLAT - 0.5, FLAT)
    assert held[4] == 0 and (held[5:12] == 1).all() and (held[12:] == -1).all()


def test_timeout_closes_after_n_bars():
    signal = np.zeros(40)
    signal[20] = 1
    held = hold_positions(signal, FLAT + 0.5, FLAT - 0.5, FLAT, HoldingRules(timeout=5))
    assert (held[20:25] == 1).all() and (held[25:] == 0).all()


def test_barriers_close_on_take_profit_or_stop():
    close = FLAT.copy()
    close[25:] = 104.0  # ATR(14) of the flat stretch is 1.0: take profit at 2 ATR
    high, low = close + 0.5, close - 0.5
    signal = np.zeros(40)
    signal[20] = 1
    held = hold_positions(signal, high, low, close, HoldingRules(take_profit_atr=2.0))
    assert (held[20:25] == 1).all() and held[25] == 0
    short = hold_positions(-signal, high, low, close, HoldingRules(stop_loss_atr=2.0))
    assert (short[20:25] == -1).all() and short[25] == 0


def test_sizing():
    direction = np.array([1.0, -1.0, 0.0])
    assert fixed_fraction(direction, 0.5, 4.0).tolist() == [2.0, -2.0, 0.0]
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 2000)))
    sized = volatility_target(np.ones(2000), close, 3_600_000, annual_vol=0.5, max_leverage=3.0)
    assert (sized[:168] == 0).all()  # no estimate yet: no position
    # 1 % hourly noise is ~94 % a year: half of that target is ~0.53x
    assert 0.45 < np.median(sized[200:]) < 0.6 and sized.max() <= 3.0
