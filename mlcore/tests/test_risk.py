"""Risk figures on processes whose answer is known: the closed form of first-touch odds against
simulated random walks, conformal ranges through a volatility break, how outcomes are read off
bars, and a leak control (scrambling the future changes nothing before it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.risk import outcomes, ranges, touch, volatility

HOUR = 3_600_000


def random_walk(n: int, sigma: np.ndarray | float, seed: int = 0) -> pd.DataFrame:
    """Hourly bars of a driftless log random walk, each bar's high and low from 12 sub-steps."""
    rng = np.random.default_rng(seed)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n,))
    steps = rng.normal(size=(n, 12)) * (sigma[:, None] / np.sqrt(12))
    path = np.cumsum(steps.ravel()).reshape(n, 12) + np.log(100.0)
    close = np.exp(path[:, -1])
    high, low = np.exp(path.max(axis=1)), np.exp(path.min(axis=1))
    opens = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "open_time": np.arange(n, dtype=np.int64) * HOUR,
            "open": opens,
            "high": np.maximum(high, opens),
            "low": np.minimum(low, opens),
            "close": close,
        }
    )


def test_the_closed_form_is_the_gamblers_ruin_without_a_time_limit_and_zero_at_the_start():
    a, b = np.array([1.0, 2.0, 0.5]), np.array([1.0, 1.0, 1.5])
    forever = touch.driftless(a, b, np.full(3, 1e4))
    np.testing.assert_allclose(forever[:, 0], b / (a + b), atol=1e-9)
    np.testing.assert_allclose(forever[:, 1], a / (a + b), atol=1e-9)
    assert np.all(forever[:, 2] < 1e-9)
    instant = touch.driftless(a, b, np.full(3, 1e-6))
    assert np.all(instant[:, 2] > 1 - 1e-6)


def test_first_touch_odds_on_a_driftless_random_walk_match_the_closed_form():
    """Simulated paths finely stepped: the closed form's target, stop and neither shares hold
    within four standard errors, for a long horizon (then p = stop / (stop + target)) and a
    short one."""
    rng = np.random.default_rng(1)
    paths, steps, sigma = 20_000, 400, 0.01  # per step; the horizon's variance: steps sigma^2
    a, b = 0.15, 0.10  # log distances to the target and the stop
    for horizon in (steps, steps // 8):
        walk = np.cumsum(rng.normal(0, sigma, size=(paths, horizon)), axis=1)
        up, down = walk >= a, walk <= -b
        first_up = np.where(up.any(axis=1), up.argmax(axis=1), horizon)
        first_down = np.where(down.any(axis=1), down.argmax(axis=1), horizon)
        target = (first_up < first_down).mean()
        stop = (first_down < first_up).mean()
        p = touch.driftless(np.array([a]), np.array([b]), np.array([horizon * sigma**2]))[0]
        if horizon == steps:
            long_target = p[0]
        # Discrete steps overshoot less often than a continuous path touches: the closed form
        # is the limit; with 0.01 steps against 0.1 barriers the bias is within a few points.
        for simulated, closed in ((target, p[0]), (stop, p[1])):
            se = np.sqrt(closed * (1 - closed) / paths)
            assert abs(simulated - closed) < 4 * se + 0.03, (horizon, simulated, closed)
    assert long_target == pytest.approx(b / (a + b), abs=0.1)  # nearing the ruin odds


def test_a_bar_touching_both_levels_counts_as_the_stop_and_unresolved_ideas_say_so():
    high = np.array([100.0, 103.0, 101.0, 100.0])
    low = np.array([100.0, 97.0, 99.0, 100.0])
    start = np.array([0, 0, 2, 3])
    side = np.array([1, -1, 1, 1])
    upper = np.array([102.0, 102.0, 102.0, 102.0])
    lower = np.array([98.0, 98.0, 98.0, 98.0])
    got = outcomes.first_touch(high, low, start, upper, lower, side, 1)
    assert list(got) == [outcomes.STOP, outcomes.STOP, outcomes.NEITHER, -1]
    long_only_up = outcomes.first_touch(high, np.full(4, 99.5), start[:1], upper[:1], lower[:1],
                                        side[:1], 2)  # fmt: skip
    assert list(long_only_up) == [outcomes.TARGET]


def _coverage_after_a_break(groups: bool) -> tuple[float, float]:
    """A GARCH(1,1)-like series whose volatility triples halfway; the ranges are normalised by
    a deliberately stale forecast (the calm regime's level), so only the conformal update can
    restore coverage after the break."""
    rng = np.random.default_rng(7)
    n, h = 12_000, 1
    var = np.empty(n)
    var[0] = 1e-4
    shock = rng.standard_t(5, size=n) / np.sqrt(5 / 3)
    e = np.empty(n)  # the GARCH innovations; the observed returns triple after the break
    for t in range(n):
        if t:
            var[t] = 1e-6 + 0.1 * e[t - 1] ** 2 + 0.85 * var[t - 1]
        e[t] = np.sqrt(var[t]) * shock[t]
    r = np.where(np.arange(n) >= n // 2, 3.0, 1.0) * e
    stale = np.full(n, np.sqrt(1e-6 / 0.05))  # the calm regime's unconditional spread
    z = np.r_[r[1:], np.nan] / stale  # the next bar's move, in the stale forecast's units
    buckets = ranges.volatility_buckets(np.sqrt(var)) if groups else None
    r90 = ranges.adaptive_ranges(z, h, 0.9, buckets)
    inside = ranges.covered(z, r90)
    after = inside[n // 2 + 1_000 :]  # a thousand bars to recover
    before = inside[1_000 : n // 2]
    return float(np.nanmean(before)), float(np.nanmean(after))


def test_conformal_ranges_recover_their_coverage_after_a_volatility_break():
    before, after = _coverage_after_a_break(groups=False)
    assert 0.88 <= before <= 0.92 and 0.88 <= after <= 0.92
    before, after = _coverage_after_a_break(groups=True)
    assert 0.88 <= before <= 0.92 and 0.88 <= after <= 0.92


def test_without_the_update_a_stale_range_misses_after_the_break():
    """The negative control: the same quantiles frozen from the calm half cover far less."""
    rng = np.random.default_rng(7)
    calm = rng.standard_t(5, size=6_000) / np.sqrt(5 / 3)
    wild = 3 * rng.standard_t(5, size=6_000) / np.sqrt(5 / 3)
    lo, hi = np.quantile(calm, [0.05, 0.95])
    assert ((wild >= lo) & (wild <= hi)).mean() < 0.6


def test_scrambling_the_future_changes_no_forecast_or_range_before_it():
    bars = random_walk(4_000, 0.01, seed=3)
    cut = 3_000
    scrambled = bars.copy()
    rng = np.random.default_rng(0)
    later = scrambled.iloc[cut:].sample(frac=1.0, random_state=1)
    for column in ("open", "high", "low", "close"):
        scrambled.loc[cut:, column] = later[column].to_numpy() * rng.uniform(0.5, 2.0)

    def figures(frame: pd.DataFrame):
        f = volatility.features(
            *(frame[c].to_numpy() for c in ("open_time", "high", "low", "close")), HOUR
        )
        y = outcomes.forward_variance(frame["close"].to_numpy(), 4)
        train = np.arange(len(frame)) < 2_000  # outcomes end well before the cut
        fitted = volatility.fit("model", [f[train].reset_index(drop=True)], [y[train]], 4, HOUR)
        var = fitted.predict(f)
        z = outcomes.forward_move(frame["close"].to_numpy(), 4) / np.sqrt(var)
        r = ranges.adaptive_ranges(z, 4, 0.9, ranges.volatility_buckets(np.sqrt(var)))
        return var, r.lo, r.hi

    original, changed = figures(bars), figures(scrambled)
    for a, b in zip(original, changed, strict=True):
        np.testing.assert_array_equal(a[:cut], b[:cut])
        assert not np.allclose(a[cut + 10 :], b[cut + 10 :], equal_nan=True)  # the control


def test_a_weeks_figures_in_one_pass_equal_the_live_figure_at_each_bar():
    """``intervals_over`` (what ``simulate`` and ``evaluate`` read) equals ``intervals_at`` on
    the bars up to each row (what live inference reads), across week boundaries; its span
    starts at the same bar for every bar of a week."""
    from mlcore.pipeline.risk.model import Bars, fit_risk, intervals_at, intervals_over

    frame = random_walk(5_200, np.r_[np.full(2_600, 0.01), np.full(2_600, 0.02)], seed=5)
    bars = Bars.of(frame)
    model = fit_risk([bars], HOUR, int(bars.open_time[3_000]))
    rng = np.random.default_rng(2)
    rows = np.sort(rng.choice(np.arange(3_700, 5_200), size=30, replace=False))
    batch = intervals_over(model, bars, rows)
    assert sum(found is not None for found in batch) == len(rows)
    for row, found in zip(rows, batch, strict=True):
        live = intervals_at(model, bars.slice(0, row + 1))
        assert [(m.h, spread, z) for m, spread, z in live] == [
            (m.h, spread, z) for m, spread, z in found
        ], f"row {row}"
    weeks = {model.span_first(int(t)) for t in bars.open_time[rows]}
    assert len(weeks) > 3  # the rows cross several weeks (and so several passes)
