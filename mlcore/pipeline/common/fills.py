"""Would a maker entry have filled? A hand trader who enters with a limit order at the call's
close (a buy for a long, a sell for a short) pays the maker fee only if the price trades
through it in the next bar; a call whose limit was never reached made nothing and lost
nothing, so it is not credited as a hit or a miss, only counted. Pure."""

from __future__ import annotations

import numpy as np


def next_bar_extremes(
    open_time: np.ndarray, low: np.ndarray, high: np.ndarray, step_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each bar's next bar's low and high (one symbol's bars in time order); NaN at the end or
    across a hole."""
    next_low, next_high = np.full(len(low), np.nan), np.full(len(high), np.nan)
    exact = np.diff(open_time) == step_ms
    next_low[:-1] = np.where(exact, low[1:], np.nan)
    next_high[:-1] = np.where(exact, high[1:], np.nan)
    return next_low, next_high


def maker_filled(
    direction: np.ndarray, entry: np.ndarray, next_low: np.ndarray, next_high: np.ndarray
) -> np.ndarray:
    """Strictly through the price: a touch at the price may leave a resting order unfilled
    behind the queue. False where the next bar is unknown or there is no call."""
    with np.errstate(invalid="ignore"):
        return np.where(
            direction > 0, next_low < entry, np.where(direction < 0, next_high > entry, False)
        )


def by_direction(
    direction: np.ndarray, long_fills: np.ndarray, short_fills: np.ndarray
) -> np.ndarray:
    """Per call, whether its limit filled, from each bar's fill for a long and for a short."""
    return np.where(direction > 0, long_fills, (direction < 0) & short_fills)


def credited(
    net: np.ndarray, direction: np.ndarray, filled: np.ndarray | None
) -> tuple[np.ndarray, int]:
    """``net`` with the calls that did not fill set to NaN (no outcome), and how many those
    were. ``filled`` None: a taker entry, every call fills."""
    if filled is None:
        return net, 0
    missed = (direction != 0) & ~filled & np.isfinite(net)
    return np.where(missed, np.nan, net), int(missed.sum())
