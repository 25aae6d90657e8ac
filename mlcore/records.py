"""What a training run leaves behind: the model's files and its ``ModelVersion`` with the
walk-forward ``Evaluation``, from the typed figures the run measured (``TrainedFigures``, which
MLflow tracking reads too)."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.quality import ms_to_datetime
from mlcore import artifacts
from mlcore.backtest.signals import GradedBacktest
from mlcore.config import TrainRequest
from mlcore.models import Evaluation, ModelVersion, TrainingRun
from mlcore.pipeline.common.drift import autocorrelation_time
from mlcore.pipeline.common.grading import GradingRules
from mlcore.pipeline.common.out_of_sample import EvaluationFigures
from mlcore.pipeline.common.rule_baselines import BestRule
from mlcore.pipeline.symbol.predict import Bundle
from mlcore.pipeline.symbol.targets import TargetChoice
from mlcore.pipeline.symbol.walkforward import (
    EnsembleOOF,
    FoldRecord,
    MemberOOF,
    TrainConfig,
    class_prior,
)

if TYPE_CHECKING:
    from mlcore.training.symbol import Prepared

REFERENCE_ROWS = 5000  # training rows kept as the drift reference sample


@dataclass(frozen=True)
class TrainedFigures:
    """Everything a run measured out of sample, typed."""

    xgb: MemberOOF
    lstm: MemberOOF
    xgb_loss: float
    lstm_loss: float
    prior_loss: float
    ensemble: EvaluationFigures
    backtests: list[GradedBacktest]
    baselines: BestRule | None
    target: TargetChoice | None = None  # how the label was chosen (None: fixed by settings)
    grading: GradingRules | None = None  # the thresholds the grades were judged under

    @property
    def supported_grades(self) -> list[str]:
        return [g.grade for g in self.ensemble.per_grade if g.supported]


def data_hash(candles: pd.DataFrame, funding: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(
        candles[["open_time", "open", "high", "low", "close", "volume"]]
        .to_numpy(np.float64)
        .tobytes()
    )
    if not funding.empty:
        digest.update(funding[["funding_time", "rate"]].to_numpy(np.float64).tobytes())
    return digest.hexdigest()


def new_version(
    series: str, interval: str, until: datetime | None, simulation: str = ""
) -> tuple[str, Path]:
    """A new version's name and the folder its files go to: ``<series>-<interval>-<stamp>``,
    the stamp the time now, or for a simulation's model its simulation and window start (short
    enough for the version column, 60 characters, beside the longest series name); numbered on
    when taken, live or simulated."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if simulation:
        short = simulation
        if len(short) > 16:
            short = hashlib.sha1(simulation.encode()).hexdigest()[:10]
        stamp = f"sim-{short}-{until:%Y%m%d%H}"
    name, n = f"{series}-{interval}-{stamp}", 1
    while ModelVersion.everything.filter(version=name).exists():
        n += 1
        name = f"{series}-{interval}-{stamp}-{n}"
    directory = artifacts.version_dir(series, interval, name)
    if simulation and directory.exists():
        # Files without a row: a simulation killed between writing them and its commit.
        shutil.rmtree(directory)
    return name, directory


def record_version(
    request: TrainRequest,
    run: TrainingRun,
    config: TrainConfig,
    device: str,
    forced: bool,
    p: Prepared,
    bundle: Bundle,
    oof: EnsembleOOF,
    figures: TrainedFigures,
    simulation: str = "",
) -> ModelVersion:
    """Save the artifacts (atomically) and the ModelVersion with its walk-forward
    evaluation; the version starts as a challenger. A simulation's model is recorded under its
    name: never a champion of the live product."""
    r = request
    step = interval_ms(r.interval)
    name, directory = new_version(r.symbol, r.interval, r.until, simulation)
    rng = np.random.default_rng(config.seed)
    train_rows = np.flatnonzero(p.data.y >= 0)
    sample = np.sort(rng.choice(train_rows, min(REFERENCE_ROWS, len(train_rows)), False))
    # Drift checks compare later windows with this sample; tau (per feature, measured on
    # the whole training series) tells them how many independent draws a window holds.
    tau = autocorrelation_time(p.data.X)
    artifacts.save_bundle(
        bundle,
        directory,
        oof={"open_time": p.open_time[oof.rows], "calibrated": oof.calibrated, "raw": oof.raw},
        reference={
            "features": p.data.X[sample],
            "names": np.array(p.data.features),
            "open_time": p.open_time[sample],
            "tau": tau,
            "rows": np.array(len(p.data)),
        },
        extra={"symbol": r.symbol, "version": name, "data_hash": p.data_hash},
    )
    version = ModelVersion.everything.create(
        simulation=simulation,
        symbol=r.symbol,
        interval=r.interval,
        version=name,
        forced=forced,
        quick=r.quick,
        device=device,
        feature_spec_hash=bundle.spec.version,
        feature_spec=bundle.spec.to_dict(),
        train_start=ms_to_datetime(int(p.candles["open_time"].iloc[0])),
        train_end=ms_to_datetime(int(p.candles["open_time"].iloc[-1]) + step),
        embargo_bars=config.split.embargo,
        data_hash=p.data_hash,
        label_params=asdict(r.barrier),
        config=config.to_dict()
        | {
            "xgb_weight_final": bundle.xgb_weight,
            # Frozen with the evidence judged under them: an edit applies to the next training.
            "grading": figures.grading.to_dict() if figures.grading else None,
        },
        metrics={
            "xgboost": {
                "log_loss": figures.xgb_loss,
                "prior_log_loss": figures.prior_loss,
                "folds": [fold_dict(f) for f in figures.xgb.folds],
            },
            "lstm": {
                "log_loss": figures.lstm_loss,
                "prior_log_loss": figures.prior_loss,
                "folds": [fold_dict(f) for f in figures.lstm.folds],
            },
            "ensemble": figures.ensemble.as_dict(),
            "baselines": figures.baselines.to_dict() if figures.baselines else None,
            "supported_grades": figures.supported_grades,
            "target": figures.target.to_dict() if figures.target else None,
            "class_prior": class_prior(p.data.y).tolist(),
            "ensemble_weights": {str(k): v for k, v in oof.weights.items()},
        },
        gates=run.gates,
        artifact_path=str(directory),
    )
    Evaluation.objects.create(
        model_version=version,
        kind=Evaluation.Kind.WALK_FORWARD,
        start=ms_to_datetime(int(p.open_time[oof.rows[0]])),
        end=ms_to_datetime(int(p.open_time[oof.rows[-1]]) + step),
        figures=figures.ensemble.judged(r.symbol).as_dict(),
        backtests=[b.as_dict() for b in figures.backtests],
    )
    run.model_version = version
    run.save(update_fields=["model_version"])
    return version


def fold_dict(f: FoldRecord) -> dict:
    return {
        "fold": f.fold,
        "train_rows": f.train_rows,
        "validation_rows": f.validation_rows,
        "test_rows": f.test_rows,
        "test_start": ms_to_datetime(f.test_start).isoformat(),
        "test_end": ms_to_datetime(f.test_end).isoformat(),
        "log_loss": f.log_loss,
        "prior_log_loss": f.prior_log_loss,
        "params": f.fit.params,
        "iterations": f.fit.iterations,
        "seconds": f.fit.seconds,
        "epoch_seconds": f.fit.epoch_seconds,
    }
