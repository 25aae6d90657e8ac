"""Where trained models live and how they are written and read.

A model version is a directory under ``settings.MODELS_DIR/<SYMBOL>/<interval>/<version>/``:
- ``xgb.ubj`` (XGBoost's own format), ``lstm.pt`` (a ``state_dict``), ``lstm_scaler.json``,
  ``calibrator.json``, ``hits.json`` (the hit calibrator): no pickle anywhere;
- ``oof.npz``: the out-of-fold calibrated predictions (for fair champion/challenger
  comparisons) and ``reference.npz``: a feature sample of the training window (for drift);
  both read with ``allow_pickle=False``;
- ``manifest.json``: format version, feature spec, label parameters, ensemble weight, and
  the sha256 of every file.
It is written into a temporary sibling directory and renamed into place, so a reader sees a
whole model or none. Loading checks the format version, every file's hash and the feature spec,
and refuses a mismatch with a message naming the difference.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
from django.conf import settings

from mlcore.pipeline.common.calibrate import Calibrator
from mlcore.pipeline.common.dissimilarity import Dissimilarity
from mlcore.pipeline.common.hits import HitCalibrator
from mlcore.pipeline.common.labels import BarrierParams
from mlcore.pipeline.features import FeatureSpec
from mlcore.pipeline.models.lstm import LSTMMember
from mlcore.pipeline.models.xgb import XGBMember
from mlcore.pipeline.symbol.predict import Bundle
from mlcore.pipeline.universe.conditions import Condition
from mlcore.pipeline.universe.final_model import UniverseModel, config_from_dict
from mlcore.pipeline.universe.pooled import Members
from mlcore.pipeline.universe.scale_free import UniverseParams

# 2: a hit calibrator (hits.json): confidence is the probability that a call is a hit.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"


class ArtifactError(ValueError):
    """A model directory that cannot be used: missing, corrupt, or for another spec."""


def version_dir(symbol: str, interval: str, version: str) -> Path:
    return Path(settings.MODELS_DIR) / symbol / interval / version


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A temporary sibling directory to write a version into, renamed to ``target`` when the
    block ends without an error (so a reader sees a whole model or none), removed otherwise."""
    if target.exists():
        raise ArtifactError(f"{target} exists already; a version is written once")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        staging.chmod(0o755)  # mkdtemp makes it private; a model is readable like any file
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _seal(staging: Path, manifest: dict) -> None:
    manifest["files"] = {p.name: _sha256(p) for p in sorted(staging.iterdir())}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))


def save_bundle(
    bundle: Bundle,
    target: Path,
    *,
    oof: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    extra: dict | None = None,
) -> Path:
    """Write ``bundle`` to ``target`` atomically (temporary directory, then rename)."""
    with _staged(target) as staging:
        manifest = {
            "format_version": FORMAT_VERSION,
            "interval": bundle.interval,
            "feature_spec": bundle.spec.to_dict(),
            "label_params": asdict(bundle.barrier),
            "xgb": bundle.xgb.save(staging),
            "lstm": bundle.lstm.save(staging),
            "xgb_weight": bundle.xgb_weight,
            "calibrator": "calibrator.json",
            "hits": "hits.json",
            **(extra or {}),
        }
        (staging / "calibrator.json").write_text(json.dumps(bundle.calibrator.to_dict()))
        (staging / "hits.json").write_text(json.dumps(bundle.hits.to_dict()))
        np.savez_compressed(staging / "oof.npz", **oof)
        np.savez_compressed(staging / "reference.npz", **reference)
        _seal(staging, manifest)
    return target


def save_universe(
    model: UniverseModel,
    target: Path,
    *,
    extra: dict | None = None,
    reference: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a universe model the same way: members, hit calibrator and everything that
    decides its inputs, in the manifest; ``reference``: a sample of its training rows'
    inputs across every symbol (``reference.npz``, what its drift check compares with)."""
    with _staged(target) as staging:
        if reference is not None:
            np.savez_compressed(staging / "reference.npz", **reference)
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "universe",
            "model": model.describe(),
            "members": model.members.save(staging),
            **(extra or {}),
        }
        _seal(staging, manifest)
    return target


def load_universe(directory: Path) -> UniverseModel:
    manifest = read_manifest(directory)
    if manifest.get("kind") != "universe":
        raise ArtifactError(f"{directory} holds a per-symbol model, not a universe model")
    try:
        m = manifest["model"]
        config = config_from_dict(m["config"])
        params = UniverseParams.from_dict(m["params"])
        return UniverseModel(
            m["interval"],
            params,
            config,
            list(m["features"]),
            int(m["horizon"]),
            Members.load(directory, manifest["members"], config),
            HitCalibrator.from_dict(m["hits"]),
            tuple(m["symbols"]),
            tuple(m["supported"]),
            Dissimilarity.from_dict(m["dissimilarity"]) if m.get("dissimilarity") else None,
            # A model saved before its barrier was: the setting's value then, read now.
            float(m.get("atr_multiple", settings.LABEL_ATR_MULTIPLE)),
            # A model saved before conditions graded every call with ``hits``.
            Condition.from_dict(m.get("condition")),
            HitCalibrator.from_dict(m["inside_hits"]) if m.get("inside_hits") else None,
            # A model saved before that evidence had none for unseen symbols.
            tuple(m.get("supported_unseen", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{directory}: bad universe manifest: {exc}") from exc


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"no model at {directory}: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    found = manifest.get("format_version")
    if found != FORMAT_VERSION:
        raise ArtifactError(
            f"{directory} has model format version {found}; this code reads version "
            f"{FORMAT_VERSION}: retrain the model"
        )
    for name, digest in manifest.get("files", {}).items():
        file = directory / name
        if not file.is_file():
            raise ArtifactError(f"{directory}: {name} is missing")
        if _sha256(file) != digest:
            raise ArtifactError(f"{directory}: {name} does not match its recorded sha256")
    return manifest


def load_bundle(
    directory: Path, *, expected_spec: FeatureSpec | None = None, device: str = "cpu"
) -> Bundle:
    """The bundle at ``directory``; with ``expected_spec``, refuse a model built on another."""
    manifest = read_manifest(directory)
    try:
        spec = FeatureSpec.from_dict(manifest["feature_spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{directory}: bad feature spec in the manifest: {exc}") from exc
    if expected_spec is not None:
        try:
            spec.require_same(expected_spec)
        except ValueError as exc:
            raise ArtifactError(f"{directory}: {exc}") from exc
    calibrator = Calibrator.from_dict(json.loads((directory / manifest["calibrator"]).read_text()))
    return Bundle(
        interval=manifest["interval"],
        spec=spec,
        barrier=BarrierParams(**manifest["label_params"]),
        xgb=XGBMember.load(directory, manifest["xgb"], device=device),
        lstm=LSTMMember.load(directory, manifest["lstm"], device=device),
        xgb_weight=float(manifest["xgb_weight"]),
        calibrator=calibrator,
        hits=HitCalibrator.from_dict(json.loads((directory / manifest["hits"]).read_text())),
        dissimilarity=_dissimilarity(directory, spec),
    )


def _dissimilarity(directory: Path, spec: FeatureSpec) -> Dissimilarity | None:
    """The dissimilarity reference of a symbol model: fitted on the sample of its training rows
    saved for drift checks (training rows only, so its threshold is a training figure)."""
    if not (directory / "reference.npz").exists():
        return None
    reference = load_arrays(directory, "reference.npz")
    names = [str(n) for n in reference["names"]]
    if names != list(spec.features):
        return None
    return Dissimilarity.fit(reference["features"], names)


def load_arrays(directory: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(directory / name, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
