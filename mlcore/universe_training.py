"""The universe (pooled) walk-forward: the Django side of ``mlcore.pipeline.pooled``.

``run_universe(request, progress)``:
1. each symbol's stored candles (before ``until``) and funding are read; a symbol whose
   candles fail data QA (gaps, bad rows) or that is unknown is left out with its reason, and
   the run goes on with the rest (the report lists them);
2. the scale-free inputs per symbol and the market context across them are built
   (``mlcore.pipeline.universe``);
3. the pooled purged walk-forward runs (``mlcore.pipeline.pooled``): horizon chosen on the inner
   validation slices, the universe members, per-symbol members on the same folds, the simple
   rules and the best of them chosen on earlier folds, hit-probability confidence learnt
   walk-forward, and each grade's out-of-sample evidence;
4. the verdict (gate 3 for the universe model: its out-of-fold IC beats the best rule's on
   the same rows, and its hit calibration beats the base rate's log loss) and the report,
   written atomically to ``var/reports/universe_<interval>.json``.
Nothing here serves a signal yet: the report is the evidence a universe champion would need.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone
from sklearn.metrics import log_loss as sk_log_loss

from analysis.intervals import interval_ms
from analysis.market import UnknownSeries, candles_frame, funding_frame
from analysis.quality import find_gaps, row_problems
from mlcore.pipeline import pooled
from mlcore.pipeline.universe import UniverseParams, pooled_frame, symbol_frame


class UniverseError(ValueError):
    """Input the universe walk-forward cannot run on."""


@dataclass(frozen=True)
class UniverseRequest:
    symbols: tuple[str, ...]
    interval: str
    until: datetime | None = None
    quick: bool = False


def load_frames(
    request: UniverseRequest, params: UniverseParams
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Per symbol, its scale-free frame; and the symbols left out, with why."""
    step = interval_ms(request.interval)
    frames, left_out = {}, {}
    for symbol in request.symbols:
        try:
            candles = candles_frame(symbol, request.interval, until=request.until)
        except (UnknownSeries, ValueError) as exc:
            left_out[symbol] = str(exc)
            continue
        if len(candles) < params.warmup + 500:
            left_out[symbol] = f"{len(candles)} {request.interval} candles: too few"
            continue
        problems = row_problems(candles, step)
        gaps = find_gaps(candles["open_time"].to_numpy(), step)
        if problems or gaps:
            first = (problems or [f"gap {g}" for g in gaps])[0]
            left_out[symbol] = f"data QA failed ({first}); run `manage.py check_data --repair`"
            continue
        funding = funding_frame(symbol, until=request.until)
        frames[symbol] = symbol_frame(
            candles, funding if not funding.empty else None, request.interval, params
        )
    return frames, left_out


def gate(rep: dict) -> dict:
    """Gate 3 for the universe model, on the report's out-of-sample figures."""
    model, rule = rep["ic"]["ic"], rep["best_rule"]["ic_same_rows"]["ic"]
    calls = rep["calls"]
    beats_rule = model is not None and (rule is None or model > rule)
    beats_prior = (
        calls["log_loss"] is not None
        and calls["base_rate_log_loss"] is not None
        and calls["log_loss"] < calls["base_rate_log_loss"]
    )
    reason = (
        f"universe model out-of-fold IC {model:+.4f} "
        f"{'beats' if beats_rule else 'does not beat'} the best rule chosen on earlier folds "
        f"({rule:+.4f}); its hit calibration log loss {calls['log_loss']:.4f} "
        f"{'beats' if beats_prior else 'does not beat'} the base rate's "
        f"{calls['base_rate_log_loss']:.4f}"
        if model is not None and rule is not None and calls["log_loss"] is not None
        else "no out-of-fold IC could be measured"
    )
    return {"number": 3, "passed": bool(beats_rule and beats_prior), "reason": reason}


def _hit_log_losses(result: pooled.PooledResult) -> tuple[float | None, float | None]:
    c = result.calls
    scored = np.isin(result.oof.fold, c.calibrated_folds) & np.isfinite(result.oof.forward)
    if not scored.any() or len(set(c.hit[scored])) < 2:
        return None, None
    y = c.hit[scored].astype(int)
    p = np.clip(c.confidence[scored], 1e-4, 1 - 1e-4)
    base = np.full(len(y), np.clip(y.mean(), 1e-4, 1 - 1e-4))
    # The base rate known before each fold would be fairer still; the overall rate flatters
    # the prior, so beating it is the harder test.
    return float(sk_log_loss(y, p, labels=[0, 1])), float(sk_log_loss(y, base, labels=[0, 1]))


def run_universe(
    request: UniverseRequest, progress: Callable[[int, int], None] | None = None
) -> tuple[dict, Path]:
    params = UniverseParams()
    config = pooled.PooledConfig.build(quick=request.quick)
    frames, left_out = load_frames(request, params)
    if len(frames) < 2:
        raise UniverseError(
            "a universe model needs at least two symbols with clean stored candles; "
            + ("left out: " + "; ".join(f"{k}: {v}" for k, v in left_out.items()) or "none")
        )
    rows = pooled_frame(frames, params)
    data = pooled.make_dataset(rows, interval_ms(request.interval), config.horizons, params)
    try:
        result = pooled.walk_forward(data, config, progress)
    except ValueError as exc:
        raise UniverseError(str(exc)) from exc
    rep = pooled.report(result)
    rep["calls"]["log_loss"], rep["calls"]["base_rate_log_loss"] = _hit_log_losses(result)
    rep = {
        "generated_at": timezone.now().isoformat(),
        "interval": request.interval,
        "until": request.until.isoformat() if request.until else None,
        "quick": request.quick,
        "left_out": left_out,
        "features": data.features,
        "params": params.to_dict(),
        "config": config.to_dict(),
        "gate": None,
    } | rep
    rep["gate"] = gate(rep)
    return rep, write_report(rep, request.interval)


def write_report(rep: dict, interval: str) -> Path:
    reports = Path(settings.REPORTS_DIR)
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"universe_{interval}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(rep, indent=2, default=_plain))
    temporary.replace(path)
    return path


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
