"""Graded predictions scored out of sample: the one block that training's walk-forward
(gate 5) and ``evaluate``'s holdout both run. Pure; no Django.

``score_graded`` takes a span of bars that were predicted (positions in the candles frame),
their probabilities and grades, and returns:
1. the evaluation figures (``evaluation.evaluate``): calibration, IC, each grade's calls net of
   the round trip against its promise;
2. the graded signals backtested per grade set, net of fees and funding, beside buy-and-hold,
   flat, momentum and same-turnover random signals, each held the way its label was defined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlcore.backtest.data import funding_within, market_from_frames
from mlcore.backtest.engine import Costs
from mlcore.backtest.signals import GradedBacktest, backtest_grade_sets, signal_rules
from mlcore.pipeline.common.grading import Graded, GradingRules
from mlcore.pipeline.common.labels import BarrierParams
from mlcore.pipeline.common.out_of_sample import GRADE_SETS, EvaluationFigures, Outcomes, evaluate


@dataclass(frozen=True)
class Scored:
    figures: EvaluationFigures
    backtests: list[GradedBacktest]


def score_graded(
    candles: pd.DataFrame,
    funding: pd.DataFrame,
    interval: str,
    positions: np.ndarray,
    outcomes: Outcomes,
    raw: np.ndarray,
    calibrated: np.ndarray,
    prior: np.ndarray,
    graded: Graded,
    barrier: BarrierParams,
    rules: GradingRules,
    *,
    random_runs: int,
    min_independent: int,
    progress: Callable[[int, int], None] | None = None,
) -> Scored:
    """``outcomes`` are for every bar of ``candles``; the rest is aligned with ``positions``
    (consecutive bars: the backtest trades the span they cover)."""
    figures = evaluate(
        raw,
        calibrated,
        prior,
        graded,
        outcomes.take(positions),
        barrier.round_trip_cost,
        barrier.horizon,
        rules,
        min_independent=min_independent,
        maker_entry=barrier.maker_entry,
    )
    span = candles.iloc[positions[0] : positions[-1] + 1]
    if len(span) != len(positions):
        raise ValueError("the predicted bars must be consecutive to be traded as a span")
    market = market_from_frames(span, funding_within(funding, span), interval)
    backtests = backtest_grade_sets(
        market,
        graded.direction,
        graded.grade,
        GRADE_SETS,
        signal_rules(barrier),
        costs=Costs.paying(barrier.round_trip_cost, barrier.maker_entry),
        random_runs=random_runs,
        progress=progress,
    )
    return Scored(figures, backtests)
