"""MLflow: one run per training, with its parameters, per-fold metrics, gate results, the
reliability table and the model's files.

The tracking URI comes from settings (a sqlite store under ``var/`` by default; the compose
file's MLflow server in production). Tracking is a record beside the product's own
(``TrainingRun``/``ModelVersion``), so an unreachable MLflow is logged and reported on the run,
never a reason to lose a trained model."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from mlcore.models import TrainingRun
from mlcore.records import TrainedFigures

log = logging.getLogger(__name__)
MAX_PARAM = 6000  # MLflow's limit on a parameter value


@dataclass
class TrackedRun:
    name: str
    tags: dict[str, str]
    params: dict[str, object]
    metrics: dict[str, float] = field(default_factory=dict)
    fold_metrics: list[dict[str, float]] = field(default_factory=list)  # one dict per fold
    documents: dict[str, object] = field(default_factory=dict)  # file name -> JSON-able
    artifact_dir: Path | None = None
    failed: bool = False


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = str(value)[:MAX_PARAM]


def log_run(run: TrackedRun) -> str | None:
    """Record ``run`` in MLflow; its run id, or None when tracking is off or failed."""
    uri = settings.MLFLOW_TRACKING_URI
    if not uri:
        return None
    try:
        from mlflow.entities import Metric, Param, RunStatus
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(settings.MLFLOW_EXPERIMENT)
        if experiment is None:
            # A local store keeps artifacts under var/; a server decides for itself.
            location = None if uri.startswith("http") else settings.MLFLOW_ARTIFACT_ROOT
            experiment_id = client.create_experiment(
                settings.MLFLOW_EXPERIMENT, artifact_location=location
            )
        else:
            experiment_id = experiment.experiment_id
        created = client.create_run(experiment_id, run_name=run.name, tags=run.tags)
        run_id = created.info.run_id
        params: dict[str, str] = {}
        _flatten("", run.params, params)
        metrics = [Metric(k, float(v), 0, 0) for k, v in run.metrics.items() if v is not None]
        for step, fold in enumerate(run.fold_metrics, start=1):
            metrics += [Metric(f"fold.{k}", float(v), 0, step) for k, v in fold.items()]
        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, max(len(items), len(metrics)), 100):
            client.log_batch(
                run_id, metrics=metrics[start : start + 100], params=items[start : start + 100]
            )
        for name, document in run.documents.items():
            client.log_dict(run_id, document, name)
        if run.artifact_dir is not None:
            client.log_artifacts(run_id, str(run.artifact_dir), "model")
        status = RunStatus.FAILED if run.failed else RunStatus.FINISHED
        client.set_terminated(run_id, RunStatus.to_string(status))
        return run_id
    except Exception as exc:  # tracking must never cost a trained model
        log.warning("MLflow tracking at %s failed: %s", uri, exc)
        return None


def track_training(run: TrainingRun, figures: TrainedFigures | None) -> None:
    """One MLflow run for a finished training, from the typed figures it measured (none when
    it stopped before the ensemble; each gate's figures are logged either way)."""
    version = run.model_version
    metrics: dict[str, float] = {}
    folds: list[dict[str, float]] = []
    reliability: list = []
    if figures is not None:
        e = figures.ensemble
        metrics = {
            "xgboost.log_loss": figures.xgb_loss,
            "lstm.log_loss": figures.lstm_loss,
            "prior.log_loss": figures.prior_loss,
            "ensemble.log_loss": e.calibrated.log_loss,
            "ensemble.ece": e.calibrated.ece,
            "ensemble.raw_ece": e.raw.ece,
            "ensemble.brier": e.calibrated.brier,
            "ensemble.accuracy": e.accuracy,
            "ensemble.majority_accuracy": e.majority_accuracy,
        }
        if e.ic is not None:
            metrics["ensemble.ic"] = e.ic
        if e.hit_ece is not None:
            metrics["ensemble.hit_ece"] = e.hit_ece
        if figures.baselines is not None and figures.baselines.ic is not None:
            metrics["baselines.best_rule_ic"] = figures.baselines.ic
        folds = [
            {
                "xgboost_log_loss": xf.log_loss,
                "lstm_log_loss": lf.log_loss,
                "prior_log_loss": xf.prior_log_loss,
            }
            for xf, lf in zip(figures.xgb.folds, figures.lstm.folds, strict=True)
        ]
        reliability = [asdict(b) for b in e.calibrated.reliability]
    for g in run.gates:  # failed runs too: each gate's figures
        for key, value in g["figures"].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[f"gate{g['number']}.{key}"] = value
    run_id = log_run(
        TrackedRun(
            name=f"{run.symbol}-{run.interval}-#{run.pk}",
            tags={
                "symbol": run.symbol,
                "interval": run.interval,
                "status": run.status,
                "model_version": version.version if version else "",
            },
            params={
                "options": run.options,
                "config": version.config if version else {},
                "label": version.label_params if version else {},
            },
            metrics=metrics,
            fold_metrics=folds,
            documents={"gates.json": run.gates, "reliability.json": reliability},
            artifact_dir=Path(version.artifact_path) if version else None,
            failed=run.status not in {TrainingRun.Status.PASSED, TrainingRun.Status.FORCED},
        )
    )
    if run_id and version:
        version.mlflow_run_id = run_id
        version.save(update_fields=["mlflow_run_id"])
