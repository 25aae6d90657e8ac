"""Settings to configuration: what a training run is asked to do, built from settings one way.

Every threshold dataclass is built from its settings dict by ``from_settings`` (the fields the
dict names; a key that is not a field, such as the drift window, stays with its caller), so a
new threshold is a field and an entry, never a third way of reading settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import TypeVar

from django.conf import settings

from mlcore.backtest.engine import Costs
from mlcore.pipeline.common import gates
from mlcore.pipeline.common.drift import DriftThresholds
from mlcore.pipeline.common.labels import BarrierParams
from mlcore.pipeline.symbol.walkforward import TrainConfig

T = TypeVar("T")


def from_settings(cls: type[T], values: Mapping[str, object]) -> T:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def trading_costs() -> Costs:
    """What a hand trader pays, as set on /settings (``GradingConfig``: taker or maker entry,
    the fees, the slippage)."""
    from mlcore.models import GradingConfig

    return GradingConfig.current().costs()


def default_barrier() -> BarrierParams:
    costs = trading_costs()
    return BarrierParams(
        upper_atr=settings.LABEL_ATR_MULTIPLE,
        lower_atr=settings.LABEL_ATR_MULTIPLE,
        horizon=settings.LABEL_HORIZON,
        # A "buy" must be a move that pays for its round trip at the chosen costs.
        round_trip_cost=costs.round_trip,
        maker_entry=costs.as_maker,
    )


def configured(horizon: int, quick: bool) -> TrainConfig:
    """The training configuration from settings (``TRAINING``); --quick keeps its 3 folds."""
    t = settings.TRAINING
    config = TrainConfig.build(horizon=horizon, quick=quick)
    split = replace(
        config.split,
        folds=config.split.folds if quick else t["folds"],
        mode=t["mode"],
        train_bars=t["rolling_bars"] or None,
    )
    return replace(
        config,
        split=split,
        xgb_weight=t["xgb_weight"],
        fit_weight=t["fit_weight"],
        calibration=t["calibration"],
    )


def default_thresholds() -> gates.GateThresholds:
    return from_settings(gates.GateThresholds, settings.GATE_THRESHOLDS)


def drift_thresholds() -> DriftThresholds:
    return from_settings(DriftThresholds, settings.DRIFT)


@dataclass(frozen=True)
class TrainRequest:
    symbol: str
    interval: str
    until: datetime | None = None  # train only on bars opening before this
    quick: bool = False
    force: bool = False
    thresholds: gates.GateThresholds = field(default_factory=default_thresholds)
    barrier: BarrierParams = field(default_factory=default_barrier)
    config: TrainConfig | None = None  # None: TrainConfig.build for the label horizon
    random_runs: int | None = None
    # Choose the label's horizon and barrier width by evidence (settings.TARGET_*), or keep
    # ``barrier`` as given.
    choose_target: bool = field(default_factory=lambda: bool(settings.TARGET_HORIZONS))

    def train_config(self) -> TrainConfig:
        return self.config or configured(self.barrier.horizon, self.quick)

    def options(self) -> dict:
        """Everything a queued run needs to be the same run on a worker (``from_options``).
        ``config`` is not carried: a queued run uses the configured one, as the CLI does."""
        return {
            "until": self.until.isoformat() if self.until else None,
            "quick": self.quick,
            "force": self.force,
            "thresholds": self.thresholds.to_dict(),
            "barrier": asdict(self.barrier),
            "random_runs": self.random_runs,
            "choose_target": self.choose_target,
        }

    @classmethod
    def from_options(cls, symbol: str, interval: str, options: dict) -> TrainRequest:
        """The request ``options()`` recorded; options a run recorded before a field existed
        take today's defaults."""
        kwargs: dict = {
            "until": datetime.fromisoformat(options["until"]) if options.get("until") else None,
            "quick": bool(options.get("quick")),
            "force": bool(options.get("force")),
            "random_runs": options.get("random_runs"),
        }
        if options.get("thresholds"):
            kwargs["thresholds"] = gates.GateThresholds(**options["thresholds"])
        if options.get("barrier"):
            kwargs["barrier"] = BarrierParams(**options["barrier"])
        if "choose_target" in options:
            kwargs["choose_target"] = bool(options["choose_target"])
        return cls(symbol, interval, **kwargs)
