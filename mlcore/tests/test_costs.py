"""A hand trader's costs: a taker pays two fees and two slippages, a maker two maker fees and
only where the limit at the close traded in the next bar; a call that did not fill is no hit
and no miss, only counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.backtest.engine import Costs
from mlcore.pipeline.common.fills import credited, maker_filled, next_bar_extremes
from mlcore.pipeline.common.grading import Graded
from mlcore.pipeline.common.labels import BarrierParams, triple_barrier
from mlcore.pipeline.common.out_of_sample import evaluate, outcomes

HOUR = 3_600_000


def test_round_trips():
    assert Costs().round_trip == pytest.approx(0.0012)
    assert Costs(as_maker=True).round_trip == pytest.approx(0.0004)
    assert Costs.paying(0.0012).round_trip == pytest.approx(0.0012)
    assert Costs.paying(0.0004, maker=True).round_trip == pytest.approx(0.0004)


def test_a_limit_fills_only_if_the_next_bar_trades_through_it():
    t = np.array([0, 1, 2, 4]) * HOUR  # a hole after the third bar
    low, high = np.array([9.0, 9.5, 9.9, 9.0]), np.array([11.0, 10.5, 10.0, 11.0])
    next_low, next_high = next_bar_extremes(t, low, high, HOUR)
    assert np.array_equal(next_low[:2], [9.5, 9.9]) and np.isnan(next_low[2:]).all()
    entry = np.array([10.0, 9.9, 10.0, 10.0])
    assert maker_filled(np.array([1, 1, 1, 1]), entry, next_low, next_high).tolist() == [
        True,
        False,  # a touch at the price: the queue may take it all
        False,  # the next bar is unknown (a hole)
        False,
    ]
    assert maker_filled(np.array([-1, -1, 0, -1]), entry, next_low, next_high).tolist() == [
        True,
        True,
        False,
        False,
    ]
    net, missed = credited(
        np.array([0.01, -0.02, 0.03]), np.array([1, 1, 0]), np.array([True, False, False])
    )
    assert missed == 1 and net[0] == 0.01 and np.isnan(net[1]) and net[2] == 0.03


def test_a_maker_entry_scores_only_the_calls_that_filled():
    rng = np.random.default_rng(1)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    candles = pd.DataFrame(
        {
            "open_time": np.arange(n) * HOUR,
            "open": close,
            "high": close + spread,
            "low": close - spread * rng.choice([0.0, 1.0], n),  # some bars never trade lower
            "close": close,
            "volume": np.ones(n),
        }
    )
    barrier = BarrierParams(horizon=8, round_trip_cost=0.0004, maker_entry=True)
    o = outcomes(candles, triple_barrier(candles, barrier))
    direction = np.ones(n, dtype=np.int64)  # every bar a long call
    graded = Graded(
        direction=direction,
        grade=np.full(n, "C", dtype=object),
        confidence=np.full(n, 0.5),
        confirmations={},
    )
    p = np.tile([0.2, 0.3, 0.5], (n, 1))
    taker = evaluate(p, p, np.array([1 / 3] * 3), graded, o, 0.0004, 8)
    maker = evaluate(p, p, np.array([1 / 3] * 3), graded, o, 0.0004, 8, maker_entry=True)
    next_low = np.r_[candles["low"].to_numpy()[1:], np.nan]
    missed = (~(next_low < close) & np.isfinite(o.exit_return))[:n]
    assert maker.entry == "maker" and taker.entry == "taker" and taker.unfilled == 0
    assert maker.unfilled == int(missed.sum()) > 50
    assert maker.per_grade[-1].count == taker.per_grade[-1].count - maker.unfilled
