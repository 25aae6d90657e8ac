"""XGBoost member: multi-class (sell/neutral/buy) gradient boosting on the current bar's features.

``hist`` trees; early stopping on the inner validation slice; a small grid search whose only
judge is that same slice, so the test fold is never seen. ``device="cuda"`` when a GPU is
present. Saved in XGBoost's own format (UBJSON), never pickled."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from xgboost import XGBClassifier

from mlcore.pipeline.common.device import cpu_threads
from mlcore.pipeline.models.base import Dataset, FitInfo, require_all_classes

FILE = "xgb.ubj"


@dataclass(frozen=True)
class XGBParams:
    max_depth: int = 3
    learning_rate: float = 0.05
    min_child_weight: float = 20.0
    subsample: float = 0.8
    colsample_bytree: float = 0.6
    reg_lambda: float = 5.0
    n_estimators: int = 600
    early_stopping_rounds: int = 40


# Shallow, strongly regularised trees: the signal on hourly bars is faint and overfits fast.
DEFAULT_GRID = (
    XGBParams(max_depth=2),
    XGBParams(max_depth=3),
    XGBParams(max_depth=4, min_child_weight=50.0),
    XGBParams(max_depth=3, learning_rate=0.02, n_estimators=1000),
)
QUICK_GRID = (XGBParams(max_depth=3, learning_rate=0.1, n_estimators=150),)


class XGBMember:
    name = "xgboost"

    def __init__(
        self,
        grid: tuple[XGBParams, ...] = DEFAULT_GRID,
        *,
        device: str = "cpu",
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.grid = grid
        self.device = device
        self.seed = seed
        self.threads = threads
        self.model: XGBClassifier | None = None
        self.params: XGBParams | None = None

    def _classifier(self, p: XGBParams) -> XGBClassifier:
        return XGBClassifier(
            objective="multi:softprob",
            tree_method="hist",
            device=self.device,
            eval_metric="mlogloss",
            random_state=self.seed,
            n_jobs=self.threads if self.threads is not None else cpu_threads(),
            **asdict(p),
        )

    def fit(self, data: Dataset, train: np.ndarray, validation: np.ndarray) -> FitInfo:
        started = time.perf_counter()
        train, validation = data.labelled(train), data.labelled(validation)
        require_all_classes(data.y[train], "training")
        best: tuple[float, XGBClassifier, XGBParams] | None = None
        for p in self.grid:
            model = self._classifier(p)
            model.fit(
                data.X[train],
                data.y[train],
                eval_set=[(data.X[validation], data.y[validation])],
                verbose=False,
            )
            score = float(model.best_score)
            if best is None or score < best[0]:
                best = (score, model, p)
        assert best is not None, "the grid is empty"
        score, self.model, self.params = best
        return FitInfo(
            params=asdict(self.params),
            validation_log_loss=score,
            iterations=int(self.model.best_iteration) + 1,
            seconds=time.perf_counter() - started,
        )

    def predict_proba(self, data: Dataset, rows: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("the XGBoost member is not fitted")
        return self.model.predict_proba(self._on_device(data.X[rows])).astype(np.float64)

    def predict_proba_rows(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for a feature matrix (no dataset around it)."""
        if self.model is None:
            raise RuntimeError("the XGBoost member is not fitted")
        return self.model.predict_proba(self._on_device(X)).astype(np.float64)

    def _on_device(self, X: np.ndarray):
        """The rows where the booster is: a CUDA booster given host memory copies it and warns
        on every call, so its input goes to the GPU first (a torch tensor, which XGBoost reads
        through the CUDA array interface)."""
        X = np.asarray(X, dtype=np.float32)
        if not str(self.device).startswith("cuda"):
            return X
        import torch

        return torch.as_tensor(X, device=self.device)

    def save(self, directory: Path) -> dict:
        assert self.model is not None and self.params is not None
        self.model.save_model(directory / FILE)
        return {"file": FILE, "params": asdict(self.params)}

    @classmethod
    def load(cls, directory: Path, meta: dict, *, device: str = "cpu") -> XGBMember:
        member = cls(device=device)
        member.params = replace(XGBParams(), **meta["params"])
        member.model = member._classifier(member.params)
        member.model.load_model(directory / meta["file"])
        return member

    @property
    def booster(self):
        """The fitted booster (for TreeSHAP)."""
        assert self.model is not None
        return self.model.get_booster()
