"""Backtest benchmark: the engine on 1,000,000 bars with fees, funding and slippage, beside
backtesting.py and vectorbt on the same signals (where they install) and a bare numpy PnL line.

    .venv/bin/python benchmarks/backtest.py [--bars 1000000] [--backtesting-bars 100000]

The engine needs only numpy, numba and TA-Lib, so this script also runs from a scratch
environment that holds the other libraries (pip install backtesting vectorbt) with this
repository on the path. Signals: a 24-bar momentum rule. backtesting.py loops in Python per
bar, so it runs on --backtesting-bars and its bars/s is compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bars import continuous_bars  # noqa: E402
from benchmarks.targets import Targets  # noqa: E402
from mlcore.backtest.data import market_from_frames  # noqa: E402
from mlcore.backtest.engine import Costs, Margin, Market, run  # noqa: E402

FEE, SLIP = 0.0005, 0.0001


def bars(total: int) -> tuple[Market, pd.DataFrame]:
    """The engine's market, and the same bars as the frame the other libraries take."""
    candles, funding = continuous_bars(total)
    frame = candles.set_index(pd.to_datetime(candles["open_time"], unit="ms"))
    frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    return market_from_frames(candles, funding, "1h"), frame


def momentum(close: np.ndarray, n: int = 24) -> np.ndarray:
    target = np.zeros_like(close)
    target[n:] = np.sign(close[n:] - close[:-n])
    return target


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def numpy_line(market: Market, target: np.ndarray) -> np.ndarray:
    """The limit: held position x next return, minus fees and slippage on changes."""
    held = np.r_[0.0, target[:-1]]
    returns = np.r_[0.0, np.diff(market.open) / market.open[:-1]]
    costs = (FEE + SLIP) * np.abs(np.diff(np.r_[0.0, held]))
    return np.cumprod(1.0 + held * returns - costs)


def mark_to_market_equity(market: Market, target: np.ndarray, fee: float, slip: float) -> float:
    """The same orders, accounted another way (plain Python, no funding): equity carried from
    close to close by the quantity held, each fill at the next open paying its fee and its
    slippage. The engine books realized PnL against an average entry instead; on the same
    orders both must end at the same equity, or comparing their speed means nothing."""
    equity, qty, last = 10_000.0, 0.0, market.open[0]
    for t in range(len(market)):
        reference = last
        if t > 0 and (t == 1 or target[t - 1] != target[t - 2]):
            equity += qty * (market.open[t] - last)  # marked at the open before the fill
            want = target[t - 1] * equity / market.open[t]
            dq = want - qty
            if dq != 0.0:
                price = market.open[t] * (1.0 + slip if dq > 0 else 1.0 - slip)
                equity -= fee * abs(dq) * price + dq * (price - market.open[t])
            qty, reference = want, market.open[t]
        equity += qty * (market.close[t] - reference)
        last = market.close[t]
    return equity


def same_final_equity(
    market: Market, target: np.ndarray, bars: int = 20_000
) -> tuple[float, float]:
    """The engine's and the peer's final equity on the first ``bars`` bars, funding removed."""
    part = market.span(None, int(market.open_time[bars - 1]))
    part = Market(
        part.open_time, part.open, part.high, part.low, part.close,
        part.funding_time, np.zeros_like(part.funding_rate), part.funding_mark, part.step_ms,
    )  # fmt: skip
    engine = run(part, target[:bars], costs=Costs(taker_fee=FEE, slippage_bps=SLIP * 10_000))
    assert engine.liquidations == 0, "a liquidation: the peer does not model them"
    return float(engine.equity[-1]), mark_to_market_equity(part, target[:bars], FEE, SLIP)


def vectorbt_seconds(frame: pd.DataFrame, target: np.ndarray) -> float | None:
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    size = pd.Series(np.r_[np.nan, target[:-1]], index=frame.index)  # decided at t, filled t+1
    size[size.shift() == size] = np.nan  # orders only where the target changes

    def once() -> None:
        portfolio = vbt.Portfolio.from_orders(
            frame["Close"], size=size, size_type="targetpercent", price=frame["Open"],
            fees=FEE, slippage=SLIP, freq="1h",
        )  # fmt: skip
        portfolio.total_return()

    once()  # compile its numba kernels first
    return best_of(once)


def backtesting_seconds(frame: pd.DataFrame, target: np.ndarray) -> float | None:
    try:
        from backtesting import Backtest, Strategy
    except ImportError:
        return None
    signal = target

    class Momentum(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            want = signal[len(self.data) - 1]
            if want > 0 and not self.position.is_long:
                self.buy()
            elif want < 0 and not self.position.is_short:
                self.sell()
            elif want == 0 and self.position:
                self.position.close()

    test = Backtest(frame, Momentum, commission=FEE + SLIP, exclusive_orders=True, cash=1e12)
    return best_of(lambda: test.run(), repeat=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--backtesting-bars", type=int, default=100_000)
    args = parser.parse_args()
    market, frame = bars(args.bars)
    target = momentum(market.close)
    costs = Costs(taker_fee=FEE, slippage_bps=SLIP * 10_000)
    run(market, target, costs=costs, margin=Margin())  # compile first
    ours = best_of(lambda: run(market, target, costs=costs, margin=Margin()))
    bare = best_of(lambda: numpy_line(market, target))
    n = args.bars
    print(
        f"backtest benchmark: {n:,} bars, 24-bar momentum, {np.count_nonzero(np.diff(target))} "
        f"target changes, {len(market.funding_time):,} funding settlements, {os.cpu_count()} CPUs"
    )
    targets = Targets()
    ours_equity, peer_equity = same_final_equity(market, target)
    agree = abs(ours_equity - peer_equity) <= 1e-9 * abs(peer_equity)
    print(
        f"same orders, same end: engine {ours_equity:,.6f} vs mark-to-market peer "
        f"{peer_equity:,.6f} USDT ({targets.check('engine and peer reach the same equity', agree)})"
    )
    if not agree:
        targets.finish()  # a speed comparison of two different computations means nothing
    print(f"engine (fees+funding+slippage+liquidation): {ours:8.3f} s  {n / ours:14,.0f} bars/s")
    print(
        f"bare numpy PnL line (the limit):            {bare:8.3f} s  {n / bare:14,.0f} bars/s"
        f"  -> engine is {ours / bare:.2f}x its time (target <= 5x: "
        f"{targets.check('engine <= 5x the bare numpy line', ours / bare <= 5)})"
    )
    vbt = vectorbt_seconds(frame, target)
    if vbt is None:
        print("vectorbt: not installed, skipped")
    else:
        print(
            f"vectorbt from_orders (no funding):          {vbt:8.3f} s  {n / vbt:14,.0f} bars/s"
            f"  -> engine is {vbt / ours:.1f}x faster (target >= 1x: "
            f"{targets.check('engine at least as fast as vectorbt', vbt / ours >= 1)})"
        )
    small = args.backtesting_bars
    bt = backtesting_seconds(frame.iloc[:small], target[:small])
    if bt is None:
        print("backtesting.py: not installed, skipped")
    else:
        print(
            f"backtesting.py on {small:,} bars (no funding): {bt:8.3f} s {small / bt:14,.0f} bars/s"
            f"  -> engine is {(n / ours) / (small / bt):.0f}x faster per bar (target >= 10x: "
            f"{targets.check('>= 10x backtesting.py per bar', (n / ours) / (small / bt) >= 10)})"
        )
    targets.finish()


if __name__ == "__main__":
    main()
