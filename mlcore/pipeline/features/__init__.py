from __future__ import annotations

from mlcore.pipeline.features.build import FeatureFrame, build_features, latest_row, make_spec
from mlcore.pipeline.features.spec import FeatureParams, FeatureSpec, FeatureSpecMismatch

__all__ = [
    "FeatureFrame",
    "FeatureParams",
    "FeatureSpec",
    "FeatureSpecMismatch",
    "build_features",
    "latest_row",
    "make_spec",
]
