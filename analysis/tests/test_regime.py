from __future__ import annotations

import numpy as np

from analysis.regime import Regime, RegimeThresholds, classify


def segment(kind: str, n: int, rng: np.random.Generator, start: float):
    if kind == "trend":
        close = start * np.exp(np.cumsum(0.004 + rng.normal(0, 0.002, n)))
        noise = 0.002
    elif kind == "range":  # mean-reverting around a level, in small steps
        level = np.zeros(n)
        for i in range(1, n):
            level[i] = 0.85 * level[i - 1] + rng.normal(0, 0.003)
        close = start * (1 + level)
        noise = 0.0015
    else:  # chop: large swings that cancel out
        close = start * (1 + rng.choice([-1, 1], n) * rng.uniform(0.01, 0.03, n) * 0.5)
        noise = 0.02
    high = close * (1 + np.abs(rng.normal(0, noise, n)))
    low = close * (1 - np.abs(rng.normal(0, noise, n)))
    return high, low, close


def test_clear_trend_range_and_chop_are_told_apart():
    rng = np.random.default_rng(7)
    parts, start = [], 100.0
    for kind in ("range", "trend", "range", "chop"):
        parts.append(segment(kind, 400, rng, start))
        start = parts[-1][2][-1]  # each segment carries on from the last close
    high, low, close = (np.concatenate(x) for x in zip(*parts, strict=True))
    result = classify(high, low, close)

    # Judge each segment after the indicators have had 150 bars to see it.
    def share(lo: int, hi: int, regime: Regime) -> float:
        return float(np.mean(result.regime[lo:hi] == regime))

    assert share(550, 800, Regime.TRENDING) > 0.9
    assert share(950, 1200, Regime.RANGING) > 0.8
    assert share(1350, 1600, Regime.CHOPPY) > 0.8
    ready = ~np.isnan(result.confidence)
    assert ((result.confidence[ready] >= 0.5) & (result.confidence[ready] < 1.0)).all()


def test_thresholds_are_named_parameters():
    rng = np.random.default_rng(1)
    high, low, close = segment("trend", 500, rng, 100.0)
    strict = classify(high, low, close, RegimeThresholds(er_trend=1.01))
    assert not (strict.regime[200:] == Regime.TRENDING).any()
    assert classify(high, low, close).regime[:30].tolist() == [None] * 30  # warm-up
