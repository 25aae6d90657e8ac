"""Which compute device the models train on: ``TRADINGAI_DEVICE`` = ``auto`` (CUDA when torch
sees a GPU, the CPU otherwise; the default), ``cpu`` or ``cuda``. The same code runs on both;
only this answer changes. The test suite pins ``cpu``: cuDNN's LSTM is not bit-reproducible, so
bar-exact tests would flake on a GPU host."""

from __future__ import annotations

import os
from functools import cache

CHOICES = ("auto", "cpu", "cuda")


def compute_device() -> str:
    return _resolve(os.environ.get("TRADINGAI_DEVICE", "auto").strip().lower() or "auto")


@cache
def _resolve(wanted: str) -> str:
    if wanted not in CHOICES:
        raise ValueError(f"TRADINGAI_DEVICE={wanted!r}: one of {', '.join(CHOICES)}")
    if wanted == "cpu":
        return "cpu"
    import torch  # imported here so the pure modules that do not train stay light

    available = torch.cuda.is_available()
    if wanted == "cuda" and not available:
        raise ValueError("TRADINGAI_DEVICE=cuda, but torch sees no CUDA device here")
    return "cuda" if available else "cpu"
