"""Rows for tests that need a model version but no trained model behind it."""

from __future__ import annotations

from datetime import UTC, datetime

from mlcore.models import ModelVersion


def model_version(**overrides) -> ModelVersion:
    """A BTCUSDT 1h champion row (its artifacts path leads nowhere); override any field."""
    fields = {
        "symbol": "BTCUSDT",
        "interval": "1h",
        "version": "BTCUSDT-1h-stub",
        "status": "champion",
        "feature_spec_hash": "x",
        "train_start": datetime(2023, 1, 1, tzinfo=UTC),
        "train_end": datetime(2024, 1, 1, tzinfo=UTC),
        "embargo_bars": 24,
        "data_hash": "x",
        "artifact_path": "/nonexistent",
    }
    return ModelVersion.objects.create(**(fields | overrides))
