"""The ensemble's walk-forward: each fold calibrated only on earlier folds, purged; a short
history still gets its later half calibrated; empty grade sets are not ranked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mlcore.pipeline.models.base import FitInfo
from mlcore.pipeline.symbol.walkforward import MemberOOF, TrainConfig, ensemble_walk_forward

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


def test_the_fitted_ensemble_weight_follows_the_member_that_knows():
    """fit_weight: all weight on the member that carries the label, none on noise, and in
    between when both know something; the chosen weight is the grid's lowest log loss."""
    from sklearn.metrics import log_loss

    from mlcore.pipeline.symbol import ensemble
    from mlcore.pipeline.symbol.walkforward import _fit_blend

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 3000)
    knows = np.full((3000, 3), 0.1)
    knows[np.arange(3000), y] = 0.8
    noise = rng.dirichlet(np.ones(3), 3000)
    assert ensemble.fit_weight(knows, noise, y) == 1.0
    assert ensemble.fit_weight(noise, knows, y) == 0.0
    half = np.full((3000, 3), 0.25)
    half[np.arange(3000), y] = 0.5
    mixed = ensemble.fit_weight(knows, half, y)
    grid = np.linspace(0, 1, 21)
    losses = [log_loss(y, ensemble.blend(knows, half, w), labels=[0, 1, 2]) for w in grid]
    assert mixed == grid[int(np.argmin(losses))]
    # The configuration decides: the fixed 0.55, or the fitted weight.
    fixed = TrainConfig.build(horizon=24)
    assert _fit_blend(knows, noise, y, fixed)[0] == fixed.xgb_weight == 0.55
    fitted = replace(fixed, fit_weight=True)
    assert _fit_blend(knows, noise, y, fitted)[0] == 1.0
