"""The label chosen by evidence: which horizon and barrier width a symbol's model learns.

No horizon is right by decree. For each candidate (horizon in bars x barrier width in ATR
multiples), triple-barrier labels are made and an XGBoost member is fitted on the first
walk-forward fold's training rows and scored on that fold's inner validation slice: the IC of
p(buy) - p(sell) against the forward return over the candidate's horizon. The best candidate
is kept. Everything it reads lies before the first test block (the validation slice is cut
from the training rows and purged against them), so no out-of-fold figure is touched by the
choice. Pure; no Django.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mlcore.pipeline.common.labels import BarrierParams, triple_barrier
from mlcore.pipeline.common.rule_baselines import spearman
from mlcore.pipeline.common.split import SplitConfig, walk_forward
from mlcore.pipeline.models.base import Dataset, Member, class_index

FAR_FUTURE = np.iinfo(np.int64).max // 2  # end time of a label not known yet


@dataclass(frozen=True)
class TargetChoice:
    barrier: BarrierParams
    scores: dict[str, float | None]  # "<horizon> bars x <atr> ATR" -> validation IC

    def to_dict(self) -> dict:
        return {
            "horizon": self.barrier.horizon,
            "atr": self.barrier.upper_atr,
            "validation_ic": self.scores,
        }


def labelled(
    candles: pd.DataFrame, barrier: BarrierParams, warmup: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class index per row after the warm-up (-1 unknown) and each label's end time."""
    labels = triple_barrier(candles, barrier)
    y = class_index(labels.label.to_numpy()[warmup:])
    end = np.where(y >= 0, labels.end_time.to_numpy()[warmup:], FAR_FUTURE)
    return y, end


def choose_target(
    candles: pd.DataFrame,
    X: np.ndarray,
    names: tuple[str, ...],
    warmup: int,
    base: BarrierParams,
    horizons: tuple[int, ...],
    atr_multiples: tuple[float, ...],
    split: SplitConfig,
    make_member: Callable[[], Member],
) -> TargetChoice:
    open_time = candles["open_time"].to_numpy(np.int64)[warmup:]
    close = candles["close"].to_numpy(np.float64)
    scores: dict[str, float | None] = {}
    best: tuple[float, BarrierParams] | None = None
    for h in horizons:
        forward = np.full(len(close), np.nan)
        forward[:-h] = close[h:] / close[:-h] - 1.0
        forward = forward[warmup:]
        for atr in atr_multiples:
            barrier = replace(base, horizon=h, upper_atr=atr, lower_atr=atr)
            y, end = labelled(candles, barrier, warmup)
            key = f"{h} bars x {atr:g} ATR"  # bars of the interval, not hours
            try:
                folds = walk_forward(open_time, end, replace(split, embargo=max(split.embargo, h)))
                first = folds[0]
            except ValueError:
                scores[key] = None
                continue
            train, validation = first.train, first.validation
            if len(np.unique(y[train][y[train] >= 0])) < 3 or len(validation) < 50:
                scores[key] = None
                continue
            member = make_member()
            data = Dataset(X, y, names)
            member.fit(data, train, validation)
            p = member.predict_proba(data, validation)
            ic = spearman(p[:, 2] - p[:, 0], forward[validation])
            scores[key] = ic
            if ic is not None and (best is None or ic > best[0]):
                best = (ic, barrier)
    return TargetChoice(best[1] if best else base, scores)
