"""Overlapping calls are not independent draws: a grade's interval is on the horizon-long
blocks its calls fill, and a grade needs 300 of them to be backed."""

from __future__ import annotations

import numpy as np

from mlcore.pipeline.common.hits import grade_figures, independent_slots, wilson

HOUR = 3_600_000


def test_hourly_calls_on_a_day_horizon_count_one_draw_a_day_per_symbol():
    t = np.arange(720) * HOUR  # 30 days of hourly calls
    one = independent_slots(np.array(["BTCUSDT"] * 720), t, 24 * HOUR)
    assert len(np.unique(one)) == 30
    two = independent_slots(
        np.array(["BTCUSDT", "ETHUSDT"] * 360), np.repeat(t[:360], 2), 24 * HOUR
    )
    assert len(np.unique(two)) == 30  # 15 days of two symbols
    # A horizon per call (a simulation's models change theirs): each call's own block.
    mixed = independent_slots(
        np.array(["X"] * 4), np.array([0, 1, 2, 3]) * HOUR, np.array([1, 1, 4, 4]) * HOUR
    )
    assert len(np.unique(mixed)) == 3


def test_the_interval_is_on_the_independent_calls_and_a_grade_needs_enough_of_them():
    rng = np.random.default_rng(0)
    n = 720
    net = np.where(rng.random(n) < 0.62, 0.01, -0.01)
    take = np.ones(n, dtype=bool)
    slots = np.arange(n) // 24
    naive = grade_figures("A", take, net, np.full(n, 0.6), promise=0.55)
    honest = grade_figures(
        "A", take, net, np.full(n, 0.6), promise=0.55, slots=slots, min_independent=300
    )
    assert honest.independent == 30 and naive.independent is None
    assert honest.hit_rate == naive.hit_rate and honest.count == naive.count == n
    low, high = wilson(round(naive.hits * 30 / n), 30)
    assert (honest.hit_rate_low, honest.hit_rate_high) == (low, high)
    assert honest.hit_rate_high - honest.hit_rate_low > 3 * (
        naive.hit_rate_high - naive.hit_rate_low
    )
    assert naive.supported and not honest.supported
    assert honest.reason == "720 calls fill 30 independent horizons out of sample (need 300)"
