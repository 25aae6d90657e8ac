"""The stored signal history as arrays, for the backtest of what the product emitted."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from signals.models import Signal

DIRECTION = {"long": 1, "short": -1, "neutral": 0}


def signal_history(
    symbol: str, interval: str, start: datetime, end: datetime
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(open times in ms, directions, grades) of the stored signals in [start, end), one per
    bar: where several model versions spoke for a bar, the newest model's signal counts."""
    rows = (
        Signal.objects.filter(
            symbol=symbol, interval=interval, open_time__gte=start, open_time__lt=end
        )
        .order_by("open_time", "-model_version__created_at")
        .values_list("open_time", "direction", "grade")
    )
    seen, times, directions, grades = set(), [], [], []
    for when, direction, grade in rows:
        if when in seen:
            continue
        seen.add(when)
        times.append(when)
        directions.append(DIRECTION[direction])
        grades.append(grade)
    ms = pd.DatetimeIndex(times).as_unit("ms").asi8 if times else np.empty(0, np.int64)
    return ms, np.asarray(directions, dtype=np.float64), np.asarray(grades, dtype=object)
