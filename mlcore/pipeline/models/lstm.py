"""LSTM member: the last ``seq_len`` bars of features -> 2-layer LSTM -> dense -> dropout -> 3
classes.

- Scaling (mean/std per feature) is fitted on the training rows only and saved as JSON.
- A row's sequence is the rows before it in the dataset, clamped at the dataset's first row
  (edge padding); live inference always hands it a full window.
- Early stopping on the inner validation slice's log loss; the best epoch's weights are kept.
- Seeds are fixed and batches drawn from a seeded generator, so a CPU run is reproducible
  bit for bit. The same code runs on CUDA when it is there.
- Saved as a ``state_dict`` (loaded with ``weights_only=True``), never pickled.
- torch is imported where a member trains or loads (and the network lives in ``lstm_net``), so
  a web process or a ``manage.py`` command that never touches an LSTM does not pay for torch's
  1.4 s import.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlcore.pipeline.models.base import Dataset, FitInfo, require_all_classes

if TYPE_CHECKING:
    import torch

    from mlcore.pipeline.models.lstm_net import LSTMNet

WEIGHTS, SCALER = "lstm.pt", "lstm_scaler.json"
CLIP = 5.0  # scaled features beyond +-5 sd are clipped: one wild bar must not dominate


@dataclass(frozen=True)
class LSTMParams:
    seq_len: int = 24
    hidden: int = 32
    layers: int = 2
    dense: int = 32
    dropout: float = 0.2
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 25
    patience: int = 4


QUICK = LSTMParams(hidden=16, dense=16, learning_rate=3e-3, batch_size=64, max_epochs=6, patience=2)


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Scaler:
        mean = np.nanmean(X, axis=0)
        std = np.nanstd(X, axis=0)
        return cls(mean, np.where(std > 0, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        scaled = np.clip((X - self.mean) / self.std, -CLIP, CLIP)
        return np.nan_to_num(scaled, nan=0.0).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Scaler:
        return cls(np.asarray(data["mean"]), np.asarray(data["std"]))


class LSTMMember:
    name = "lstm"

    def __init__(
        self,
        params: LSTMParams | None = None,
        *,
        device: str = "cpu",
        seed: int = 0,
        on_epoch: Callable[[int, int], None] | None = None,
    ) -> None:
        import torch

        self.p = params or LSTMParams()
        self.device = torch.device(device)
        self.seed = seed
        self.on_epoch = on_epoch
        self.net: LSTMNet | None = None
        self.scaler: Scaler | None = None
        self.n_features = 0

    def _windows(self, X: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        import torch

        offsets = torch.arange(-self.p.seq_len + 1, 1, device=X.device)
        index = torch.as_tensor(rows, device=X.device)[:, None] + offsets
        return X[index.clamp_(min=0)]

    def _tensor(self, data: Dataset) -> torch.Tensor:
        import torch

        assert self.scaler is not None
        return torch.from_numpy(self.scaler.transform(data.X)).to(self.device)

    def _loss(self, X: torch.Tensor, y: torch.Tensor, rows: np.ndarray) -> float:
        import torch
        from torch import nn

        assert self.net is not None
        self.net.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(rows), 4096):
                batch = rows[start : start + 4096]
                logits = self.net(self._windows(X, batch))
                target = y[torch.as_tensor(batch, device=X.device)]
                total += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
        return total / max(len(rows), 1)

    def fit(self, data: Dataset, train: np.ndarray, validation: np.ndarray) -> FitInfo:
        """1. Scale on training rows. 2. Epochs of shuffled mini-batches. 3. Keep the epoch
        with the lowest validation log loss; stop after ``patience`` epochs without one."""
        import torch
        from torch import nn

        from mlcore.pipeline.models.lstm_net import LSTMNet

        started = time.perf_counter()
        train, validation = data.labelled(train), data.labelled(validation)
        require_all_classes(data.y[train], "training")
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.n_features = data.X.shape[1]
        self.scaler = Scaler.fit(data.X[train])
        X = self._tensor(data)
        y = torch.as_tensor(np.maximum(data.y, 0), device=self.device)
        self.net = LSTMNet(self.n_features, self.p).to(self.device)
        optimiser = torch.optim.AdamW(
            self.net.parameters(), lr=self.p.learning_rate, weight_decay=self.p.weight_decay
        )
        best_loss, best_epoch, best_state = np.inf, 0, None
        epoch_times = []
        for epoch in range(1, self.p.max_epochs + 1):
            tick = time.perf_counter()
            self.net.train()
            order = rng.permutation(train)
            for start in range(0, len(order), self.p.batch_size):
                batch = order[start : start + self.p.batch_size]
                optimiser.zero_grad()
                logits = self.net(self._windows(X, batch))
                loss = nn.functional.cross_entropy(
                    logits, y[torch.as_tensor(batch, device=y.device)]
                )  # the index on the targets' device: a CPU index into a CUDA tensor fails
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                optimiser.step()
            loss = self._loss(X, y, validation)
            epoch_times.append(time.perf_counter() - tick)
            if self.on_epoch:
                self.on_epoch(epoch, self.p.max_epochs)
            if loss < best_loss - 1e-6:
                best_loss, best_epoch = loss, epoch
                best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            elif epoch - best_epoch >= self.p.patience:
                break
        assert best_state is not None
        self.net.load_state_dict(best_state)
        return FitInfo(
            params=asdict(self.p),
            validation_log_loss=float(best_loss),
            iterations=best_epoch,
            seconds=time.perf_counter() - started,
            epoch_seconds=float(np.mean(epoch_times)),
            epochs=len(epoch_times),
        )

    def predict_proba(self, data: Dataset, rows: np.ndarray) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("the LSTM member is not fitted")
        import torch

        X = self._tensor(data)
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), 4096):
                logits = self.net(self._windows(X, rows[start : start + 4096]))
                out.append(torch.softmax(logits, dim=1).double().cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, 3))

    def save(self, directory: Path) -> dict:
        import torch

        assert self.net is not None and self.scaler is not None
        torch.save(self.net.state_dict(), directory / WEIGHTS)
        (directory / SCALER).write_text(json.dumps(self.scaler.to_dict()))
        return {
            "file": WEIGHTS,
            "scaler": SCALER,
            "params": asdict(self.p),
            "n_features": self.n_features,
        }

    @classmethod
    def load(cls, directory: Path, meta: dict, *, device: str = "cpu") -> LSTMMember:
        import torch

        from mlcore.pipeline.models.lstm_net import LSTMNet

        member = cls(replace(LSTMParams(), **meta["params"]), device=device)
        member.n_features = int(meta["n_features"])
        member.scaler = Scaler.from_dict(json.loads((directory / meta["scaler"]).read_text()))
        member.net = LSTMNet(member.n_features, member.p).to(member.device)
        state = torch.load(directory / meta["file"], map_location=member.device, weights_only=True)
        member.net.load_state_dict(state)
        member.net.eval()
        return member
