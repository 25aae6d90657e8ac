"""The label chosen by evidence: the horizon the data favour wins, and nothing after the first
test block can sway the choice."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.pipeline.common.labels import BarrierParams
from mlcore.pipeline.common.split import SplitConfig, walk_forward
from mlcore.pipeline.features import build_features, make_spec
from mlcore.pipeline.models.xgb import QUICK_GRID, XGBMember
from mlcore.pipeline.symbol.targets import choose_target, labelled

SPLIT = SplitConfig(folds=3, embargo=24)


def _choose(candles, funding, planted_horizon: int):
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    X = build_features(candles, funding, spec=spec).warm.to_numpy(np.float32)
    close = candles["close"].to_numpy()
    forward = np.zeros(len(close))
    h = planted_horizon
    forward[:-h] = close[h:] / close[:-h] - 1.0
    # A fixed noise scale: one measured on the whole series would read the later prices.
    noise = np.random.default_rng(0).normal(0, 0.004, len(close))
    planted = (forward + noise)[spec.warmup :, None].astype(np.float32)
    X = np.hstack([X, planted])
    names = (*spec.features, "planted")
    return choose_target(
        candles,
        X,
        names,
        spec.warmup,
        BarrierParams(round_trip_cost=0.0012),
        (4, 8, 24),
        (1.0, 2.0),
        SPLIT,
        lambda: XGBMember(QUICK_GRID, seed=0),
    ), spec


@pytest.mark.slow
def test_the_favoured_horizon_wins_and_nothing_after_the_first_test_block_sways_it(btc):
    candles, funding = btc
    choice, spec = _choose(candles, funding, planted_horizon=8)
    assert choice.barrier.horizon == 8, choice.scores
    assert len(choice.scores) == 6 and choice.to_dict()["horizon"] == 8
    # Scramble every price from the first test block on (the widest embargo's): the choice
    # and every candidate's validation IC stay exactly as they were.
    _, end = labelled(candles, BarrierParams(horizon=24, round_trip_cost=0.0012), spec.warmup)
    open_time = candles["open_time"].to_numpy()[spec.warmup :]
    start = walk_forward(open_time, end, SPLIT)[0].test[0] + spec.warmup
    scrambled = candles.copy()
    later = scrambled.index >= start
    factor = np.random.default_rng(1).uniform(0.9, 1.1, later.sum())
    for column in ("open", "high", "low", "close"):
        scrambled.loc[later, column] = scrambled.loc[later, column] * factor
    scrambled["high"] = scrambled[["open", "high", "low", "close"]].max(axis=1)
    scrambled["low"] = scrambled[["open", "high", "low", "close"]].min(axis=1)
    again, _ = _choose(scrambled, funding, planted_horizon=8)
    assert again.barrier == choice.barrier and again.scores == choice.scores
    # Negative control: scrambling from well before the block does sway the scores.
    early = candles.copy()
    sooner = early.index >= start - 2000
    for column in ("open", "high", "low", "close"):
        early.loc[sooner, column] = (
            early.loc[sooner, column]
            * np.r_[factor, np.ones(sooner.sum() - len(factor))][: sooner.sum()]
        )
    early["high"] = early[["open", "high", "low", "close"]].max(axis=1)
    early["low"] = early[["open", "high", "low", "close"]].min(axis=1)
    assert _choose(early, funding, planted_horizon=8)[0].scores != choice.scores
