"""The ensemble's walk-forward: each fold calibrated only on earlier folds, purged; a short
history still gets its later half calibrated; empty grade sets are not ranked."""

from __future__ import annotations

import numpy as np

from mlcore.pipeline.models.base import FitInfo
from mlcore.pipeline.walkforward import MemberOOF, TrainConfig, ensemble_walk_forward

H = 3_600_000


def oof(member: str, seed: int, folds: int = 5, per_fold: int = 300) -> MemberOOF:
    rng = np.random.default_rng(seed)
    n = folds * per_fold
    proba = rng.dirichlet([2, 1, 2], size=n)
    return MemberOOF(
        member,
        np.arange(n),
        np.repeat(np.arange(1, folds + 1), per_fold),
        proba,
        np.full((n, 3), 1 / 3),
        [FitInfo({}, 1.0, 1, 0.0)] * folds,
    )


def test_each_fold_is_calibrated_on_earlier_folds_only_and_short_histories_still_are():
    xgb, lstm = oof("xgboost", 1), oof("lstm", 2)
    n = len(xgb.rows)
    y = np.random.default_rng(3).integers(0, 3, n)
    open_time = np.arange(n) * H
    end_time = open_time + 24 * H
    config = TrainConfig.build(horizon=24)  # wants 2000 earlier rows; only 1500 exist at all
    result = ensemble_walk_forward(xgb, lstm, y, open_time, end_time, config)
    # Half of the 1500 rows (750): folds 4 and 5 have 900 and 1200 earlier rows.
    assert sorted(result.weights) == [4, 5]
    assert set(np.unique(result.fold)) == {4, 5}
    np.testing.assert_allclose(result.calibrated.sum(axis=1), 1.0)
    # Changing a later fold's outcomes cannot change an earlier fold's calibration.
    y2 = y.copy()
    y2[result.rows[result.fold == 5]] = 2
    again = ensemble_walk_forward(xgb, lstm, y2, open_time, end_time, config)
    np.testing.assert_array_equal(
        again.calibrated[again.fold == 4], result.calibrated[result.fold == 4]
    )
