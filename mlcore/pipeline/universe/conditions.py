"""Where the universe model's effect lives: the condition a call must be in to be graded.

The average call may carry no edge a trader can use while the calls in some condition do (the
strongest scores, extreme funding, a wild market). Which condition, if any, is chosen on the
evidence there was: fold k's condition and its cut are learnt on the rows of earlier folds whose
outcome was known before fold k opened, and its confidences come from a hit calibrator fitted
on the earlier calls inside it; the model that serves takes the condition its whole
walk-forward backs. A call outside the chosen condition keeps its confidence (the calibrator of
every call) but is graded C, promising nothing: never a signal. Pure.

A condition is chosen over every row only where the IC of the score with the target inside it
has a t of at least ``MIN_T`` on independent rows (one per symbol and horizon-long block, so
overlapping rows do not inflate it) and a higher t than every row's: a small subset with the
same IC has a smaller t, so a subset wins only on a clearly stronger effect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from mlcore.pipeline.common import rule_baselines
from mlcore.pipeline.common.hits import HitCalibrator, known_before

EVERY_ROW = "every row"
# The candidates: the column read, and the quantile of it (on the rows the choice is made on)
# at or above which a row is inside.
CONDITIONS: dict[str, tuple[str, float]] = {
    "strongest tenth of scores": ("|score|", 0.9),
    "extreme funding (top tenth of |funding z|)": ("|funding z|", 0.9),
    "wild volatility (top third of short/long vol)": ("vol_ratio", 2 / 3),
}
MIN_T = 2.0


@dataclass(frozen=True)
class Condition:
    name: str = EVERY_ROW
    column: str = ""
    cut: float = -math.inf  # inside: the column's value at or above it
    ic: float | None = None  # on the independent rows inside, where it was chosen
    t: float | None = None
    independent: int = 0

    def inside(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        if not self.column:
            return np.ones(len(next(iter(columns.values()))), dtype=bool)
        with np.errstate(invalid="ignore"):
            return columns[self.column] >= self.cut  # NaN (funding unknown): outside

    def to_dict(self) -> dict:
        return asdict(self) | {"cut": None if math.isinf(self.cut) else self.cut}

    @classmethod
    def from_dict(cls, data: dict | None) -> Condition:
        if not data:  # a model saved before conditions: every row, as it was graded
            return cls()
        cut = data.get("cut")
        return cls(
            data["name"],
            data.get("column", ""),
            -math.inf if cut is None else float(cut),
            data.get("ic"),
            data.get("t"),
            int(data.get("independent", 0)),
        )


def columns(score: np.ndarray, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The values the conditions read, per row of ``universe.pooled_frame``."""
    funding = next((c for c in rows.columns if c.startswith("funding_z_")), None)
    return {
        "|score|": np.abs(score),
        "|funding z|": np.abs(rows[funding].to_numpy(np.float64))
        if funding
        else np.full(len(rows), np.nan),
        "vol_ratio": rows["vol_ratio"].to_numpy(np.float64),
    }


def evidence(
    score: np.ndarray, target: np.ndarray, take: np.ndarray
) -> tuple[float | None, float | None, int]:
    """The IC of ``score`` with ``target`` on the rows ``take`` (independent ones), and its t."""
    take = take & np.isfinite(score) & np.isfinite(target)
    n = int(take.sum())
    rho = rule_baselines.spearman(score[take], target[take]) if n > 10 else None
    if rho is None:
        return None, None, n
    return rho, float(rho * np.sqrt((n - 2) / max(1e-12, 1 - rho**2))), n


def candidates(
    values: Mapping[str, np.ndarray],
    score: np.ndarray,
    target: np.ndarray,
    on: np.ndarray,
    independent: np.ndarray,
) -> list[Condition]:
    """Every row and each of ``CONDITIONS``, its cut learnt on the rows ``on`` and its IC and t
    on the independent ones among them."""
    ic, t, n = evidence(score, target, on & independent)
    out = [Condition(EVERY_ROW, ic=ic, t=t, independent=n)]
    for name, (column, q) in CONDITIONS.items():
        known = on & np.isfinite(values[column])
        if not known.any():
            continue
        condition = Condition(name, column, float(np.quantile(values[column][known], q)))
        ic, t, n = evidence(score, target, on & independent & condition.inside(values))
        out.append(replace(condition, ic=ic, t=t, independent=n))
    return out


def choose(
    values: Mapping[str, np.ndarray],
    score: np.ndarray,
    target: np.ndarray,
    on: np.ndarray,
    independent: np.ndarray,
    min_t: float = MIN_T,
) -> Condition:
    """The condition the rows ``on`` back (module docstring), else every row."""
    found = candidates(values, score, target, on, independent)
    every = found[0]
    best = every
    for condition in found[1:]:
        if condition.t is None or condition.t < min_t:
            continue
        if condition.t > (best.t if best.t is not None else -math.inf):
            best = condition
    return best


@dataclass(frozen=True)
class Conditional:
    """Per out-of-fold row: its confidence, whether it was inside its fold's condition, and
    each fold's condition."""

    confidence: np.ndarray  # NaN on rows of folds that had no calibrator yet
    inside: np.ndarray
    calibrated_folds: list[int]
    chosen: dict[int, Condition]


def walk_forward(
    values: Mapping[str, np.ndarray],
    score: np.ndarray,
    target: np.ndarray,
    independent: np.ndarray,
    cost_z: np.ndarray,
    hit: np.ndarray,
    settled: np.ndarray,
    fold: np.ndarray,
    open_time: np.ndarray,
    end_time: np.ndarray,
    min_calls: int,
) -> Conditional:
    """Fold k's condition chosen on the earlier rows whose outcome was known before it opened;
    its calls' confidence from a calibrator fitted on those rows' settled calls (the ones inside
    the condition for a call inside it, every one for a call outside). A fold with too few such
    calls gets no confidence; a condition with too few calls inside falls back to every row."""
    strength = np.abs(score)
    confidence = np.full(len(score), np.nan)
    inside = np.ones(len(score), dtype=bool)
    done: list[int] = []
    chosen: dict[int, Condition] = {}
    for number in np.unique(fold):
        here = fold == number
        known = known_before(fold, number, open_time, end_time)
        past = settled & known
        if past.sum() < min_calls:
            continue
        condition = choose(values, score, target, known, independent)
        every = HitCalibrator.fit(strength[past], cost_z[past], hit[past])
        past_inside = past & condition.inside(values)
        if past_inside.sum() < min_calls:
            condition = Condition()
            past_inside = past
        mine = {k: v[here] for k, v in values.items()}
        in_here = condition.inside(mine)
        calibrator = HitCalibrator.fit(strength[past_inside], cost_z[past_inside], hit[past_inside])
        confidence[here] = np.where(
            in_here,
            calibrator.apply(strength[here], cost_z[here]),
            every.apply(strength[here], cost_z[here]),
        )
        inside[here] = in_here
        chosen[int(number)] = condition
        done.append(int(number))
    return Conditional(confidence, inside, done, chosen)
