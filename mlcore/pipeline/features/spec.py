"""The feature spec: which features, with which parameters, and a hash of both.

A spec is data: it is saved with every model, and inference refuses a model whose spec differs
from the one it would compute, naming the missing and extra features."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from mlcore.pipeline.features.bars import Bars

FUNDING_PREFIXES = ("funding", "hours_to_funding")


@dataclass(frozen=True)
class FeatureParams:
    rsi_periods: tuple[int, ...] = (7, 14, 21)
    roc_horizons: tuple[int, ...] = (1, 3, 6, 12, 24)
    sma_periods: tuple[int, ...] = (10, 20, 50, 100, 200)
    ema_periods: tuple[int, ...] = (10, 20, 50, 100)
    ema_slope_periods: tuple[int, ...] = (20, 50)
    slope_bars: int = 5
    hv_windows: tuple[int, ...] = (24, 72, 168)
    range_window: int = 24
    return_horizons: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 24)
    moment_windows: tuple[int, ...] = (24, 72)
    er_windows: tuple[int, ...] = (10, 30)
    extreme_windows: tuple[int, ...] = (24, 168)
    volume_windows: tuple[int, ...] = (24, 168)
    obv_windows: tuple[int, ...] = (12, 24)
    funding_z_events: int = 30
    # A settlement older than this is not the current rate: funding inputs are NaN then (a
    # symbol whose funding history has holes, like BCHUSDT's, never sees a year-old rate).
    funding_max_age_hours: int = 24
    higher_timeframes: tuple[str, ...] = ("4h", "1d")


@dataclass(frozen=True)
class FeatureDef:
    """One feature: its name, how many bars of history it remembers (for warm-up), the
    optional candle columns it needs, and how to compute it from a Bars series."""

    name: str
    memory: int
    compute: Callable[[Bars], np.ndarray] = field(compare=False, repr=False)
    needs: frozenset[str] = frozenset()
    needs_funding: bool = False


class FeatureSpecMismatch(ValueError):
    def __init__(self, missing: list[str], extra: list[str], detail: str = "") -> None:
        parts = []
        if missing:
            parts.append(f"missing features: {', '.join(missing)}")
        if extra:
            parts.append(f"extra features: {', '.join(extra)}")
        if detail:
            parts.append(detail)
        super().__init__("feature spec differs from the model's: " + "; ".join(parts))
        self.missing, self.extra = missing, extra


@dataclass(frozen=True)
class FeatureSpec:
    interval: str
    params: FeatureParams
    features: tuple[str, ...]
    warmup: int  # bars: enough history that a tail-window computation equals the full one

    @property
    def uses_funding(self) -> bool:
        return any(f.startswith(FUNDING_PREFIXES) for f in self.features)

    @property
    def version(self) -> str:
        payload = json.dumps(self.to_dict(include_version=False), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self, include_version: bool = True) -> dict:
        data = {
            "interval": self.interval,
            "params": asdict(self.params),
            "features": list(self.features),
            "warmup": self.warmup,
        }
        if include_version:
            data["version"] = self.version
        return data

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        params = FeatureParams(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in data["params"].items()}
        )
        spec = cls(data["interval"], params, tuple(data["features"]), int(data["warmup"]))
        if "version" in data and data["version"] != spec.version:
            raise ValueError(f"feature spec version {data['version']} does not match its content")
        return spec

    def require_same(self, other: FeatureSpec) -> None:
        """Raise FeatureSpecMismatch unless ``other`` (what we would compute now) is this."""
        # Equal fields mean an equal version; comparing them first spares hashing both specs
        # on every live bar (0.5 ms).
        if other == self or other.version == self.version:
            return
        missing = [f for f in self.features if f not in other.features]
        extra = [f for f in other.features if f not in self.features]
        detail = ""
        if not missing and not extra:
            detail = "same features, different parameters or interval"
        raise FeatureSpecMismatch(missing, extra, detail)
