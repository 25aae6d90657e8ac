"""The track record's evaluation against figures computed by hand on a few bars."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.backtest.engine import Market
from mlcore.pipeline.common.track_record import call_figures, forward_returns, portfolio_curves

H = 3_600_000


def market(close: list[float], times: list[int] | None = None) -> Market:
    c = np.array(close, dtype=float)
    t = np.array(times if times is not None else [i * H for i in range(len(c))], dtype=np.int64)
    empty = np.array([], dtype=float)
    return Market(t, c, c, c, c, empty.astype(np.int64), empty, empty, H)


def test_forward_returns_over_each_calls_own_horizon_and_never_across_a_hole():
    m = market([100, 110, 121, 100, 50])
    f = forward_returns(m, np.array([0, 0, H, 3 * H]), np.array([1, 2, 2, 2]))
    assert f[0] == pytest.approx(0.10) and f[1] == pytest.approx(0.21)
    assert f[2] == pytest.approx(100 / 110 - 1)
    assert np.isnan(f[3])  # two bars after the fourth: past the data
    holed = market([100, 110, 121], [0, H, 5 * H])  # 2h..4h missing
    assert np.isnan(forward_returns(holed, np.array([0]), np.array([2]))[0])


def test_call_figures_count_hits_net_of_the_round_trip_per_grade():
    grade = np.array(["A", "A", "B", "C", "C", ""], dtype=object)
    direction = np.array([1, -1, 1, 1, -1, 0])
    net = np.array([0.02, -0.01, 0.001, np.nan, 0.5, 0.0]) - 0.0012
    figures = call_figures(
        grade,
        direction,
        np.array([True, True, False, False, False, False]),
        np.full(6, 0.55),
        net,
        {"A+": 0.60, "A": 0.57, "B": 0.54},
    )
    by = {g["grade"]: g for g in figures["per_grade"]}
    assert by["A"]["count"] == 2 and by["A"]["hits"] == 1 and by["A"]["promise"] == 0.57
    assert by["B"]["count"] == 1 and by["B"]["hits"] == 0  # 0.1 % does not pay 0.12 %
    assert by["C"]["count"] == 1 and by["C"]["hits"] == 1  # the NaN outcome is not counted
    assert by["A+"]["count"] == 0
    assert figures["actionable"]["count"] == 2 and figures["actionable"]["hits"] == 1
    every = figures["all_calls"]
    assert every["count"] == 4 and every["hits"] == 2  # the neutral bar is no call
    assert every["hit_rate_low"] < 0.5 < every["hit_rate_high"]
    assert every["mean_return"] == pytest.approx(np.mean([0.02, -0.01, 0.001, 0.5]) - 0.0012)


def test_the_portfolio_curve_averages_symbols_and_keeps_a_late_one_in_cash():
    early = {"_time": np.array([0, 1, 2]), "all calls": np.array([1.0, 1.1, 1.2])}
    late = {"_time": np.array([1, 2]), "all calls": np.array([1.0, 0.8])}
    curve = portfolio_curves([early, late])["all calls"]
    assert curve == [[0, 1.0], [1, 1.05], [2, 1.0]]
