"""The compiled engine against a plain per-bar loop written from the documented semantics."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.backtest.data import market_from_frames
from mlcore.backtest.engine import Costs, Margin, Market, run


def reference(market: Market, target, costs: Costs, margin: Margin, initial: float = 10_000.0):
    """Readable, slow restatement: returns equity per bar, total fees, total funding,
    liquidation count and (entry_bar, exit_bar, side, pnl) per trade."""
    slip = np.full(len(market), costs.slippage_bps / 10_000.0)
    fee_rate = costs.fee_rate
    settlements = {}
    for time, rate, mark in zip(
        market.funding_time, market.funding_rate, market.funding_mark, strict=True
    ):
        bar = int(np.searchsorted(market.open_time, time, "right")) - 1
        if 0 <= bar < len(market) and time < market.open_time[-1] + market.step_ms:
            settlements.setdefault(bar, []).append((rate, mark))
    cash, qty, entry = initial, 0.0, 0.0
    fees = funding = 0.0
    liquidations = 0
    trades, current = [], None
    equity = []

    def close_trade(bar, extra_pnl, extra_fee, reason):
        nonlocal current
        current["pnl"] += extra_pnl
        current["fees"] += extra_fee
        trades.append(
            (
                current["entry"],
                bar,
                current["side"],
                current["pnl"] - current["fees"] - current["funding"],
                reason,
            )
        )
        current = None

    for t in range(len(market)):
        o, h, lo, c = market.open[t], market.high[t], market.low[t], market.close[t]
        if t >= 1 and (t == 1 or target[t - 1] != target[t - 2]):
            account = cash + qty * (o - entry)
            wiped = account <= 1e-9 * initial
            want = 0.0 if wiped else target[t - 1] * account / o
            trade = want - qty
            if trade != 0:
                price = o * (1 + slip[t]) if trade > 0 else o * (1 - slip[t])
                fee = fee_rate * abs(trade) * price
                cash -= fee
                fees += fee
                same_side = qty == 0 or (trade > 0) == (qty > 0)
                if same_side:
                    if current is None:
                        current = {
                            "entry": t,
                            "side": 1.0 if trade > 0 else -1.0,
                            "pnl": 0.0,
                            "fees": 0.0,
                            "funding": 0.0,
                        }
                    entry = (entry * qty + price * trade) / (qty + trade)
                    qty = want
                    current["fees"] += fee
                else:
                    closing = min(abs(trade), abs(qty))
                    realized = closing * np.sign(qty) * (price - entry)
                    cash += realized
                    current["pnl"] += realized
                    current["fees"] += fee * closing / abs(trade)
                    rest = abs(trade) - closing
                    if abs(want) < 1e-12 or rest > 0:
                        close_trade(t, 0.0, 0.0, 0)
                        qty, entry = 0.0, 0.0
                        if rest > 0:
                            qty, entry = rest * np.sign(trade), price
                            current = {
                                "entry": t,
                                "side": np.sign(trade),
                                "pnl": 0.0,
                                "fees": fee * rest / abs(trade),
                                "funding": 0.0,
                            }
                    else:
                        qty = want
        for rate, mark in settlements.get(t, []):
            paid = qty * (o if np.isnan(mark) else mark) * rate
            cash -= paid
            funding += paid
            if current is not None:
                current["funding"] += paid
        if qty > 0 and lo <= entry * (1 - 1 / margin.leverage + margin.maintenance_rate):
            px = min(entry * (1 - 1 / margin.leverage + margin.maintenance_rate), o)
        elif qty < 0 and h >= entry * (1 + 1 / margin.leverage - margin.maintenance_rate):
            px = max(entry * (1 + 1 / margin.leverage - margin.maintenance_rate), o)
        else:
            px = None
        if px is not None:
            posted = abs(qty) * entry / margin.leverage  # isolated: the most it can lose
            realized = max(qty * (px - entry), -posted)
            fee = min(margin.liquidation_fee * abs(qty) * px, posted + realized)
            cash += realized - fee
            fees += fee
            liquidations += 1
            close_trade(t, realized, fee, 1)
            qty, entry = 0.0, 0.0
        equity.append(cash + qty * (c - entry))
    if qty != 0:
        close_trade(len(market) - 1, qty * (market.close[-1] - entry), 0.0, 2)
    return np.array(equity), fees, funding, liquidations, trades


@pytest.fixture(scope="module")
def market(btc):
    candles, funding = btc
    return market_from_frames(candles, funding.rename(columns={}), "1h")


def momentum(market: Market, bars: int = 24) -> np.ndarray:
    close = market.close
    signal = np.zeros_like(close)
    signal[bars:] = np.sign(close[bars:] - close[:-bars])
    return signal


def random_targets(market: Market, leverage: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    changes = rng.random(len(market)) < 0.02
    levels = rng.choice([-leverage, -leverage / 2, 0.0, leverage / 2, leverage], len(market))
    target = np.zeros(len(market))
    current = 0.0
    for t in range(len(market)):
        current = levels[t] if changes[t] else current
        target[t] = current
    return target


CASES = [
    ("momentum 1x", lambda m: momentum(m), Costs(), Margin(leverage=1.0)),
    (
        "momentum 3x maker",
        lambda m: 3 * momentum(m, 12),
        Costs(as_maker=True, slippage_bps=3),
        Margin(leverage=3.0),
    ),
    ("random 10x", lambda m: random_targets(m, 10.0, 1), Costs(), Margin(leverage=10.0)),
    (
        "random 25x",
        lambda m: random_targets(m, 25.0, 2),
        Costs(slippage_bps=5),
        Margin(leverage=25.0),
    ),
    ("buy and hold", lambda m: np.ones(len(m)), Costs(), Margin()),
]


@pytest.mark.parametrize(
    ("name", "make_target", "costs", "margin"), CASES, ids=[c[0] for c in CASES]
)
def test_engine_matches_the_reference_loop_on_real_data(market, name, make_target, costs, margin):
    target = make_target(market)
    result = run(market, target, costs=costs, margin=margin)
    equity, fees, funding, liquidations, trades = reference(market, target, costs, margin)
    np.testing.assert_allclose(result.equity, equity, rtol=1e-9)
    assert result.fees == pytest.approx(fees, rel=1e-9)
    assert result.funding == pytest.approx(funding, rel=1e-9, abs=1e-9)
    assert result.liquidations == liquidations
    assert len(result.trades) == len(trades)
    got = list(
        zip(
            result.trades.entry_bar,
            result.trades.exit_bar,
            result.trades.side,
            result.trades.reason,
            strict=True,
        )
    )
    assert got == [(e, x, s, r) for e, x, s, _, r in trades]
    np.testing.assert_allclose(result.trades.pnl, [p for *_, p, _ in trades], rtol=1e-9, atol=1e-6)
    if name.startswith("random 25x"):
        assert liquidations > 0  # the case exists to exercise liquidation


def test_fills_happen_at_the_next_open_never_the_signal_bar(market):
    target = np.zeros(len(market))
    target[100:] = 1.0
    result = run(market, target, costs=Costs(taker_fee=0.0, slippage_bps=0.0))
    assert result.quantity[100] == 0.0 and result.quantity[101] != 0.0
    assert result.trades.entry_price[0] == market.open[101]


def test_funding_is_paid_at_settlement_times_on_mark_notional(market):
    target = np.ones(len(market))
    result = run(market, target, costs=Costs(taker_fee=0.0, slippage_bps=0.0))
    qty = result.quantity[5]  # held unchanged from bar 1 to the end
    held = market.funding_time >= market.open_time[1]
    expected = qty * np.sum(market.funding_mark[held] * market.funding_rate[held])
    assert expected > 0  # rates were mostly positive: longs paid
    assert result.funding == pytest.approx(expected, rel=1e-9)
    assert result.trades.funding[0] == pytest.approx(result.funding)


def test_bad_targets_are_refused_clearly(market):
    with pytest.raises(ValueError, match="exceeds leverage"):
        run(market, np.full(len(market), 2.0), margin=Margin(leverage=1.0))
    with pytest.raises(ValueError, match="NaN"):
        run(market, np.full(len(market), np.nan))
    with pytest.raises(ValueError, match="bars"):
        run(market, np.zeros(3))


def test_a_liquidation_never_takes_more_than_the_margin_and_a_wiped_account_opens_nothing():
    """A 1x short through a doubling: the loss plus the liquidation fee would exceed the equity;
    isolated margin caps it at the margin, so equity ends at zero, never below, and later
    targets (which times a negative equity would have opened the other side) open nothing."""
    n = 12
    close = np.array([100.0, 100, 100, 150, 210, 210, 200, 190, 180, 170, 160, 150])
    open_ = np.r_[100.0, close[:-1]]
    market = Market(
        np.arange(n, dtype=np.int64) * 3_600_000, open_, np.maximum(open_, close) * 1.01,
        np.minimum(open_, close) * 0.99, close, np.array([], np.int64), np.array([]),
        np.array([]), 3_600_000,
    )  # fmt: skip
    target = np.array([-1.0, -1, -1, -1, -1, 1, 1, -1, -1, 1, 1, 1])
    costs = Costs(taker_fee=0.0, slippage_bps=0.0)
    result = run(market, target, costs=costs, margin=Margin(leverage=1.0))
    assert result.liquidations == 1
    assert result.equity.min() == pytest.approx(0.0, abs=1e-9)
    assert np.all(result.quantity[5:] == 0.0)  # nothing opened after the wipe
    equity, *_ = reference(market, target, costs, Margin(leverage=1.0))
    np.testing.assert_allclose(result.equity, equity, atol=1e-9)
