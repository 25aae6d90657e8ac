"""The ensemble: a weighted average of the members' class probabilities.

0.55 XGBoost / 0.45 LSTM by default. ``fit_weight`` picks the weight that minimises log loss
on predictions it is given; the walk-forward only ever hands it out-of-fold predictions of
earlier folds, never the rows the weight will be judged on."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss

DEFAULT_XGB_WEIGHT = 0.55


def blend(p_xgb: np.ndarray, p_lstm: np.ndarray, xgb_weight: float = DEFAULT_XGB_WEIGHT):
    if not 0.0 <= xgb_weight <= 1.0:
        raise ValueError(f"the XGBoost weight must lie in [0, 1], got {xgb_weight}")
    return xgb_weight * p_xgb + (1.0 - xgb_weight) * p_lstm


def fit_weight(p_xgb: np.ndarray, p_lstm: np.ndarray, y: np.ndarray, steps: int = 21) -> float:
    """The XGBoost weight on a grid over [0, 1] with the lowest log loss on ``y``."""
    grid = np.linspace(0.0, 1.0, steps)
    losses = [log_loss(y, blend(p_xgb, p_lstm, w), labels=[0, 1, 2]) for w in grid]
    return float(grid[int(np.argmin(losses))])
