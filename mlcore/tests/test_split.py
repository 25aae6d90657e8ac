"""Purged walk-forward: on the real BTC history, no training or validation label reaches into
the test block, and the embargo holds; a naive split on the same data would leak."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.pipeline.common.labels import BarrierParams, triple_barrier
from mlcore.pipeline.common.split import SplitConfig, walk_forward

HORIZON = 24


@pytest.fixture(scope="module")
def rows(btc):
    candles, _ = btc
    labels = triple_barrier(candles, BarrierParams(horizon=HORIZON, round_trip_cost=0.0012))
    open_time = candles["open_time"].to_numpy()
    known = labels.label.notna().to_numpy()
    end_time = np.where(known, labels.end_time.to_numpy(), np.iinfo(np.int64).max // 2)
    return open_time, end_time


@pytest.mark.parametrize(
    "config",
    [
        SplitConfig(folds=5, embargo=HORIZON),
        SplitConfig(folds=4, mode="rolling", train_bars=3000, embargo=HORIZON),
        SplitConfig(folds=6, embargo=2 * HORIZON, validation_fraction=0.25),
    ],
)
def test_no_training_label_reaches_into_its_test_fold(rows, config):
    open_time, end_time = rows
    folds = walk_forward(open_time, end_time, config)
    assert len(folds) == config.folds
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(tested, np.arange(tested[0], len(open_time)))  # contiguous, in order
    for fold in folds:
        start = open_time[fold.test[0]]
        for rows_ in (fold.train, fold.validation):
            assert len(rows_) > 0
            assert open_time[rows_].max() < start
            assert end_time[rows_].max() < start, f"fold {fold.number} leaks a label"
        # The embargo: nothing trains within `embargo` bars before the test block.
        assert fold.train.max() < fold.test[0] - config.embargo
        # The validation slice is purged from the training rows the same way.
        assert end_time[fold.train].max() < open_time[fold.validation[0]]
        assert fold.train.max() < fold.validation[0] - config.embargo
        if config.mode == "rolling":
            assert fold.train.min() >= fold.test[0] - config.train_bars


def test_a_naive_split_on_the_same_data_would_leak(rows):
    """The check above can fail: training on everything before the test block lets labels
    decided inside the block into training."""
    open_time, end_time = rows
    start = len(open_time) // 2
    naive_train = np.arange(0, start)
    assert (end_time[naive_train] >= open_time[start]).sum() > 0


def test_bad_input_is_refused():
    t = np.arange(100) * 3_600_000
    with pytest.raises(ValueError, match="too few"):
        walk_forward(t, t + 1, SplitConfig(folds=5, embargo=50))
    with pytest.raises(ValueError, match="sorted"):
        walk_forward(t[::-1], t[::-1] + 1)
    with pytest.raises(ValueError, match="at or before its own bar"):
        walk_forward(t, t)
