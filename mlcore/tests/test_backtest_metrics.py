from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlcore.backtest import baselines, metrics
from mlcore.backtest.data import market_from_frames
from mlcore.backtest.engine import BacktestResult, Costs, Margin, Trades, run

H = 3_600_000


def result_from(equity: list[float], pnl: list[float], quantity: list[float] | None = None):
    n = len(equity)
    empty = np.zeros(len(pnl))
    trades = Trades(empty, empty, empty, empty, empty, empty, np.array(pnl), empty, empty, empty)
    qty = np.array(quantity if quantity is not None else [1.0] * n)
    return BacktestResult(np.array(equity), qty, qty, 3.0, 1.5, 0, trades, 100.0, 400.0)


def test_metrics_by_hand():
    equity = [110.0, 99.0, 108.9, 130.68]
    m = metrics.compute(result_from(equity, [10.0, -5.0, 20.0]), step_ms=86_400_000)
    r = np.array([0.1, -0.1, 0.1, 0.2])
    assert m.total_return == pytest.approx(0.3068)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    assert m.sortino == pytest.approx(
        r.mean() / math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(365)
    )
    assert m.max_drawdown == pytest.approx(99.0 / 110.0 - 1)
    assert m.max_drawdown_days == 2  # under the 110 peak on days 2 and 3
    assert m.cagr == pytest.approx(1.3068 ** (365 / 4) - 1)
    assert m.calmar == pytest.approx(m.cagr / (1 - 99.0 / 110.0))
    assert m.win_rate == pytest.approx(2 / 3) and m.profit_factor == pytest.approx(6.0)
    assert m.turnover == pytest.approx(400.0 / np.mean(equity) / (4 / 365))
    assert (m.fees, m.funding, m.trades) == (3.0, 1.5, 3)


def test_probabilistic_sharpe_follows_the_formula():
    rng = np.random.default_rng(3)
    r = rng.standard_t(5, 2000) * 0.01 + 0.0008
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    expected = stats.norm.cdf(
        sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    )
    assert metrics.probabilistic_sharpe(r) == pytest.approx(expected)
    assert metrics.probabilistic_sharpe(np.zeros(10)) is None


def test_annualisation_follows_the_bar_interval():
    equity = list(100 * np.cumprod(1 + np.tile([0.01, -0.005], 50)))
    hourly = metrics.compute(result_from(equity, []), step_ms=H)
    daily = metrics.compute(result_from(equity, []), step_ms=24 * H)
    assert hourly.sharpe == pytest.approx(daily.sharpe * math.sqrt(24))


@pytest.fixture(scope="module")
def market(btc):
    candles, funding = btc
    return market_from_frames(candles.iloc[:3000], funding, "1h")


def test_baselines_and_random_percentile(market):
    costs, margin = Costs(), Margin()
    flat = metrics.compute(run(market, baselines.flat(market)), market.step_ms)
    assert flat.total_return == 0 and flat.trades == 0 and flat.exposure == 0
    held = run(market, baselines.buy_and_hold(market))
    hold = metrics.compute(held, market.step_ms)
    qty, entry = held.quantity[-1], held.trades.entry_price[0]
    # Buy and hold ends at the price move on its quantity, less fees and the funding it paid.
    expected = 10_000 + qty * (market.close[-1] - entry) - held.fees - held.funding
    assert held.equity[-1] == pytest.approx(expected, rel=1e-12)
    assert hold.funding > 0 and hold.exposure == pytest.approx(1 - 1 / len(market))

    target = baselines.momentum(market)
    rng = np.random.default_rng(0)
    twin = baselines.random_like(target, rng)
    assert np.count_nonzero(np.diff(twin)) <= np.count_nonzero(np.diff(target)) + 1
    strategy = metrics.compute(run(market, target, costs=costs, margin=margin), market.step_ms)
    comparison = baselines.compare(market, target, strategy, costs=costs, margin=margin, runs=30)
    assert set(comparison.baselines) == {"buy_and_hold", "flat", "momentum"}
    assert comparison.baselines["momentum"] == strategy
    assert 0 <= comparison.sharpe_percentile <= 100 and comparison.random_runs == 30
    # The percentile ranks: a target that knows the next bar's move beats every random run of
    # its turnover; the same target reversed beats none.
    move = np.sign(np.r_[market.open[2:] - market.open[1:-1], 0.0, 0.0])
    for planted, percentile in ((move, 100.0), (-move, 0.0)):
        known = metrics.compute(run(market, planted, costs=costs, margin=margin), market.step_ms)
        ranked = baselines.compare(market, planted, known, costs=costs, margin=margin, runs=30)
        assert ranked.sharpe_percentile == percentile
