"""What a journaled trade made, and how far it went for and against it. Pure; no Django.

PnL is computed, never typed in: price move x quantity, less fees and funding (both as paid:
positive costs, negative income). MAE/MFE (maximum adverse / favourable excursion) come from the
candles that traded while the position was open, per unit and as a share of the entry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Outcome:
    pnl: float | None  # None while the trade is open
    return_on_margin: float | None  # pnl / (entry notional / leverage)
    mae: float | None  # per unit, >= 0
    mfe: float | None
    mae_pct: float | None  # of the entry price
    mfe_pct: float | None


def outcome(
    side: int,  # +1 long, -1 short
    entry: float,
    exit: float | None,
    quantity: float,
    leverage: float,
    fees: float,
    funding: float,
    highs: np.ndarray,
    lows: np.ndarray,
) -> Outcome:
    if side not in (1, -1):
        raise ValueError("side must be +1 (long) or -1 (short)")
    pnl = None if exit is None else side * (exit - entry) * quantity - fees - funding
    margin = entry * quantity / leverage
    rom = None if pnl is None or margin <= 0 else pnl / margin
    if len(highs):
        up, down = float(np.max(highs)) - entry, entry - float(np.min(lows))
        favourable, adverse = (up, down) if side > 0 else (down, up)
        mfe, mae = max(favourable, 0.0), max(adverse, 0.0)
        return Outcome(pnl, rom, mae, mfe, mae / entry, mfe / entry)
    return Outcome(pnl, rom, None, None, None, None)
