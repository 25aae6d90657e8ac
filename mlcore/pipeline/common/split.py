"""Purged walk-forward folds: train on the past, test on the block that follows it.

Guarantees, for every fold (the tests check them on real data):
- every training row opens before the test block, and so does every validation row;
- purge: no training row's label end time reaches into the test block (a label decided by bars
  inside the test block would leak its prices into training);
- embargo: training also stops ``embargo`` bars before the test block opens (at least the
  label horizon), so serially correlated features right at the edge do not leak either;
- the inner validation slice (for early stopping and the hyperparameter search) is cut from
  the training rows only, at their end, and purged against itself the same way.

Rows are positions in arrays sorted by open time. ``expanding`` folds train on everything
before the test block; ``rolling`` folds on the last ``train_bars`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # row positions the models fit on, purged (validation excluded)
    validation: np.ndarray  # inner validation slice, cut from the training span
    test: np.ndarray


@dataclass(frozen=True)
class SplitConfig:
    folds: int = 5
    mode: Literal["expanding", "rolling"] = "expanding"
    min_train_fraction: float = 0.4  # share of rows before the first test block
    train_bars: int | None = None  # rolling mode: rows per training window
    embargo: int = 24  # bars; at least the label horizon
    validation_fraction: float = 0.15


def purge(
    rows: np.ndarray, end_time: np.ndarray, open_time: np.ndarray, start: int, embargo: int
) -> np.ndarray:
    """``rows`` (all opening before row ``start``) without those whose label ends at or after
    ``start``'s open time, and without the last ``embargo`` rows before ``start``."""
    boundary = open_time[start]
    keep = (end_time[rows] < boundary) & (rows < start - embargo)
    return rows[keep]


def inner_split(
    rows: np.ndarray, end_time: np.ndarray, open_time: np.ndarray, fraction: float, embargo: int
) -> tuple[np.ndarray, np.ndarray]:
    """The last ``fraction`` of ``rows`` for validation; the rest, purged against it."""
    n_val = max(int(len(rows) * fraction), 1)
    validation = rows[-n_val:]
    train = purge(rows[:-n_val], end_time, open_time, int(validation[0]), embargo)
    return train, validation


def walk_forward(
    open_time: np.ndarray, end_time: np.ndarray, config: SplitConfig | None = None
) -> list[Fold]:
    """Folds over rows sorted by ``open_time`` whose labels end at ``end_time`` (epoch ms)."""
    c = config or SplitConfig()
    n = len(open_time)
    if n != len(end_time):
        raise ValueError("open_time and end_time differ in length")
    if np.any(np.diff(open_time) <= 0):
        raise ValueError("rows must be sorted by open time, without duplicates")
    if np.any(end_time <= open_time):
        raise ValueError("a label ends at or before its own bar")
    first_test = int(n * c.min_train_fraction)
    block = (n - first_test) // c.folds
    if block < 1 or first_test <= c.embargo:
        raise ValueError(
            f"{n} rows are too few for {c.folds} folds after {c.min_train_fraction:.0%} "
            f"of training with an embargo of {c.embargo} bars"
        )
    folds = []
    for k in range(c.folds):
        start = first_test + k * block
        stop = n if k == c.folds - 1 else start + block
        lo = 0 if c.mode == "expanding" else max(0, start - (c.train_bars or first_test))
        rows = purge(np.arange(lo, start), end_time, open_time, start, c.embargo)
        train, validation = inner_split(rows, end_time, open_time, c.validation_fraction, c.embargo)
        folds.append(Fold(k + 1, train, validation, np.arange(start, stop)))
    return folds


def final_split(
    open_time: np.ndarray, end_time: np.ndarray, config: SplitConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows for the model that goes live: all rows, the last slice
    held out for early stopping."""
    c = config or SplitConfig()
    rows = np.arange(len(open_time))
    if c.mode == "rolling" and c.train_bars:
        rows = rows[-c.train_bars :]
    return inner_split(rows, end_time, open_time, c.validation_fraction, c.embargo)
