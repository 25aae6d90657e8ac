"""Members: the LSTM is reproducible on CPU and both members reload to the same predictions
from their plain-format files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlcore.pipeline.models.base import Dataset
from mlcore.pipeline.models.lstm import LSTMMember, LSTMParams
from mlcore.pipeline.models.xgb import QUICK_GRID, XGBMember


@pytest.fixture(scope="module")
def data() -> Dataset:
    """A label that the previous bars' first feature foretells, plus noise features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6)).astype(np.float32)
    drift = np.convolve(X[:, 0], np.ones(3), "full")[: len(X)]
    y = np.digitize(drift + rng.normal(0, 0.8, len(X)), [-1.0, 1.0])
    return Dataset(X, y, tuple(f"f{i}" for i in range(6)))


SMALL = LSTMParams(
    seq_len=8, hidden=16, dense=16, max_epochs=8, patience=3, batch_size=64, learning_rate=5e-3
)
TRAIN, VALIDATION, TEST = np.arange(0, 1400), np.arange(1420, 1700), np.arange(1700, 2000)


def test_lstm_is_reproducible_on_cpu_and_learns(data):
    first, second = LSTMMember(SMALL, seed=7), LSTMMember(SMALL, seed=7)
    info = first.fit(data, TRAIN, VALIDATION)
    second.fit(data, TRAIN, VALIDATION)
    p1, p2 = first.predict_proba(data, TEST), second.predict_proba(data, TEST)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-6)
    assert (p1.argmax(axis=1) == data.y[TEST]).mean() > 0.5  # it read the sequence
    assert info.epoch_seconds and 1 <= info.iterations <= SMALL.max_epochs
    other = LSTMMember(SMALL, seed=8)
    other.fit(data, TRAIN, VALIDATION)
    assert not np.array_equal(other.predict_proba(data, TEST), p1)  # the seed matters


def test_lstm_scaler_sees_training_rows_only(data):
    member = LSTMMember(SMALL)
    member.fit(data, TRAIN, VALIDATION)
    np.testing.assert_allclose(member.scaler.mean, data.X[TRAIN].mean(axis=0), rtol=1e-5)


def test_members_reload_to_the_same_predictions(data, tmp_path):
    for member, cls in ((XGBMember(QUICK_GRID), XGBMember), (LSTMMember(SMALL), LSTMMember)):
        member.fit(data, TRAIN, VALIDATION)
        meta = member.save(tmp_path)
        again = cls.load(tmp_path, meta)
        np.testing.assert_allclose(
            again.predict_proba(data, TEST), member.predict_proba(data, TEST), rtol=1e-5, atol=1e-7
        )
    assert not list(tmp_path.glob("*.pkl"))


def test_a_fold_without_a_class_is_refused(data):
    y = np.where(data.y == 2, 1, data.y)
    with pytest.raises(ValueError, match="no buy labels"):
        XGBMember(QUICK_GRID).fit(Dataset(data.X, y, data.features), TRAIN, VALIDATION)


def test_tree_shap_explains_the_member_exactly(data):
    from mlcore.pipeline.common.explain import contributions, explain, interactions

    member = XGBMember(QUICK_GRID)
    member.fit(data, TRAIN, VALIDATION)
    rows = data.X[TEST[:20]]
    values = contributions(member, rows)
    # Base plus contributions is the member's margin; softmax of margins its probabilities,
    # with the early-stopped trees the member predicts with (not every tree it grew).
    margins = values.sum(axis=2)
    softmax = np.exp(margins) / np.exp(margins).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, member.predict_proba(data, TEST[:20]), atol=1e-5)
    e = explain(member, rows[0], data.features, predicted=2, top=3)
    assert e.predicted_class == "buy" and len(e.drivers_for) <= 3
    assert all(d.contribution > 0 for d in e.drivers_for)
    assert all(d.contribution < 0 for d in e.drivers_against)
    assert e.score == pytest.approx(margins[0, 2], abs=1e-4)
    assert "leans long" in e.text
    pairs = interactions(member, rows[0], data.features, 2, list(data.features[:3]))
    assert len(pairs) == 3 and {pairs[0].first, pairs[0].second} <= set(data.features[:3])


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device (run it on a GPU host)")
def test_members_fitted_on_cuda_reload_on_the_cpu_to_the_same_predictions(data, tmp_path):
    """Both members trained on the GPU, saved, loaded on the CPU (as the web and cpu workers
    serve them): the same rows get the same probabilities within float32 noise. cuDNN's LSTM is
    not bit-reproducible, hence a tolerance rather than equality."""
    for member, cls in (
        (XGBMember(QUICK_GRID, device="cuda"), XGBMember),
        (LSTMMember(SMALL, device="cuda"), LSTMMember),
    ):
        member.fit(data, TRAIN, VALIDATION)
        on_gpu = member.predict_proba(data, TEST)
        meta = member.save(tmp_path)
        on_cpu = cls.load(tmp_path, meta, device="cpu").predict_proba(data, TEST)
        np.testing.assert_allclose(on_cpu, on_gpu, atol=1e-4)
        assert (on_cpu.argmax(axis=1) == data.y[TEST]).mean() > 0.5


def test_the_device_setting_is_read_and_checked(monkeypatch):
    from mlcore.pipeline.common import device

    monkeypatch.setenv("TRADINGAI_DEVICE", "cpu")
    assert device.compute_device() == "cpu"  # the suite's pin (conftest.py)
    monkeypatch.setenv("TRADINGAI_DEVICE", "tpu")
    with pytest.raises(ValueError, match="one of auto, cpu, cuda"):
        device.compute_device()
    monkeypatch.setenv("TRADINGAI_DEVICE", "cuda")
    if _cuda():
        assert device.compute_device() == "cuda"
    else:
        with pytest.raises(ValueError, match="sees no CUDA device"):
            device.compute_device()


def test_a_pool_process_keeps_its_libraries_to_its_share_of_the_cores():
    """share_cores, as a Celery pool process calls it at its start: XGBoost, BLAS, OpenMP and
    torch keep to cores // processes threads (in a child process: it is process-wide)."""
    import os
    import subprocess
    import sys

    script = (
        "import json, torch\n"
        "from threadpoolctl import threadpool_info\n"
        "from mlcore.pipeline.common.device import cpu_threads, share_cores\n"
        "assert cpu_threads(2) == 2 and cpu_threads() is None\n"
        "share = share_cores(4)\n"
        "print(json.dumps([share, cpu_threads(2), torch.get_num_threads(),\n"
        "                  sorted({p['num_threads'] for p in threadpool_info()})]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout  # fmt: skip
    share, threads, torch_threads, pools = json.loads(out.strip().splitlines()[-1])
    expected = max(1, (os.cpu_count() or 1) // 4)
    assert share == threads == torch_threads == expected and pools == [expected]
