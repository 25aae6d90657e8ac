"""The LSTM member's network, apart so that importing ``lstm`` does not import torch."""

from __future__ import annotations

import torch
from torch import nn

from mlcore.pipeline.models.lstm import LSTMParams


class LSTMNet(nn.Module):
    def __init__(self, n_features: int, p: LSTMParams) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features, p.hidden, num_layers=p.layers, batch_first=True, dropout=p.dropout
        )
        self.head = nn.Sequential(
            nn.Linear(p.hidden, p.dense), nn.ReLU(), nn.Dropout(p.dropout), nn.Linear(p.dense, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])
