"""Loaded serving models, kept per process: loading costs far more than predicting a bar."""

from __future__ import annotations

import logging
from collections import OrderedDict

from mlcore import artifacts
from mlcore.models import ModelVersion
from mlcore.pipeline.features import FeatureSpecMismatch
from mlcore.serving.base import ServingModel
from mlcore.serving.choice import is_universe
from mlcore.serving.symbol import SymbolServing
from mlcore.serving.universe import UniverseServing

log = logging.getLogger(__name__)
KEEP = 16  # models kept per process (the oldest loaded goes first)

_loaded: OrderedDict[str, ServingModel] = OrderedDict()


def serving_for(record: ModelVersion) -> ServingModel:
    """The loaded model of ``record`` (raises ``artifacts.ArtifactError`` for a bad file)."""
    kept = _loaded.get(record.version)
    if kept is not None:
        kept.record = record  # the newest row: its status and evidence may have changed
        return kept
    kind = UniverseServing if is_universe(record) else SymbolServing
    model = kind.load(record)
    if len(_loaded) >= KEEP:
        _loaded.popitem(last=False)
    _loaded[record.version] = model
    return model


def forget() -> None:
    """Drop every loaded model (tests; a restore)."""
    _loaded.clear()


def load_champions() -> int:
    """Load every champion now (a worker process calls this at start), so the first signal of
    each series after a restart does not wait ~0.3 s for its models. A model that cannot load
    is left to inference, which refuses it with the reason."""
    loaded = 0
    for record in ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)[:KEEP]:
        try:
            serving_for(record)
            loaded += 1
        except (artifacts.ArtifactError, FeatureSpecMismatch, OSError) as exc:
            log.warning("could not preload %s: %s", record.version, exc)
    return loaded
