"""The universe (pooled) walk-forward: the Django side of ``mlcore.pipeline.universe.pooled``.

``run_universe(request, progress)``:
1. each symbol's stored candles (before ``until``) and funding are read; a symbol whose
   candles fail data QA (gaps, bad rows) or that is unknown is left out with its reason, and
   the run goes on with the rest (the report lists them);
2. the scale-free inputs per symbol and the market context across them are built
   (``mlcore.pipeline.universe.scale_free``);
3. the pooled purged walk-forward runs (``mlcore.pipeline.universe.pooled``): horizon chosen
   on the inner validation slices, the universe members, per-symbol members on the same folds,
   the simple rules and the best of them chosen on earlier folds, hit-probability confidence learnt
   walk-forward, and each grade's out-of-sample evidence;
4. the verdict (gate 3 for the universe model: its out-of-fold IC beats the best rule's on
   the same rows, and its hit calibration beats the base rate's log loss) and the report,
   written atomically to ``var/reports/universe_<interval>.json``;
5. the model that serves (``universe_model.final_model``), saved atomically and recorded as a
   ``ModelVersion`` of the series ``UNIVERSE``, with its walk-forward ``Evaluation``; it is
   promoted to the universe champion if it passed gate 3 (or with ``force``, marked forced).
Which model serves a symbol is decided per symbol (``mlcore.serving``): the universe champion
where it won out of sample, or where the symbol has no model of its own (a new listing).
The run's progress is saved on a ``TrainingRun`` of the series ``UNIVERSE`` as it goes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from sklearn.metrics import log_loss as sk_log_loss

from analysis.intervals import interval_ms
from analysis.market import UnknownSeries, candles_frame, funding_frame
from analysis.quality import find_gaps, ms_to_datetime, row_problems
from mlcore import artifacts, reports
from mlcore.backtest.data import market_from_frames
from mlcore.backtest.engine import Market
from mlcore.models import Evaluation, GradingConfig, ModelVersion, TrainingRun
from mlcore.pipeline.common import rule_baselines
from mlcore.pipeline.common.device import compute_device
from mlcore.pipeline.common.drift import autocorrelation_time
from mlcore.pipeline.common.hits import HitGrades, supported_grades
from mlcore.pipeline.common.judged import HIT_FORWARD, CallFigures
from mlcore.pipeline.universe import pooled
from mlcore.pipeline.universe.final_model import UNIVERSE, UniverseModel, final_model
from mlcore.pipeline.universe.pooled_backtests import backtest_symbols
from mlcore.pipeline.universe.scale_free import UniverseParams, pooled_frame, symbol_frame
from mlcore.records import new_version
from mlcore.registry import promote
from mlcore.runs import abandon_stale

log = logging.getLogger(__name__)


class UniverseError(ValueError):
    """Input the universe walk-forward cannot run on."""


@dataclass(frozen=True)
class UniverseRequest:
    symbols: tuple[str, ...]
    interval: str
    until: datetime | None = None
    quick: bool = False
    force: bool = False

    def options(self) -> dict:
        return {
            "symbols": list(self.symbols),
            "until": self.until.isoformat() if self.until else None,
            "quick": self.quick,
            "force": self.force,
            "pooled": True,
        }


@dataclass(frozen=True)
class UniverseOutcome:
    report: dict
    path: Path
    run: TrainingRun
    version: ModelVersion | None


def qa_problem(candles: pd.DataFrame, step: int) -> str | None:
    """Why a symbol's candles cannot enter a universe run (bad rows, gaps), or None."""
    problems = row_problems(candles, step)
    gaps = find_gaps(candles["open_time"].to_numpy(), step)
    if problems or gaps:
        first = (problems or [f"gap {g}" for g in gaps])[0]
        return f"data QA failed ({first}); run `manage.py check_data --repair`"
    return None


def load_frames(
    request: UniverseRequest, params: UniverseParams
) -> tuple[dict[str, pd.DataFrame], dict[str, Market], dict[str, str]]:
    """Per symbol, its scale-free frame and its market (for the backtests); and the symbols
    left out, with why."""
    step = interval_ms(request.interval)
    frames, markets, left_out = {}, {}, {}
    for symbol in request.symbols:
        try:
            candles = candles_frame(symbol, request.interval, until=request.until)
        except (UnknownSeries, ValueError) as exc:
            left_out[symbol] = str(exc)
            continue
        if len(candles) < params.warmup + 500:
            left_out[symbol] = f"{len(candles)} {request.interval} candles: too few"
            continue
        problem = qa_problem(candles, step)
        if problem:
            left_out[symbol] = problem
            continue
        funding = funding_frame(symbol, until=request.until)
        frames[symbol] = symbol_frame(
            candles, funding if not funding.empty else None, request.interval, params
        )
        markets[symbol] = market_from_frames(candles, funding, request.interval)
    return frames, markets, left_out


def gate(rep: dict) -> dict:
    """Gate 3 for the universe model, on the report's out-of-sample figures."""
    model, rule = rep["ic"]["ic"], rep["best_rule"]["ic_same_rows"]["ic"]
    calls = rep["calls"]
    beats_rule = rule_baselines.beats_rule(model, rule)
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


def start_universe_run(request: UniverseRequest) -> TrainingRun:
    abandon_stale(UNIVERSE, request.interval)
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(
                symbol=UNIVERSE, interval=request.interval, options=request.options()
            )
    except IntegrityError:
        raise UniverseError(
            f"a universe training of {request.interval} is already queued or running"
        ) from None


def run_universe(
    request: UniverseRequest,
    progress: Callable[[int, int], None] | None = None,
    run: TrainingRun | None = None,
) -> UniverseOutcome:
    """The steps of the module docstring. Bad input raises UniverseError (recorded on the
    run); a failed gate does not raise: the run says so and the champion stays."""
    run = run or start_universe_run(request)
    run.status, run.started_at = TrainingRun.Status.RUNNING, timezone.now()
    run.stage, run.percent = "universe walk-forward", 0.0
    run.save(update_fields=["status", "started_at", "stage", "percent"])
    started = time.perf_counter()
    last_save = [0.0]

    def tick(done: int, total: int) -> None:
        run.percent = round(90.0 * done / max(total, 1), 1)
        if time.monotonic() - last_save[0] >= 1.0 or done == total:
            last_save[0] = time.monotonic()
            run.save(update_fields=["percent"])
        if progress:
            progress(done, total)

    try:
        outcome = _run(request, run, tick)
    except UniverseError as exc:
        run.status, run.message, run.finished_at = (
            TrainingRun.Status.ERROR,
            str(exc),
            timezone.now(),
        )
        run.save()
        raise
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: the run ends, it does not stay "running"
        run.status, run.message, run.finished_at = (
            TrainingRun.Status.ERROR,
            "interrupted",
            timezone.now(),
        )
        run.save()
        raise
    except Exception as exc:
        log.exception("universe training #%s failed", run.pk)
        run.status, run.finished_at = TrainingRun.Status.ERROR, timezone.now()
        run.message = f"{type(exc).__name__}: {exc}"
        run.save()
        raise
    run.timings = {"universe": round(time.perf_counter() - started, 3)}
    run.finished_at = timezone.now()
    run.save()
    return outcome


@dataclass(frozen=True)
class UniverseFit:
    """A universe walk-forward and the model it yields, before anything is recorded."""

    report: dict
    model: UniverseModel
    data: pooled.Dataset
    result: pooled.PooledResult


def horizon_bars(interval: str) -> tuple[int, ...]:
    """The interval's horizon candidates (``UNIVERSE_HORIZON_HOURS``) in its bars; an
    interval without its own list takes the 1h hours, each at least one bar."""
    hours = settings.UNIVERSE_HORIZON_HOURS.get(interval, settings.UNIVERSE_HORIZON_HOURS["1h"])
    step = interval_ms(interval)
    return tuple(sorted({max(1, round(h * 3_600_000 / step)) for h in hours}))


def universe_config(quick: bool, interval: str = "1h") -> pooled.PooledConfig:
    # The grades promise the hit rates set on /settings (the universe model has no regime or
    # higher-timeframe confirmations to count), and a call pays the same round trip as a
    # symbol model's.
    grading = GradingConfig.current()  # one row: the thresholds and the costs
    costs = grading.costs()
    return pooled.PooledConfig.build(
        quick=quick,
        horizons=horizon_bars(interval),
        device=compute_device(),
        round_trip_cost=costs.round_trip,
        maker_entry=costs.as_maker,
        grades=HitGrades(
            {r.grade: r.min_confidence for r in grading.rules().rules},
            min_independent=settings.MIN_INDEPENDENT_CALLS,
        ),
    )


def fit_universe(
    rows: pd.DataFrame,
    markets: dict[str, Market],
    left_out: dict[str, str],
    interval: str,
    until: datetime | None,
    quick: bool,
    tick: Callable[[int, int], None],
    stage: Callable[[str], None] = lambda _: None,
) -> UniverseFit:
    """Steps 3-5 of the module docstring up to the final model, on ``rows``
    (``universe.pooled_frame`` of every symbol's bars before ``until``): the walk-forward, its
    report with the gate's verdict and the backtests, and the model that would serve."""
    params = UniverseParams()
    config = universe_config(quick, interval)
    data = pooled.make_dataset(rows, interval_ms(interval), config.horizons, params)
    try:
        result = pooled.walk_forward(data, config, tick)
    except ValueError as exc:
        raise UniverseError(str(exc)) from exc
    rep = pooled.report(result)
    rep["calls"]["log_loss"], rep["calls"]["base_rate_log_loss"] = _hit_log_losses(result)
    rep = {
        "generated_at": timezone.now().isoformat(),
        "interval": interval,
        "until": until.isoformat() if until else None,
        "quick": quick,
        "left_out": left_out,
        "features": data.features,
        "params": params.to_dict(),
        "config": config.to_dict(),
        "gate": None,
    } | rep
    rep["gate"] = gate(rep)
    stage("backtests")
    rep["backtests"] = [
        b.to_dict()
        for b in backtest_symbols(
            result,
            pooled.best_rule(result),
            markets,
            settings.LABEL_ATR_MULTIPLE,
            random_runs=min(settings.RANDOM_RUNS, 50),
        )
    ]
    stage("final")
    supported = supported_grades(rep["calls"]["grades"])
    unseen = rep.get("unseen")
    model = final_model(
        result,
        interval,
        params,
        supported,
        settings.LABEL_ATR_MULTIPLE,
        unseen["supported"] if unseen else [],
    )
    return UniverseFit(rep, model, data, result)


def _run(
    request: UniverseRequest, run: TrainingRun, tick: Callable[[int, int], None]
) -> UniverseOutcome:
    frames, markets, left_out = load_frames(request, UniverseParams())
    if len(frames) < 2:
        raise UniverseError(
            "a universe model needs at least two symbols with clean stored candles; "
            + ("left out: " + "; ".join(f"{k}: {v}" for k, v in left_out.items()) or "none")
        )

    def stage(name: str) -> None:
        run.stage = name
        if name == "final":
            run.percent = 90.0
        run.save(update_fields=["stage", "percent"])

    fit = fit_universe(
        pooled_frame(frames, UniverseParams()),
        markets,
        left_out,
        request.interval,
        request.until,
        request.quick,
        tick,
        stage,
    )
    rep = fit.report
    path = write_report(rep, request.interval)
    run.gates = [rep["gate"]]
    run.save(update_fields=["gates"])
    version = record(request, fit.model, fit.data, rep, run=run)
    passed = rep["gate"]["passed"]
    if passed or request.force:
        promote(version)
        run.status = TrainingRun.Status.PASSED if passed else TrainingRun.Status.FORCED
        run.message = f"{version.version} is the universe champion" + (
            "" if passed else f" (forced past gate 3: {rep['gate']['reason']})"
        )
        run.stage, run.percent = "done", 100.0
    else:
        run.status = TrainingRun.Status.FAILED
        run.message = (
            f"gate 3 (universe model vs rules and base rate) failed: {rep['gate']['reason']}; "
            f"{version.version} stays a challenger"
        )
    return UniverseOutcome(rep, path, run, version)


def _data_hash(data: pooled.Dataset) -> str:
    digest = hashlib.sha256()
    digest.update(data.rows[["open_time", "close"]].to_numpy(np.float64).tobytes())
    digest.update("".join(data.symbol).encode())
    return digest.hexdigest()


def record(
    request: UniverseRequest,
    model: UniverseModel,
    data: pooled.Dataset,
    rep: dict,
    run: TrainingRun | None = None,
    simulation: str = "",
) -> ModelVersion:
    """Save the model's files (atomically) and its ModelVersion and walk-forward Evaluation.
    A simulation's model is recorded under its name: never a champion of the live product."""
    step = interval_ms(request.interval)
    name, directory = new_version(UNIVERSE, request.interval, request.until, simulation)
    artifacts.save_universe(
        model, directory, extra={"version": name}, reference=drift_reference(data)
    )
    spec = {"universe": model.params.to_dict(), "features": model.features}
    spec_hash = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    t = data.open_time
    gates = [
        {
            "number": 1,
            "name": "data quality",
            "passed": not rep["left_out"],
            "reason": "every symbol's candles are clean"
            if not rep["left_out"]
            else "left out: " + "; ".join(f"{k}: {v}" for k, v in rep["left_out"].items()),
            "figures": {"symbols": len(model.symbols), "left_out": len(rep["left_out"])},
        },
        rep["gate"] | {"name": "universe model vs simple rules and base rate", "figures": {}},
    ]
    version = ModelVersion.everything.create(
        simulation=simulation,
        kind=ModelVersion.Kind.UNIVERSE,
        symbol=UNIVERSE,
        interval=request.interval,
        version=name,
        forced=request.force and not rep["gate"]["passed"],  # promoted past a failed gate
        quick=request.quick,
        device="cpu",
        feature_spec_hash=spec_hash,
        feature_spec=spec,
        train_start=ms_to_datetime(int(t.min())),
        train_end=ms_to_datetime(int(t.max()) + step),
        embargo_bars=2 * max(model.config.horizons),
        data_hash=_data_hash(data),
        label_params={
            "horizon": model.horizon,
            "round_trip_cost": model.config.round_trip_cost,
            "target": "forward return over the horizon, in units of the symbol's volatility",
        },
        config=model.config.to_dict() | {"symbols": list(model.symbols), "scope": "universe"},
        metrics={
            "universe": {k: v for k, v in rep.items() if k not in {"features", "calibrator"}},
            "winners": {r["symbol"]: r["winner"] for r in rep["per_symbol"]},
            "supported_grades": list(model.supported),
            "supported_grades_unseen": list(model.supported_unseen),
        },
        gates=gates,
        artifact_path=str(directory),
    )
    oof_times = [f["test_start"] for f in rep["folds"]] + [f["test_end"] for f in rep["folds"]]
    Evaluation.objects.create(
        model_version=version,
        kind=Evaluation.Kind.WALK_FORWARD,
        start=ms_to_datetime(min(oof_times)),
        end=ms_to_datetime(max(oof_times)),
        figures=walk_forward_figures(json.loads(json.dumps(rep, default=_plain)), model),
        backtests=[],
    )
    if run is not None:
        run.model_version = version
        run.save(update_fields=["model_version"])
    return version


def write_report(rep: dict, interval: str) -> Path:
    return reports.write_report(f"universe_{interval}.json", rep, default=_plain)


def drift_reference(data: pooled.Dataset, per_symbol: int = 400) -> dict[str, np.ndarray]:
    """Its drift check's reference: up to ``per_symbol`` training rows of every symbol, evenly
    spaced in time (a sample spanning every symbol, not the most recent one's), with each
    input's autocorrelation time measured on one symbol's rows in time order (the symbol with
    the most rows, its last 20,000)."""
    symbols = data.symbol
    picked = []
    for s in sorted(set(symbols)):
        mine = np.flatnonzero(symbols == s)
        picked.append(mine[np.linspace(0, len(mine) - 1, min(per_symbol, len(mine))).astype(int)])
    sample = np.sort(np.concatenate(picked))
    names, counts = np.unique(symbols, return_counts=True)
    longest = np.flatnonzero(symbols == names[counts.argmax()])[-20_000:]
    return {
        "features": data.X[sample].astype(np.float64),
        "names": np.array(data.features),
        "symbols": symbols[sample].astype(str),
        "open_time": data.open_time[sample],
        "tau": autocorrelation_time(data.X[longest].astype(np.float64)),
        "rows": np.array(len(data.X)),
    }


def walk_forward_figures(rep: dict, model: UniverseModel) -> dict:
    """The walk-forward report in the stored shape (``judged.CallFigures``); what is the universe's
    own (folds, per symbol, the best rule, the members) stays under ``detail``."""
    calls = rep["calls"]
    lifted = {"rows", "ic", "calls"}
    return CallFigures(
        kind="universe",
        hit_definition=HIT_FORWARD + " (the horizon chosen on each fold)",
        horizon=model.horizon,
        round_trip_cost=model.config.round_trip_cost,
        rows=rep["rows"],
        signals=calls["scored_calls"],
        ic=rep["ic"]["ic"],
        ic_p_value=rep["ic"]["p_value"],
        hit_ece=calls["ece"],
        hit_base_rate=calls["hit_base_rate"],
        entry="maker" if model.config.maker_entry else "taker",
        unfilled=calls.get("unfilled", 0),
        per_grade=calls["grades"],
        grade_sets=[],
        detail={k: v for k, v in rep.items() if k not in lifted}
        | {"calibrated_folds": calls["calibrated_folds"]},
    ).as_dict()


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
