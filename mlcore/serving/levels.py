"""Stop and target of a call at its model's own barrier (``labels.BarrierParams``: ATR-based
and fee-aware), the same for every family, live and simulated."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcore.pipeline.common.labels import BarrierParams, triple_barrier

# Bars before a call that its ATR is computed over (Wilder's smoothing forgets its start long
# before this).
LOOKBACK = 200


def barriers(candles: pd.DataFrame, barrier: BarrierParams) -> tuple[pd.Series, pd.Series]:
    """Upper and lower barrier prices at every bar of ``candles``, indexed by open time."""
    labels = triple_barrier(candles, barrier)
    times = candles["open_time"].to_numpy(np.int64)
    return (
        pd.Series(labels.upper.to_numpy(), index=times),
        pd.Series(labels.lower.to_numpy(), index=times),
    )


def stop_target(upper: float, lower: float, direction: int) -> tuple[float | None, float | None]:
    if direction > 0:
        return lower, upper
    if direction < 0:
        return upper, lower
    return None, None


def at_last_bar(
    candles: pd.DataFrame, barrier: BarrierParams, direction: int
) -> tuple[float | None, float | None]:
    """Stop and target for a call on the last bar of ``candles``."""
    if direction == 0:
        return None, None
    upper, lower = barriers(candles.iloc[-LOOKBACK:], barrier)
    return stop_target(float(upper.iloc[-1]), float(lower.iloc[-1]), direction)
