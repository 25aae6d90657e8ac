"""Performance metrics of a backtest, annualised for its bar interval. Pure; no Django.

Crypto futures trade around the clock: a year is 365 days of bars."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from mlcore.backtest.engine import BacktestResult

YEAR_MS = 365 * 86_400_000


@dataclass(frozen=True)
class Metrics:
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float  # negative fraction
    max_drawdown_days: float  # longest time under a previous peak
    win_rate: float | None
    profit_factor: float | None
    exposure: float  # share of bars holding a position
    turnover: float  # traded notional per year, in multiples of mean equity
    trades: int
    fees: float
    funding: float
    liquidations: int
    psr: float | None  # probability that the true Sharpe is above zero

    def as_dict(self) -> dict:
        return asdict(self)


def bar_returns(result: BacktestResult) -> np.ndarray:
    equity = np.r_[result.initial_equity, result.equity]
    return equity[1:] / equity[:-1] - 1.0


def probabilistic_sharpe(returns: np.ndarray, benchmark: float = 0.0) -> float | None:
    """Bailey and López de Prado (2012): P(true per-bar Sharpe > benchmark), allowing for the
    skew and fat tails of the returns."""
    n = len(returns)
    std = returns.std(ddof=1) if n > 2 else 0.0
    if std == 0 or not np.isfinite(std):
        return None
    sr = returns.mean() / std
    skew = stats.skew(returns)
    kurt = stats.kurtosis(returns, fisher=False)
    denominator = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    if denominator <= 0:
        return None
    return float(stats.norm.cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(denominator)))


def _drawdown(equity: np.ndarray) -> tuple[float, int]:
    peak = np.maximum.accumulate(equity)
    drawdown = equity / peak - 1.0
    under = drawdown < 0
    longest = run = 0
    for flag in under:  # the longest stretch below a previous peak, in bars
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return float(drawdown.min()), longest


def compute(result: BacktestResult, step_ms: int) -> Metrics:
    returns = bar_returns(result)
    per_year = YEAR_MS / step_ms
    years = len(returns) / per_year
    std = returns.std(ddof=1) if len(returns) > 1 else 0.0
    downside = math.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)) if len(returns) else 0.0
    total = result.equity[-1] / result.initial_equity - 1.0
    cagr = (1.0 + total) ** (1.0 / years) - 1.0 if total > -1.0 and years > 0 else -1.0
    max_dd, dd_bars = _drawdown(np.r_[result.initial_equity, result.equity])
    pnl = result.trades.pnl
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    return Metrics(
        total_return=float(total),
        cagr=float(cagr),
        sharpe=float(returns.mean() / std * math.sqrt(per_year)) if std > 0 else 0.0,
        sortino=float(returns.mean() / downside * math.sqrt(per_year)) if downside > 0 else 0.0,
        calmar=float(cagr / -max_dd) if max_dd < 0 else 0.0,
        max_drawdown=max_dd,
        max_drawdown_days=dd_bars * step_ms / 86_400_000,
        win_rate=float((pnl > 0).mean()) if len(pnl) else None,
        profit_factor=float(wins / losses) if losses > 0 else None,
        exposure=float((result.quantity != 0).mean()),
        turnover=float(result.traded_notional / np.mean(result.equity) / years) if years else 0.0,
        trades=len(pnl),
        fees=result.fees,
        funding=result.funding,
        liquidations=result.liquidations,
        psr=probabilistic_sharpe(returns),
    )


def curve_points(
    open_time: np.ndarray, equity: np.ndarray, points: int = 2000
) -> list[list[float]]:
    """``[open_time ms, equity, drawdown]`` at up to ``points`` evenly spaced bars, for charts."""
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    keep = np.unique(np.linspace(0, len(equity) - 1, min(points, len(equity))).astype(int))
    return [
        [int(open_time[i]), round(float(equity[i]), 4), round(float(drawdown[i]), 6)] for i in keep
    ]
