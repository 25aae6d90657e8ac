"""Calibration: fitted on one set of predictions, it makes stated confidence honest on another;
it survives a JSON round trip exactly; the figures that judge it are right."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from mlcore.pipeline.common.calibrate import (
    FLOOR,
    Calibrator,
    brier,
    expected_calibration_error,
    log_loss,
    reliability,
)


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True class probabilities, and a model that states them far too sharply."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 0.6, size=(n, 3))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in truth])
    stated = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    return stated, y


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_fitted_on_one_half_makes_the_other_honest(method):
    p_fit, y_fit = overconfident(6000, seed=1)
    p_new, y_new = overconfident(6000, seed=2)
    calibrator = Calibrator.fit(p_fit, y_fit, method)
    before = expected_calibration_error(y_new, p_new)
    after = expected_calibration_error(y_new, calibrator.apply(p_new))
    assert before > 0.15 and after < 0.03, (before, after)
    assert log_loss(y_new, calibrator.apply(p_new)) < log_loss(y_new, p_new)
    # A stated 0.7 is right about 70 % of the time: check the bins with enough predictions,
    # and that enough of them qualify to mean something (most predictions fall in them).
    dense = [b for b in reliability(y_new, calibrator.apply(p_new)) if b.count >= 300]
    assert len(dense) >= 3 and sum(b.count for b in dense) >= 0.8 * len(y_new), dense
    for b in dense:
        assert abs(b.confidence - b.accuracy) < 0.05, b


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_the_json_round_trip_is_exact_and_rows_sum_to_one(method):
    p, y = overconfident(3000, seed=3)
    calibrator = Calibrator.fit(p, y, method)
    again = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    np.testing.assert_array_equal(again.apply(p), calibrator.apply(p))
    out = calibrator.apply(p)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert out.min() >= FLOOR / 3  # never an "impossible" outcome (rows sum to at most 3)


def test_isotonic_breakpoints_reproduce_scikit_learn():
    p, y = overconfident(3000, seed=4)
    calibrator = Calibrator.fit(p, y, "isotonic")
    probe = np.random.default_rng(5).uniform(-0.1, 1.1, size=(500, 3))  # incl. out of bounds
    for k in range(3):
        iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[:, k], y == k)
        x, values = calibrator.params[k]
        np.testing.assert_allclose(np.interp(probe[:, k], x, values), iso.predict(probe[:, k]))


def test_figures_by_hand():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])
    expected_loss = -np.mean(np.log([0.7, 0.6, 0.8, 0.25]))
    assert log_loss(y, p) == pytest.approx(expected_loss)
    onehot = np.eye(3)[y]
    assert brier(y, p) == pytest.approx(np.mean(((p - onehot) ** 2).sum(axis=1)))
    # Top-label bins: 0.5 (wrong) in [0.4,0.5], 0.6 (right), 0.7 (right), 0.8 (right).
    ece = (abs(0.5 - 0) + abs(0.6 - 1) + abs(0.7 - 1) + abs(0.8 - 1)) / 4
    assert expected_calibration_error(y, p) == pytest.approx(ece)
    assert sum(b.count for b in reliability(y, p)) == 4
