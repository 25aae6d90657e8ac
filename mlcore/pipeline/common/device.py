"""Which compute device the models train on: ``TRADINGAI_DEVICE`` = ``auto`` (CUDA when torch
sees a GPU, the CPU otherwise; the default), ``cpu`` or ``cuda``. The same code runs on both;
only this answer changes. The test suite pins ``cpu``: cuDNN's LSTM is not bit-reproducible, so
bar-exact tests would flake on a GPU host.

And how many CPU threads one training may use: a Celery worker's pool processes share the cores
(``share_cores``, called in each pool process at its start), since every process running
XGBoost, BLAS and torch on every core spins their OpenMP pools against each other: a
13-window ``simulate`` on a 2-process worker on 2 cores trained no window in 4 minutes, where
one training alone takes 43 s."""

from __future__ import annotations

import os
import sys
from functools import cache

CHOICES = ("auto", "cpu", "cuda")


_threads: int | None = None  # this process's share of the cores; None: the libraries' default


def share_cores(processes: int) -> int:
    """This process is one of ``processes`` sharing the machine's cores: its XGBoost, BLAS,
    OpenMP and torch pools keep to its share (at least one thread). Returns the share."""
    global _threads
    _threads = max(1, (os.cpu_count() or 1) // max(1, processes))
    from threadpoolctl import threadpool_limits  # scikit-learn's; BLAS and OpenMP pools

    threadpool_limits(_threads)  # the libraries loaded already
    for library in ("OMP", "OPENBLAS", "MKL"):  # those loaded later read it (torch included)
        os.environ[f"{library}_NUM_THREADS"] = str(_threads)
    torch = sys.modules.get("torch")  # imported only where an LSTM trains or loads
    if torch is not None:
        torch.set_num_threads(_threads)
    return _threads


def cpu_threads(default: int | None = None) -> int | None:
    """Threads a training in this process may use: its share of the cores where one was set
    (``share_cores``), else ``default`` (None: the library's own, every core)."""
    return _threads if _threads is not None else default


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
