"""Batch prediction with a trained bundle: the one path both ``evaluate`` (any stored window)
and live inference (the newest closed bar) go through.

features -> members -> ensemble -> calibration -> a call's hit probability -> confirmations
-> grade.

The bundle refuses candles whose feature spec differs from the one it was trained on, naming
the difference. Rows are predicted only where the features are fully warmed up; the LSTM's
window reaches ``seq_len - 1`` rows further back, so a caller gives ``history_needed`` bars
before the first bar it wants. A bar predicted alone (live) and inside a batch (evaluate) agree
to float32 noise, not to the bit: the LSTM sums a batch in another order (measured up to 1.2e-8
on the calibrated probabilities; signals/tests/test_inference.py holds them to 1e-7)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlcore.pipeline.common.calibrate import Calibrator
from mlcore.pipeline.common.confirmations import MarketContext, market_context
from mlcore.pipeline.common.dissimilarity import Dissimilarity
from mlcore.pipeline.common.grading import Graded, GradingRules, call_strength, grade
from mlcore.pipeline.common.hits import HitCalibrator
from mlcore.pipeline.common.labels import BarrierParams
from mlcore.pipeline.features import FeatureSpec, build_features, make_spec
from mlcore.pipeline.models.base import Dataset
from mlcore.pipeline.models.lstm import LSTMMember
from mlcore.pipeline.models.xgb import XGBMember
from mlcore.pipeline.symbol import ensemble
from mlcore.pipeline.universe.scale_free import cost_in_vol


@dataclass
class Bundle:
    """Everything a trained model needs to predict."""

    interval: str
    spec: FeatureSpec
    barrier: BarrierParams
    xgb: XGBMember
    lstm: LSTMMember
    xgb_weight: float
    calibrator: Calibrator
    hits: HitCalibrator  # a call's strength and cost -> the probability it is a hit
    # Inputs unlike the training rows' (fitted on the saved reference sample of them); None
    # for a model saved without one.
    dissimilarity: Dissimilarity | None = None

    @property
    def history_needed(self) -> int:
        """Bars of history before (and including) the first bar to predict."""
        return self.spec.warmup + self.lstm.p.seq_len


@dataclass(frozen=True)
class Predictions:
    open_time: np.ndarray
    close: np.ndarray
    features: pd.DataFrame  # the rows predicted (what SHAP explains)
    p_xgb: np.ndarray
    p_lstm: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    graded: Graded
    context: MarketContext
    timings: dict[str, float]  # seconds: features, models (members, ensemble, calibration, grade)

    def __len__(self) -> int:
        return len(self.open_time)


def cost_at(bundle: Bundle, candles: pd.DataFrame, open_time: np.ndarray) -> np.ndarray:
    """The round trip in volatility units at the bars ``open_time`` (the hit calibrator's
    second input), from the candles up to each bar."""
    cost = cost_in_vol(
        candles["close"].to_numpy(np.float64),
        bundle.barrier.horizon,
        bundle.barrier.round_trip_cost,
    )
    positions = np.searchsorted(candles["open_time"].to_numpy(np.int64), open_time)
    return cost[positions]


def predict(
    bundle: Bundle,
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    *,
    since: int | None = None,
    rules: GradingRules | None = None,
    features: pd.DataFrame | None = None,
) -> Predictions:
    """Predict every warmed-up bar of ``candles`` opening at or after ``since`` (epoch ms).
    ``features``: the warm rows already computed (live inference's kept state,
    ``mlcore.live_state``); they equal what this would compute from ``candles``."""
    started = time.perf_counter()
    if not bundle.spec.uses_funding:  # trained without funding (none, or holes in it)
        funding = None
    now = make_spec(
        bundle.interval, columns=candles.columns, funding=funding, params=bundle.spec.params
    )
    bundle.spec.require_same(now)
    if features is not None:
        warm = features
    else:
        warm = build_features(candles, funding, spec=bundle.spec).frame.iloc[bundle.spec.warmup :]
    open_time = warm.index.to_numpy(np.int64)
    rows = np.arange(len(warm))
    if since is not None:
        rows = rows[open_time >= since]
    if not len(rows):
        raise ValueError(
            f"no bar to predict: {len(candles)} candles cover {bundle.spec.warmup} bars of "
            "warm-up and nothing after it"
        )
    data = Dataset(warm.to_numpy(np.float32), np.full(len(warm), -1), bundle.spec.features)
    featured = time.perf_counter()
    p_xgb = bundle.xgb.predict_proba(data, rows)
    p_lstm = bundle.lstm.predict_proba(data, rows)
    raw = ensemble.blend(p_xgb, p_lstm, bundle.xgb_weight)
    calibrated = bundle.calibrator.apply(raw)
    _, strength = call_strength(calibrated)
    cost_z = cost_at(bundle, candles, open_time[rows])
    confidence = bundle.hits.apply(strength, cost_z)
    context = market_context(candles, bundle.interval).at(open_time[rows])
    graded = grade(calibrated, context, p_xgb, p_lstm, rules, confidence)
    close = candles.set_index("open_time")["close"].reindex(open_time[rows]).to_numpy()
    timings = {"features": featured - started, "models": time.perf_counter() - featured}
    return Predictions(
        open_time[rows],
        close,
        warm.iloc[rows],
        p_xgb,
        p_lstm,
        raw,
        calibrated,
        graded,
        context,
        timings,
    )
