"""A USD-M perpetual position, simulated bar by bar in one compiled pass. Pure; no Django.

Semantics (the reference loop in mlcore/tests/test_backtest_engine.py restates them):
- ``target[t]`` is the notional exposure wanted after bar t closes, as a multiple of equity
  (+2 = long twice the equity, -0.5 = short half). It is filled at bar t+1's open, never at
  the bar that produced it. The position is resized only when the target changes; between
  changes the quantity is held, so compounding never churns fees.
- A fill pays slippage (a fraction of price, per bar: bps and/or scaled by ATR) and a fee on
  the traded notional (taker by default, maker if asked).
- Funding is settled at each real funding time inside a bar, on the position held then:
  ``cash -= qty x mark_price x rate`` (positive rates: longs pay shorts).
- Isolated margin: a position posts ``notional / leverage``. It is liquidated when price
  reaches ``entry x (1 -/+ 1/leverage +/- maintenance_rate)`` (long/short), checked against
  the bar's low/high after funding; it closes at that price (or at the open, if the bar opened
  beyond it) and pays the liquidation fee on the notional; the loss and the fee together never
  exceed the margin the position posted (isolated margin: a gap past the price, or a fee
  larger than what is left, is the exchange's insurance fund's, not the trader's). After a
  liquidation the position stays flat until the target changes.
- An account whose equity is gone (zero or less at a fill) is wiped: it opens nothing more
  (a target times negative equity would otherwise open the opposite side).
- Equity is marked to the close of every bar. At the end, an open position is marked, not sold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import talib

# Trade exit reasons, as stored in Trades.reason.
SIGNAL, LIQUIDATION, END = 0, 1, 2
REASONS = {SIGNAL: "signal", LIQUIDATION: "liquidation", END: "end"}


@dataclass(frozen=True)
class Costs:
    taker_fee: float = 0.0005  # Binance USD-M defaults: 0.05 % taker
    maker_fee: float = 0.0002  # and 0.02 % maker
    as_maker: bool = False  # fills as resting orders at the open (maker fee) instead
    slippage_bps: float = 1.0
    slippage_atr: float = 0.0  # plus this fraction of ATR(14) per fill

    @property
    def fee_rate(self) -> float:
        return self.maker_fee if self.as_maker else self.taker_fee

    @classmethod
    def paying(cls, round_trip: float, maker: bool = False) -> Costs:
        """Costs whose fills pay ``round_trip`` in all: a model's frozen cost (its barrier),
        traded as it was judged."""
        half = round_trip / 2
        return cls(taker_fee=half, maker_fee=half, as_maker=maker, slippage_bps=0.0)

    @property
    def round_trip(self) -> float:
        """What a call must move to pay for itself: two taker fees and two slippages, or two
        maker fees for resting limit orders (a maker entry is credited only where its price
        traded in the next bar: ``pipeline.common.fills``)."""
        if self.as_maker:
            return 2 * self.maker_fee
        return 2 * (self.taker_fee + self.slippage_bps / 10_000)


@dataclass(frozen=True)
class Margin:
    leverage: float = 1.0  # margin posted = notional / leverage
    maintenance_rate: float = 0.004
    liquidation_fee: float = 0.005


@dataclass(frozen=True)
class Market:
    open_time: np.ndarray  # epoch ms
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    funding_time: np.ndarray  # epoch ms of each settlement
    funding_rate: np.ndarray
    funding_mark: np.ndarray  # mark price at settlement (NaN: use the bar's open)
    step_ms: int

    def __len__(self) -> int:
        return len(self.close)

    def span(self, first: int | None = None, last: int | None = None) -> Market:
        """The bars opening in [first, last] (either end open when None), with the funding
        settled among them."""
        lo = -np.inf if first is None else first
        hi = np.inf if last is None else last
        keep = (self.open_time >= lo) & (self.open_time <= hi)
        paid = (self.funding_time >= lo) & (self.funding_time <= hi)
        return Market(
            self.open_time[keep],
            self.open[keep],
            self.high[keep],
            self.low[keep],
            self.close[keep],
            self.funding_time[paid],
            self.funding_rate[paid],
            self.funding_mark[paid],
            self.step_ms,
        )

    def funding_bar(self) -> np.ndarray:
        """Bar index each settlement falls in (-1: outside the window)."""
        idx = np.searchsorted(self.open_time, self.funding_time, "right") - 1
        inside = (idx >= 0) & (self.funding_time < self.open_time[-1] + self.step_ms)
        return np.where(inside, idx, -1)


@dataclass(frozen=True)
class Trades:
    entry_bar: np.ndarray
    exit_bar: np.ndarray
    side: np.ndarray  # +1 long, -1 short
    entry_price: np.ndarray  # average entry
    exit_price: np.ndarray  # average exit
    quantity: np.ndarray  # largest absolute size held
    pnl: np.ndarray  # net: price PnL - fees - funding
    fees: np.ndarray
    funding: np.ndarray
    reason: np.ndarray

    def __len__(self) -> int:
        return len(self.pnl)


@dataclass(frozen=True)
class BacktestResult:
    equity: np.ndarray  # marked at each close
    quantity: np.ndarray  # held at each close
    notional: np.ndarray  # quantity x close
    fees: float
    funding: float
    liquidations: int
    trades: Trades
    initial_equity: float
    traded_notional: float  # sum of |quantity change| x the open of the bar it happened in


# Columns of the trades matrix the kernel fills, one row per closed trade.
TRADE_COLUMNS = (
    "entry_bar", "exit_bar", "side", "entry_price", "exit_price",
    "quantity", "pnl", "fees", "funding", "reason",
)  # fmt: skip


@numba.njit(cache=True)
def _record(
    rows, k, entry_bar, exit_bar, side, entry_price, exit_price, qty, pnl, fees, funding, reason
):  # pragma: no cover
    row = rows[k]
    row[0], row[1], row[2], row[3], row[4] = entry_bar, exit_bar, side, entry_price, exit_price
    row[5], row[6], row[7], row[8], row[9] = qty, pnl, fees, funding, reason
    return k + 1


@numba.njit(cache=True)
def _simulate(  # pragma: no cover - compiled; the reference loop in the tests covers it
    open_,
    high,
    low,
    close,
    target,
    slip,
    fund_bar,
    fund_rate,
    fund_mark,
    initial,
    fee_rate,
    leverage,
    mmr,
    liq_fee,
):
    n = close.shape[0]
    equity = np.empty(n)
    held = np.empty(n)
    cash = initial
    qty = 0.0
    entry = 0.0
    fees_total = 0.0
    funding_total = 0.0
    liquidations = 0
    # open trade bookkeeping
    t_entry_bar = -1
    t_side = 0.0
    t_entry_notional = 0.0
    t_entry_qty = 0.0
    t_exit_notional = 0.0
    t_exit_qty = 0.0
    t_max_qty = 0.0
    t_pnl = 0.0
    t_fees = 0.0
    t_funding = 0.0
    rows = np.empty((n, 10))
    k = 0
    f = 0
    nf = fund_bar.shape[0]
    for t in range(n):
        # 1. Fill the previous bar's target at this open, when it changed.
        if t > 0 and (t == 1 or target[t - 1] != target[t - 2]):
            mark = cash + qty * (open_[t] - entry)
            # Wiped (to float noise of nothing): no position, whatever the target.
            want = target[t - 1] * mark / open_[t] if mark > 1e-9 * initial else 0.0
            dq = want - qty
            if dq != 0.0:
                price = open_[t] * (1.0 + slip[t]) if dq > 0 else open_[t] * (1.0 - slip[t])
                fee = fee_rate * abs(dq) * price
                cash -= fee
                fees_total += fee
                opening = dq  # what grows a position (all of dq, unless it first reduces one)
                if qty != 0.0 and (dq > 0) != (qty > 0):
                    closing = min(abs(dq), abs(qty))
                    sign = 1.0 if qty > 0 else -1.0
                    realized = closing * sign * (price - entry)
                    cash += realized
                    t_pnl += realized
                    t_exit_notional += closing * price
                    t_exit_qty += closing
                    t_fees += fee * closing / abs(dq)
                    opening = (abs(dq) - closing) * (1.0 if dq > 0 else -1.0)
                    if abs(want) < 1e-12 or opening != 0.0:
                        # The trade is closed (flat or flipped): record it.
                        k = _record(
                            rows, k, t_entry_bar, t, t_side, t_entry_notional / t_entry_qty,
                            t_exit_notional / t_exit_qty, t_max_qty,
                            t_pnl - t_fees - t_funding, t_fees, t_funding, SIGNAL,
                        )  # fmt: skip
                        qty = 0.0
                        entry = 0.0
                if opening != 0.0:  # open, add to, or (after a flip) reopen a position
                    if qty == 0.0:
                        t_entry_bar = t
                        t_side = 1.0 if opening > 0 else -1.0
                        t_entry_notional = 0.0
                        t_entry_qty = 0.0
                        t_exit_notional = 0.0
                        t_exit_qty = 0.0
                        t_max_qty = 0.0
                        t_pnl = 0.0
                        t_fees = 0.0
                        t_funding = 0.0
                    entry = (entry * qty + price * opening) / (qty + opening)
                    t_entry_notional += abs(opening) * price
                    t_entry_qty += abs(opening)
                    t_fees += fee * abs(opening) / abs(dq)
                    t_max_qty = max(t_max_qty, abs(want))
                if opening != 0.0 or abs(want) >= 1e-12:  # else it was closed flat above
                    qty = want
        # 2. Funding settled inside this bar, on the position held now.
        while f < nf and fund_bar[f] < t:
            f += 1
        while f < nf and fund_bar[f] == t:
            mark_price = fund_mark[f] if not np.isnan(fund_mark[f]) else open_[t]
            payment = qty * mark_price * fund_rate[f]
            cash -= payment
            funding_total += payment
            t_funding += payment
            f += 1
        # 3. Isolated-margin liquidation against the bar's extreme.
        if qty != 0.0:
            if qty > 0:
                liq = entry * (1.0 - 1.0 / leverage + mmr)
                hit = low[t] <= liq
                fill = min(liq, open_[t])
            else:
                liq = entry * (1.0 + 1.0 / leverage - mmr)
                hit = high[t] >= liq
                fill = max(liq, open_[t])
            if hit:
                posted = abs(qty) * entry / leverage  # the most an isolated position can lose
                realized = max(qty * (fill - entry), -posted)
                fee = min(liq_fee * abs(qty) * fill, posted + realized)
                cash += realized - fee
                fees_total += fee
                liquidations += 1
                k = _record(
                    rows,
                    k,
                    t_entry_bar,
                    t,
                    t_side,
                    t_entry_notional / t_entry_qty,
                    (t_exit_notional + abs(qty) * fill) / (t_exit_qty + abs(qty)),
                    t_max_qty,
                    t_pnl + realized - t_fees - fee - t_funding,
                    t_fees + fee,
                    t_funding,
                    LIQUIDATION,
                )
                qty = 0.0
                entry = 0.0  # flat until the target changes: step 1 only acts on a change
        # 4. Mark to the close.
        equity[t] = cash + qty * (close[t] - entry)
        held[t] = qty
    if qty != 0.0:
        realized = qty * (close[n - 1] - entry)
        k = _record(
            rows,
            k,
            t_entry_bar,
            n - 1,
            t_side,
            t_entry_notional / t_entry_qty,
            (t_exit_notional + abs(qty) * close[n - 1]) / (t_exit_qty + abs(qty)),
            t_max_qty,
            t_pnl + realized - t_fees - t_funding,
            t_fees,
            t_funding,
            END,
        )
    return equity, held, fees_total, funding_total, liquidations, rows[:k]


def slippage(market: Market, costs: Costs) -> np.ndarray:
    """Slippage per fill as a fraction of price, known before the fill (ATR of the bar before)."""
    slip = np.full(len(market), costs.slippage_bps / 10_000.0)
    if costs.slippage_atr:
        atr = talib.ATR(market.high, market.low, market.close, 14)
        previous = np.r_[np.nan, atr[:-1]] / market.open
        slip += costs.slippage_atr * np.nan_to_num(previous)
    return slip


def run(
    market: Market,
    target: np.ndarray,
    *,
    costs: Costs | None = None,
    margin: Margin | None = None,
    initial_equity: float = 10_000.0,
) -> BacktestResult:
    costs, margin = costs or Costs(), margin or Margin()
    target = np.asarray(target, dtype=np.float64)
    if target.shape != market.close.shape:
        raise ValueError(f"target has {target.shape[0]} bars, the market {len(market)}")
    if np.isnan(target).any():
        raise ValueError("target has NaN: say 0 for flat")
    if np.abs(target).max(initial=0.0) > margin.leverage + 1e-12:
        raise ValueError(
            f"target exposure {np.abs(target).max():.2f}x exceeds leverage {margin.leverage}x"
        )
    out = _simulate(
        market.open, market.high, market.low, market.close, target, slippage(market, costs),
        market.funding_bar(), market.funding_rate, market.funding_mark,
        float(initial_equity), costs.fee_rate, float(margin.leverage),
        margin.maintenance_rate, margin.liquidation_fee,
    )  # fmt: skip
    equity, held, fees, funding, liquidations, rows = out
    columns = dict(zip(TRADE_COLUMNS, rows.T, strict=True))
    for name in ("entry_bar", "exit_bar", "reason"):
        columns[name] = columns[name].astype(np.int64)
    return BacktestResult(
        equity=equity,
        quantity=held,
        notional=held * market.close,
        fees=float(fees),
        funding=float(funding),
        liquidations=int(liquidations),
        trades=Trades(**columns),
        initial_equity=float(initial_equity),
        traded_notional=float(np.abs(np.diff(np.r_[0.0, held])) @ market.open),
    )
