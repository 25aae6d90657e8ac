"""Training benchmark on the shared 1h history of one symbol (about 12,000 bars).

    .venv/bin/python benchmarks/training.py [--symbol BTCUSDT] [--skip-end-to-end]
    .venv/bin/python benchmarks/training.py --pooled

1. Features and triple-barrier labels for the whole history.
2. XGBoost purged walk-forward with the default grid (5 folds x 4 settings), timed.
3. LSTM purged walk-forward with the default network: seconds per epoch and in all, on the
   CPU; and on CUDA with the same code when torch sees a GPU, with the CPU/GPU epoch ratio.
4. End to end: ``manage.py train_all`` (no --quick) in a subprocess on a fresh embedded
   database under a temporary var directory, after importing the symbol's files, against the
   target of 3 minutes per symbol.
With --pooled instead: the research universe (13 symbols of ``../shared/data/universe``)
imported into a fresh embedded database, then ``manage.py train_all --pooled`` (the full
configuration) timed against the target of 15 minutes, on the device torch sees.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bars import SHARED  # noqa: E402
from benchmarks.targets import Targets  # noqa: E402
from mlcore.pipeline.common.labels import BarrierParams, triple_barrier  # noqa: E402
from mlcore.pipeline.common.split import walk_forward  # noqa: E402
from mlcore.pipeline.features import build_features, make_spec  # noqa: E402
from mlcore.pipeline.models.base import Dataset, class_index  # noqa: E402
from mlcore.pipeline.models.lstm import LSTMMember  # noqa: E402
from mlcore.pipeline.models.xgb import XGBMember  # noqa: E402
from mlcore.pipeline.symbol.walkforward import TrainConfig, member_walk_forward  # noqa: E402

TARGET_SECONDS = 180.0
POOLED_TARGET_SECONDS = 900.0


def prepared(symbol: str):
    candles = pd.read_csv(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
    funding = pd.read_csv(SHARED / f"binance_futures_{symbol}_funding.csv.gz").rename(
        columns={"funding_rate": "rate"}
    )
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    features = build_features(candles, funding, spec=spec)
    labels = triple_barrier(candles, BarrierParams(round_trip_cost=0.0012))
    w = spec.warmup
    y = class_index(labels.label.to_numpy()[w:])
    open_time = candles["open_time"].to_numpy()[w:]
    end_time = np.where(y >= 0, labels.end_time.to_numpy()[w:], np.iinfo(np.int64).max // 2)
    data = Dataset(features.warm.to_numpy(np.float32), y, spec.features)
    return candles, data, open_time, end_time


def lstm_walk_forward(data, folds, open_time, config, device: str) -> tuple[float, float, int]:
    """(seconds in all, mean seconds per epoch, epochs run) of the LSTM walk-forward."""
    started = time.perf_counter()
    oof = member_walk_forward(
        lambda: LSTMMember(config.lstm, device=device, seed=0), data, folds, open_time
    )
    total = time.perf_counter() - started
    ran = sum(f.fit.epochs for f in oof.folds)
    per_epoch = sum(f.fit.epoch_seconds * f.fit.epochs for f in oof.folds) / ran
    return total, per_epoch, ran


def pooled() -> float:
    """Seconds of ``train_all --pooled`` on the universe, from a fresh embedded database."""
    files = sorted((SHARED / "universe").glob("*_1h.csv.gz"))
    symbols = [f.name.split("_")[2] for f in files]
    with fresh_var() as manage:
        manage("migrate", "--noinput")
        manage("import_klines", str(SHARED / "universe"))
        started = time.perf_counter()
        manage("train_all", "--pooled", "--symbols", ",".join(symbols))
        return time.perf_counter() - started


@contextmanager
def fresh_var():
    """A ``manage.py`` runner on a fresh embedded database in a temporary var directory."""
    with tempfile.TemporaryDirectory() as var:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env |= {"TRADINGAI_VAR_DIR": var, "MLFLOW_TRACKING_URI": f"sqlite:///{var}/mlflow.db"}

        def manage(*args: str) -> None:
            subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        yield manage


def end_to_end(symbol: str) -> float:
    with fresh_var() as manage:
        manage("migrate", "--noinput")
        manage(
            "import_klines",
            str(SHARED / f"binance_futures_{symbol}_1h.csv.gz"),
            str(SHARED / f"binance_futures_{symbol}_funding.csv.gz"),
        )
        started = time.perf_counter()
        manage("train_all", "--symbols", symbol)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--pooled", action="store_true", help="the universe walk-forward")
    args = parser.parse_args()
    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}"
    )
    targets = Targets()
    if args.pooled:
        seconds = pooled()
        word = targets.check("pooled training within its target", seconds <= POOLED_TARGET_SECONDS)
        print(
            f"train_all --pooled on the 13-symbol universe: {seconds:.1f} s, "
            f"{seconds / POOLED_TARGET_SECONDS:.0%} of the {POOLED_TARGET_SECONDS:.0f} s target "
            f"({word})"
        )
        targets.finish()
        return

    started = time.perf_counter()
    candles, data, open_time, end_time = prepared(args.symbol)
    print(
        f"{args.symbol}: {len(candles)} bars, {len(data)} rows x {data.X.shape[1]} features "
        f"after warm-up; features and labels {time.perf_counter() - started:.2f} s"
    )
    config = TrainConfig.build(horizon=24)
    folds = walk_forward(open_time, end_time, config.split)

    started = time.perf_counter()
    member_walk_forward(lambda: XGBMember(config.xgb_grid, seed=0), data, folds, open_time)
    xgb_seconds = time.perf_counter() - started
    print(
        f"XGBoost walk-forward ({len(folds)} folds x {len(config.xgb_grid)} settings, cpu): "
        f"{xgb_seconds:.1f} s"
    )

    cpu_total, cpu_epoch, cpu_epochs = lstm_walk_forward(data, folds, open_time, config, "cpu")
    sequences = np.mean([len(f.train) for f in folds])
    print(
        f"LSTM walk-forward (cpu): {cpu_total:.1f} s, {cpu_epochs} epochs, "
        f"{cpu_epoch:.3f} s per epoch ({sequences:,.0f} training sequences per fold on average)"
    )
    if torch.cuda.is_available():
        gpu_total, gpu_epoch, gpu_epochs = lstm_walk_forward(data, folds, open_time, config, "cuda")
        print(
            f"LSTM walk-forward (cuda): {gpu_total:.1f} s, {gpu_epochs} epochs, "
            f"{gpu_epoch:.3f} s per epoch; CPU/GPU epoch ratio {cpu_epoch / gpu_epoch:.1f}x"
        )
    else:
        print("LSTM on CUDA: no GPU visible to torch here; run this script on a GPU host.")

    if not args.skip_end_to_end:
        seconds = end_to_end(args.symbol)
        word = targets.check("train_all within its target", seconds <= TARGET_SECONDS)
        print(
            f"train_all end to end (no --quick): {seconds:.1f} s, "
            f"{seconds / TARGET_SECONDS:.0%} of the {TARGET_SECONDS:.0f} s target ({word})"
        )
    targets.finish()


if __name__ == "__main__":
    main()
