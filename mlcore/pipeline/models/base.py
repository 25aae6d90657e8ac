"""What every ensemble member shares: the dataset it sees and the two calls it implements.

A member only fits and predicts; the walk-forward loop (``mlcore.pipeline.symbol.walkforward``) owns
the sequence of folds, and ``mlcore.artifacts`` owns saving. Rows are positions in a dataset
of consecutive bars, so a sequence model can look back from any row without copying."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

CLASSES = ("sell", "neutral", "buy")  # class index = triple-barrier label + 1
SELL, NEUTRAL, BUY = 0, 1, 2


def class_index(label: np.ndarray) -> np.ndarray:
    """Triple-barrier labels (-1/0/+1, NaN unknown) -> class indices (0/1/2, -1 unknown)."""
    label = np.asarray(label, dtype=np.float64)
    out = np.full(label.shape, -1, dtype=np.int64)
    known = ~np.isnan(label)
    out[known] = label[known].astype(np.int64) + 1
    return out


@dataclass(frozen=True)
class Dataset:
    """Features of consecutive bars (float32, oldest first) and their class (-1: unknown)."""

    X: np.ndarray
    y: np.ndarray
    features: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.shape[1] != len(self.features):
            raise ValueError(f"X has shape {self.X.shape}, expected (rows, {len(self.features)})")
        if len(self.y) != len(self.X):
            raise ValueError(f"{len(self.y)} labels for {len(self.X)} rows")

    def __len__(self) -> int:
        return len(self.X)

    def labelled(self, rows: np.ndarray) -> np.ndarray:
        return rows[self.y[rows] >= 0]


@dataclass(frozen=True)
class FitInfo:
    """What a fit chose and saw, for the run's record."""

    params: dict
    validation_log_loss: float
    iterations: int  # boosting rounds kept, or epochs until the best one
    seconds: float
    epoch_seconds: float | None = None  # sequence models: mean seconds per epoch
    epochs: int | None = None  # and how many epochs ran before early stopping


class Member(Protocol):
    name: str

    def fit(self, data: Dataset, train: np.ndarray, validation: np.ndarray) -> FitInfo: ...

    def predict_proba(self, data: Dataset, rows: np.ndarray) -> np.ndarray: ...

    def save(self, directory: Path) -> dict: ...


def require_all_classes(y: np.ndarray, where: str) -> None:
    present = set(np.unique(y[y >= 0]).tolist())
    missing = [CLASSES[k] for k in range(3) if k not in present]
    if missing:
        raise ValueError(f"the {where} rows have no {', '.join(missing)} labels")
