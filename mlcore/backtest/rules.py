"""From graded signals to target exposure: grade filter, holding rules, sizing. Pure.

Everything here is decided at a bar's close from what is known then; the engine fills it at
the next open."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import talib

YEAR_MS = 365 * 86_400_000


def grade_filter(signal: np.ndarray, grade: np.ndarray, allowed: tuple[str, ...]) -> np.ndarray:
    """Signals whose grade is not allowed become 0 (no new signal)."""
    return np.where(np.isin(grade, allowed), signal, 0.0)


@dataclass(frozen=True)
class HoldingRules:
    exit_on_opposite: bool = True  # an opposite signal closes (and reverses) the position
    timeout: int | None = None  # bars after entry
    take_profit_atr: float | None = None  # barrier exits, in ATR(14) from the entry close
    stop_loss_atr: float | None = None


@numba.njit(cache=True)
def _hold(signal, high, low, close, atr, opposite, timeout, tp, sl):  # pragma: no cover
    n = signal.shape[0]
    out = np.zeros(n)
    side = 0.0
    entered = -1
    entry = 0.0
    entry_atr = 0.0
    for t in range(n):
        s = signal[t]
        if side != 0.0:
            exit_now = False
            if timeout > 0 and t - entered >= timeout:
                exit_now = True
            up = tp * entry_atr if side > 0 else sl * entry_atr  # distance to the upper exit
            down = sl * entry_atr if side > 0 else tp * entry_atr
            if entry_atr > 0 and up > 0 and high[t] >= entry + up:
                exit_now = True
            if entry_atr > 0 and down > 0 and low[t] <= entry - down:
                exit_now = True
            if opposite and s != 0.0 and s != side:
                exit_now = True
            if exit_now:
                side = 0.0
        if side == 0.0 and s != 0.0:
            side = s
            entered = t
            entry = close[t]
            entry_atr = atr[t] if not np.isnan(atr[t]) else 0.0
        out[t] = side
    return out


def hold_positions(
    signal: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    rules: HoldingRules | None = None,
) -> np.ndarray:
    """Direction held after each bar (-1, 0, +1): a signal opens a position, which stays
    until a rule closes it."""
    rules = rules or HoldingRules()
    atr = talib.ATR(high, low, close, 14)
    return _hold(
        np.sign(np.asarray(signal, dtype=np.float64)), high, low, close, atr,
        rules.exit_on_opposite, rules.timeout or 0,
        rules.take_profit_atr or 0.0, rules.stop_loss_atr or 0.0,
    )  # fmt: skip


def fixed_fraction(direction: np.ndarray, fraction: float, leverage: float) -> np.ndarray:
    """Margin of ``fraction`` of equity at ``leverage``: exposure = fraction x leverage."""
    return direction * fraction * leverage


def volatility_target(
    direction: np.ndarray,
    close: np.ndarray,
    step_ms: int,
    *,
    annual_vol: float = 0.5,
    window: int = 168,
    max_leverage: float = 3.0,
) -> np.ndarray:
    """Exposure scaled so the position's volatility is ``annual_vol``, from the realised
    volatility of the last ``window`` bars (known at the close), capped at ``max_leverage``."""
    returns = np.r_[np.nan, np.diff(np.log(close))]
    realised = talib.STDDEV(returns, window, 1.0) * math.sqrt(YEAR_MS / step_ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.clip(np.nan_to_num(annual_vol / realised, nan=0.0), 0.0, max_leverage)
    return direction * scale
