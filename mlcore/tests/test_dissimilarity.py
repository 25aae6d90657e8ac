"""Inputs unlike the training rows are flagged, named, and only rarely on rows like them."""

from __future__ import annotations

import numpy as np

from mlcore.pipeline.common.dissimilarity import Dissimilarity

NAMES = ("ret_24_z", "funding_z_30", "volume_z")


def test_rows_like_the_training_ones_are_rarely_flagged_and_far_ones_always():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(20_000, 3))
    d = Dissimilarity.fit(train, NAMES, quantile=0.995)
    later = rng.normal(size=(20_000, 3))
    assert 0.002 < d.flag(later).mean() < 0.01  # about 1 - quantile
    far = later[:10].copy()
    far[:, 1] = 6.2
    assert d.flag(far).all()
    line = d.explain(far[0])
    prefix = "inputs outside what the model was trained on: funding_z_30 at "
    assert line.startswith(prefix) and line.endswith(" sd")
    assert 6.0 < float(line[len(prefix) : -3]) < 6.5  # 6.2 raw, scaled by the training spread
    assert d.explain(np.zeros(3)) is None


def test_missing_inputs_do_not_count_and_a_constant_one_never_flags():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(5_000, 3))
    train[:, 2] = 1.0  # constant in training: no scale to measure a distance in
    train[:2_500, 1] = np.nan  # funding missing for half the history
    d = Dissimilarity.fit(train, NAMES)
    row = np.array([[0.1, np.nan, 50.0]])
    assert not d.flag(row)[0]
    assert d.flag(np.array([[9.0, np.nan, 1.0]]))[0]
