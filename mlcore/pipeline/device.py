"""Which compute device the models use: CUDA when torch sees a GPU, the CPU otherwise. The same
code runs on both; only this answer changes."""

from __future__ import annotations

from functools import cache


@cache
def compute_device() -> str:
    import torch  # imported here so the pure modules that do not train stay light

    return "cuda" if torch.cuda.is_available() else "cpu"
