"""QA gate 1: is a candle series sane, ordered, unique and complete? Pure numpy; no Django.

The same checks guard the door (rows about to be stored, from a file or the API) and audit
what is already stored (``analysis.ingest.validate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class RowProblem:
    row: int  # position in the frame checked
    kind: str  # "price" | "ohlc" | "volume" | "misaligned" | "duplicate" | "order"
    message: str
    open_time: int  # epoch ms

    def __str__(self) -> str:
        return f"{ms_to_datetime(self.open_time):%Y-%m-%d %H:%M}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class Gap:
    """Missing candles: ``first`` and ``last`` are the open times of the first and last missing
    bar, so the window to refetch is [first, last]."""

    first: datetime
    last: datetime
    missing: int

    def __str__(self) -> str:
        return f"{self.first:%Y-%m-%d %H:%M} .. {self.last:%Y-%m-%d %H:%M} ({self.missing} missing)"


@dataclass
class QualityReport:
    symbol: str
    interval: str
    candles: int
    first: datetime | None = None
    last: datetime | None = None
    problems: list[RowProblem] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.gaps

    @property
    def missing(self) -> int:
        return sum(gap.missing for gap in self.gaps)


def row_problems(frame: pd.DataFrame, step_ms: int) -> list[RowProblem]:
    """Every row that breaks a candle invariant, in row order. ``frame`` has ``open_time`` in
    epoch ms and float ``open/high/low/close/volume``; NaN counts as broken."""
    t = frame["open_time"].to_numpy(dtype=np.int64)
    o, h, lo, c, v = (frame[col].to_numpy(dtype=np.float64) for col in OHLCV)
    checks: list[tuple[str, np.ndarray, str]] = [
        ("price", ~((o > 0) & (h > 0) & (lo > 0) & (c > 0)), "prices must be positive numbers"),
        ("ohlc", h < np.maximum(o, c), "high is below open or close"),
        ("ohlc", lo > np.minimum(o, c), "low is above open or close"),
        ("volume", ~(v >= 0), "volume must be a non-negative number"),
        ("misaligned", t % step_ms != 0, "open time is not aligned to the interval"),
    ]
    if len(t) > 1:
        diffs = np.diff(t)
        checks.append(("duplicate", np.r_[False, diffs == 0], "open time repeats the previous row"))
        checks.append(("order", np.r_[False, diffs < 0], "open time goes backwards"))
    problems = [
        RowProblem(int(row), kind, message, int(t[row]))
        for kind, mask, message in checks
        for row in np.flatnonzero(mask)
    ]
    return sorted(problems, key=lambda p: p.row)


def find_gaps(open_times_ms: np.ndarray, step_ms: int) -> list[Gap]:
    """Ranges of missing bars between consecutive stored open times (sorted, unique)."""
    t = np.asarray(open_times_ms, dtype=np.int64)
    if len(t) < 2:
        return []
    diffs = np.diff(t)
    holes = np.flatnonzero(diffs > step_ms)
    return [
        Gap(
            first=ms_to_datetime(int(t[i] + step_ms)),
            last=ms_to_datetime(int(t[i + 1] - step_ms)),
            missing=int(diffs[i] // step_ms - 1),
        )
        for i in holes
    ]


OHLCV = ("open", "high", "low", "close", "volume")
