"""Drift on real BTC data: quiet inside the training period, loud (and naming the right
features) when volatility doubles or the market is from a distant period; and pure noise
against itself stays quiet thanks to the corrections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.common.drift import (
    DriftThresholds,
    assess,
    autocorrelation_time,
    feature_drift,
)
from mlcore.pipeline.features import build_features, make_spec

WINDOW = 720  # 30 days of 1h bars
TRAIN_ROWS = 6000
# Features that measure how far prices swing: what doubled volatility must move.
VOLATILITY = (
    "hv_",
    "natr",
    "atr_",
    "garman_klass",
    "parkinson",
    "range_pct",
    "bb_width",
    "dist_high",
    "dist_low",
    "realised",
    "keltner",
)


@pytest.fixture(scope="module")
def setup(btc):
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    frame = build_features(candles, funding, spec=spec).frame
    train = frame.iloc[spec.warmup : spec.warmup + TRAIN_ROWS].to_numpy()
    rng = np.random.default_rng(0)
    reference = train[np.sort(rng.choice(len(train), 5000, replace=False))]
    tau = autocorrelation_time(train)
    names = list(frame.columns)
    hv = names.index("hv_24")
    starts = range(0, TRAIN_ROWS - WINDOW, WINDOW)
    # A typical month of the training period: its volatility is the reference's median.
    typical = min(
        starts,
        key=lambda s: abs(np.median(train[s : s + WINDOW, hv]) - np.median(reference[:, hv])),
    )
    return candles, funding, spec, frame, train, reference, tau, names, typical


def drift(setup, window: np.ndarray):
    *_, train, reference, tau, names, _ = setup
    return feature_drift(reference, window, names, tau=tau, reference_rows=len(train))


def test_a_window_from_the_training_period_raises_no_alarm(setup):
    *_, train, _, _, _, _ = setup
    starts = range(0, TRAIN_ROWS - WINDOW, WINDOW)
    assert len(starts) >= 6  # every month of it, not just one
    for start in starts:
        flagged = [f.name for f in drift(setup, train[start : start + WINDOW]) if f.drifted]
        assert flagged == [], (start, flagged)


def test_doubled_volatility_raises_an_alarm_naming_volatility_features(setup):
    candles, funding, spec, *_, typical = setup
    start = spec.warmup + typical
    part = candles.iloc[: start + WINDOW].reset_index(drop=True).copy()
    # Prices rescaled around their own path (a 1-week rolling mean of log price): every swing
    # away from it is twice as large, the trend is unchanged.
    prices = np.log(part[["open", "high", "low", "close"]].to_numpy())
    path = pd.Series(prices[:, 3]).rolling(168, min_periods=1).mean().to_numpy()[:, None]
    part[["open", "high", "low", "close"]] = np.exp(path + 2.0 * (prices - path))
    window = build_features(part, funding, spec=spec).frame.to_numpy()[start:]
    flagged = [f.name for f in drift(setup, window) if f.drifted]
    assert len(flagged) >= 3, flagged
    assert all(
        name.split("_", 1)[-1].startswith(VOLATILITY) or name.startswith(VOLATILITY)
        for name in flagged
    ), flagged


def test_a_regime_from_a_distant_period_raises_an_alarm(setup):
    *_, frame, _, _, _, _, _ = setup
    late = frame.to_numpy()[-WINDOW:]  # April-May 2024, against a 2023 training period
    report = assess(drift(setup, late), np.array([], dtype=bool), None, 1.0)
    assert report.triggers == ["features"]
    assert "1d_range_pct_14" in report.drifted


def test_pure_noise_against_itself_stays_quiet():
    """At most about 5 % of noise-against-noise checks of 100 features may raise an alarm (the
    family-wise rate); 30 draws keep it a third of a second each (100 draws: 0 alarms too)."""
    alarms = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        reference, recent = rng.normal(size=(5000, 100)), rng.normal(size=(WINDOW, 100))
        names = [f"noise_{i}" for i in range(100)]
        alarms += any(f.drifted for f in feature_drift(reference, recent, names))
    assert alarms <= 2, alarms


def test_accuracy_and_age_triggers():
    t = DriftThresholds(accuracy_drop=0.05, min_outcomes=200, max_age_days=30)
    worse = np.r_[np.ones(90, bool), np.zeros(110, bool)]  # 45 % against a 52 % baseline
    assert assess([], worse, 0.52, 10, t).triggers == ["accuracy"]
    assert assess([], worse[:150], 0.52, 10, t).triggers == []  # too few outcomes to judge
    assert assess([], np.ones(300, bool), 0.52, 31, t).triggers == ["age"]
    report = assess([], worse, 0.52, 10, t)
    assert (report.accuracy, report.outcomes) == (0.45, 200)


def test_autocorrelation_time():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=20_000)
    ar = np.zeros(20_000)
    for i in range(1, len(ar)):  # AR(1) with phi = 0.9: tau = (1 + phi) / (1 - phi) = 19
        ar[i] = 0.9 * ar[i - 1] + noise[i]
    tau = autocorrelation_time(np.column_stack([noise, ar]))
    assert tau[0] == pytest.approx(1.0, abs=0.2) and tau[1] == pytest.approx(19.0, rel=0.2)
