"""The product's own track record: stored history replayed through the models the product
would have had, retrained on its schedule (``manage.py simulate``).

Either family: the universe model (``pooled``: one model over every symbol, one window per
period), or each symbol's own model (one window per period and symbol; its two
family-specific steps are in ``signals.simulation_symbols``). Both store their calls through
the serving interface and are judged by the same track record.

``simulate(request, progress)``:
1. The simulation row: created, or resumed when one of that name was asked the same thing (a
   different ask is refused; ``replace`` starts it over). Its windows follow the schedule:
   one retraining at each window's start, every ``retrain_every`` from ``start`` to ``end``.
2. The inputs, read and computed once: each symbol's candles and funding (data QA as in
   training), its scale-free frame (``universe.symbol_frame``) and the pooled frame across
   symbols (``universe.pooled_frame``), its regime per bar and its market. Features at bar t
   use data up to t only (proven by the features' prefix tests), so slicing the frame at a
   window's start gives exactly what training then would have computed.
3. Each window:
   a. (every window without a model first; one Celery task per window on the gpu queue in
      production, in process in the embedded mode) training on the rows before its start
      (``universe_training.fit_universe``: the same walk-forward, gate and final model as
      ``train_all --pooled``; a symbol's window: ``train SYMBOL``'s pipeline); a row is
      trained on only if its label ends before the window starts. The model is recorded as a
      ``ModelVersion`` of this simulation (never a live champion) with where its labels and
      candles ended, in one transaction with the window;
   then each window not yet done, in time order:
   b. the model that serves the window: the one just trained if it passed its gate; else the
      last one that did (a champion stays until a better one passes; per symbol in a
      per-symbol simulation); with ``force``, the one just trained (its calls are then never
      actionable, as live);
   c. its calls on every bar of the window (``universe_model.predict_rows``, or a symbol
      model's ``predict``: the functions live inference ends in), explained and flagged as
      live ones are, each with the risk figures it would have carried live: a risk model
      fitted on the bars before the window (``risk.model.fit_risk``, kept on the window)
      read at the call's bar with the live function (``mlcore.serving.risk.with_risk``);
      stored as simulated ``Signal`` rows in one transaction that marks the window done. A
      kill loses at most the window in flight; re-running stores nothing twice.
4. The evaluation of the whole track record (``mlcore.pipeline.common.track_record``), and of
   the risk figures (``risk.evaluate.judge``: each window's risk model on its own window,
   beside EWMA and HAR-RV fitted on the bars before it), written atomically to
   ``var/reports/simulation_<name>.json`` and kept on the row for its page.
Simulated signals and models never appear on the dashboard, in the API or in the journal:
their default managers read live rows only.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.market import UnknownSeries, candles_frame, funding_frame
from analysis.quality import ms_to_datetime
from mlcore import reports, serving
from mlcore.backtest.data import market_from_frames
from mlcore.backtest.engine import Market
from mlcore.models import ModelVersion, TrainingRun
from mlcore.pipeline.common import rule_baselines
from mlcore.pipeline.common.confirmations import market_context
from mlcore.pipeline.common.track_record import SymbolCalls, evaluate_track_record, window_figures
from mlcore.pipeline.risk.evaluate import Judged, judge
from mlcore.pipeline.risk.model import Bars, fit_risk
from mlcore.pipeline.risk.model import RiskModel as RiskFitted
from mlcore.pipeline.universe.final_model import predict_rows
from mlcore.pipeline.universe.scale_free import UniverseParams, pooled_frame, symbol_frame
from mlcore.reports import plain
from mlcore.serving import risk as serving_risk
from mlcore.serving.cache import serving_for
from mlcore.training.universe import (
    UniverseError,
    UniverseRequest,
    fit_universe,
    qa_problem,
    record,
    universe_config,
)
from signals import simulation_symbols
from signals.models import Signal, Simulation, SimulationWindow
from signals.simulation_symbols import NO_MODEL

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


class SimulationError(ValueError):
    """A simulation that cannot run as asked; the message says why."""


@dataclass(frozen=True)
class SimulationRequest:
    name: str
    symbols: tuple[str, ...]
    interval: str
    start: datetime
    end: datetime
    retrain_every: timedelta
    pooled: bool = True
    quick: bool = False
    force: bool = False
    replace: bool = False

    def fields(self) -> dict:
        return {
            "interval": self.interval,
            "symbols": list(self.symbols),
            "start": self.start,
            "end": self.end,
            "retrain_every_hours": int(self.retrain_every.total_seconds() // 3600),
            "pooled": self.pooled,
            "quick": self.quick,
            "force": self.force,
        }


@dataclass
class Inputs:
    """Everything step 2 computes once for the whole span."""

    rows: pd.DataFrame  # the pooled frame of every symbol, (open_time, symbol) sorted
    candles: dict[str, pd.DataFrame]
    funding: dict[str, pd.DataFrame]
    markets: dict[str, Market]
    regime: dict[str, pd.Series]  # open_time -> regime name
    left_out: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    # The risk model fitted at each window start (the windows of one period share it).
    risk: dict[datetime, dict] = field(default_factory=dict)

    @cached_property
    def bars(self) -> dict[str, Bars]:
        return {s: Bars.of(c) for s, c in self.candles.items()}


def schedule(start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, datetime]]:
    if every <= timedelta(0):
        raise SimulationError("--retrain-every must be positive")
    if end <= start:
        raise SimulationError(f"the span is empty: {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    windows, at = [], start
    while at < end:
        windows.append((at, min(at + every, end)))
        at += every
    return windows


def open_simulation(request: SimulationRequest) -> Simulation:
    """Step 1."""
    windows = schedule(request.start, request.end, request.retrain_every)
    with transaction.atomic():
        existing = Simulation.objects.select_for_update().filter(name=request.name).first()
        if existing and request.replace:
            discard(existing)
            existing = None
        if existing:
            asked = Simulation(**request.fields()).settings_dict()
            if existing.settings_dict() != asked:
                raise SimulationError(
                    f"a simulation named {request.name!r} exists with other settings "
                    f"({existing.settings_dict()}); resume it with the same ones, or "
                    "--replace it"
                )
            sim = existing
            sim.status, sim.message = Simulation.Status.RUNNING, ""
            sim.save(update_fields=["status", "message", "updated_at"])
        else:
            sim = Simulation.objects.create(name=request.name, **request.fields())
        # One model over every symbol, or each symbol's own.
        symbols = [""] if request.pooled else list(request.symbols)
        for start, end in windows:
            for symbol in symbols:
                SimulationWindow.objects.get_or_create(
                    simulation=sim, start=start, symbol=symbol, defaults={"end": end}
                )
    return sim


def discard(sim: Simulation) -> None:
    """Remove a simulation with its signals, its models and their files."""
    models = list(ModelVersion.everything.filter(simulation=sim.name))
    Signal.everything.filter(simulation=sim).delete()
    TrainingRun.everything.filter(simulation=sim.name).delete()
    sim.delete()
    for model in models:
        model.evaluations.all().delete()
        model.delete()
        shutil.rmtree(model.artifact_path, ignore_errors=True)


def read_inputs(
    sim: Simulation, params: UniverseParams, lookahead: int, until: datetime | None = None
) -> Inputs:
    """Step 2: every symbol's bars up to ``end`` plus ``lookahead`` bars (only for the last
    calls' outcomes; no training or prediction reads past the bar it is at), or up to
    ``until`` (a training task reads only what its window may train on)."""
    step = interval_ms(sim.interval)
    until = until or sim.end + timedelta(milliseconds=lookahead * step)
    started = time.perf_counter()
    frames, candles_of, funding_of, markets, regime, left_out = {}, {}, {}, {}, {}, {}
    for symbol in sim.symbols:
        try:
            candles = candles_frame(symbol, sim.interval, until=until)
        except (UnknownSeries, ValueError) as exc:
            left_out[symbol] = str(exc)
            continue
        problem = qa_problem(candles, step)
        if problem:
            left_out[symbol] = problem
            continue
        funding = funding_frame(symbol, until=until)
        frames[symbol] = symbol_frame(
            candles, funding if not funding.empty else None, sim.interval, params
        )
        candles_of[symbol] = candles
        funding_of[symbol] = funding
        markets[symbol] = market_from_frames(candles, funding, sim.interval)
        context = market_context(candles, sim.interval)
        regime[symbol] = pd.Series(context.regime, index=context.open_time)
    if len(frames) < (2 if sim.pooled else 1):
        raise SimulationError(
            ("a universe simulation needs at least two symbols" if sim.pooled else "no symbol has")
            + " clean stored candles; left out: "
            + ("; ".join(f"{k}: {v}" for k, v in left_out.items()) or "none")
        )
    read = time.perf_counter() - started
    rows = pooled_frame(frames, params)
    seconds = {"read": read, "features": time.perf_counter() - started - read}
    return Inputs(rows, candles_of, funding_of, markets, regime, left_out, seconds)


def _train(sim: Simulation, window: SimulationWindow, inputs: Inputs, progress: Progress):
    """Step 3a."""
    cut = int(window.start.timestamp() * 1000)
    rows = inputs.rows[inputs.rows["open_time"] < cut]
    markets = {s: m.span(last=cut - 1) for s, m in inputs.markets.items()}
    label = f"train {window.start:%Y-%m-%d}"
    fit = fit_universe(
        rows,
        markets,
        inputs.left_out,
        sim.interval,
        window.start,
        sim.quick,
        lambda done, total: progress(label, done, total),
    )
    data, h = fit.data, fit.model.horizon
    step = interval_ms(sim.interval)
    trained = np.isfinite(data.target_z[h])
    # A row's label is the close of the bar h intervals later: it ends when that bar closes.
    labels_end = int(data.open_time[trained].max()) + (h + 1) * step
    candles_end = int(rows["open_time"].max()) + step
    rule = _chosen_rule(data, h)
    request = UniverseRequest(tuple(sim.symbols), sim.interval, until=window.start,
                              quick=sim.quick, force=sim.force)  # fmt: skip
    with transaction.atomic():
        locked = SimulationWindow.objects.select_for_update().get(pk=window.pk)
        if locked.trained_id:  # a second delivery of the same training finished first
            return locked.trained
        version = record(request, fit.model, fit.data, fit.report, simulation=sim.name)
        window.trained = version
        window.passed = bool(fit.report["gate"]["passed"])
        window.labels_end = ms_to_datetime(labels_end)
        window.candles_end = ms_to_datetime(candles_end)
        window.rule = rule
        window.message = fit.report["gate"]["reason"]
        window.save()
    return version


def _chosen_rule(data, horizon: int) -> str:
    """The simple rule a trader would have picked then: the best IC on the training rows."""
    scores = rule_baselines.rule_scores(data.rows)
    ics = {
        name: rule_baselines.spearman(score, data.target_z[horizon])
        for name, score in scores.items()
    }
    ics = {k: v for k, v in ics.items() if v is not None}
    return max(ics, key=ics.get) if ics else ""


def _serving(sim: Simulation, window: SimulationWindow) -> ModelVersion | None:
    """Step 3b."""
    if window.trained and (window.passed or sim.force):
        return window.trained
    earlier = (
        sim.windows.filter(start__lt=window.start, symbol=window.symbol, passed=True)
        .exclude(trained=None)
        .order_by("-start")
        .first()
    )
    return earlier.trained if earlier else None


RISK_MIN_DAYS = 60  # a symbol's bars before a window that a risk fit reads (as train_risk)


def _window_risk(sim: Simulation, window: SimulationWindow, inputs: Inputs) -> dict:
    """Step 3c's risk model: fitted on the bars before the window only (every outcome it
    learns from ended by the window's start), as ``RiskModel.to_dict()``; or why none."""
    cut = int(window.start.timestamp() * 1000)
    step = interval_ms(sim.interval)
    series = []
    for bars in inputs.bars.values():
        before = bars.slice(0, int(np.searchsorted(bars.open_time, cut)))
        if len(before.close) * step >= RISK_MIN_DAYS * 86_400_000:
            series.append(before)
    if not series:
        return {"refused": f"no symbol had {RISK_MIN_DAYS} days of bars before the window"}
    try:
        return fit_risk(series, step, cut).to_dict()
    except ValueError as exc:  # too few resolved outcomes to fit a horizon
        return {"refused": str(exc)}


def _risk_of(sim: Simulation, window: SimulationWindow) -> serving_risk.Loaded | None:
    if not window.risk or "refused" in window.risk:
        return None
    version = f"simulated {sim.name} {window.start:%Y-%m-%d}"
    return serving_risk.Loaded(version, RiskFitted.from_dict(window.risk))


def _calls(
    sim: Simulation, window: SimulationWindow, model: ModelVersion, inputs: Inputs
) -> list[Signal]:
    """Step 3c: the window's calls as unsaved simulated signals, made by the live path's
    serving model (``UniverseServing.calls``), with the risk they would have carried
    (``with_risk``), turned into rows by ``Signal.from_call``."""
    served = serving_for(model)  # the live path's loader and its cache
    first, last = (int(t.timestamp() * 1000) for t in (window.start, window.end))
    rows = inputs.rows[(inputs.rows["open_time"] >= first) & (inputs.rows["open_time"] < last)]
    predicted = [
        predict_rows(served.model, mine, symbol)
        for symbol, mine in rows.groupby("symbol", sort=True)
    ]
    calls = served.calls(predicted, inputs.candles, inputs.regime.__getitem__)
    loaded = _risk_of(sim, window)
    if loaded is not None:
        calls = serving_risk.with_risk(
            loaded, calls, inputs.bars, served.horizon, served.round_trip_cost
        )
    return [Signal.from_call(call, model, simulation=sim) for call in calls]


TRAINING_FAILED = "training failed: "


def train_window(window_id: int) -> int | None:
    """Step 3a for one window, on its own (a Celery task on the gpu queue in production, one per
    window): reads only the bars before the window, trains, records. Idempotent: a window that
    has its model returns it; a second delivery racing the first keeps one model."""
    window = SimulationWindow.objects.select_related("simulation").get(pk=window_id)
    if window.trained_id:
        return window.trained_id
    sim = window.simulation
    started = time.perf_counter()
    try:
        if window.symbol:
            version = simulation_symbols.train(sim, window)
        else:
            inputs = read_inputs(sim, UniverseParams(), 0, until=window.start)
            version = _train(sim, window, inputs, lambda *_: None)
    except Exception as exc:
        SimulationWindow.objects.filter(pk=window.pk).update(
            message=f"{TRAINING_FAILED}{type(exc).__name__}: {exc}"
        )
        raise
    SimulationWindow.objects.filter(pk=window.pk).update(
        seconds={"train": time.perf_counter() - started}
    )
    return version.pk if version else None


# How often the wait for the gpu queue asks whether any worker still consumes it, and how long
# none may answer before the wait ends: a worker whose processes train on every core can take
# seconds to answer (seen: a 1-second ask missed a busy worker on 2 cores), so one silent ask
# is no proof it is gone.
WORKER_CHECK_SECONDS = 30.0
WORKER_GONE_SECONDS = 120.0


def gpu_workers(timeout: float = 1.0) -> list[str]:
    """The Celery workers that answer within ``timeout`` seconds and consume the gpu queue."""
    from signals import tasks

    app = tasks.train_simulation_window.app  # the project's Celery app, as the task knows it
    queues = app.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(
        name for name, listed in queues.items() if any(q["name"] == "gpu" for q in listed)
    )


def train_windows(sim: Simulation, inputs: Inputs, progress: Progress, poll: float = 2.0) -> None:
    """Step 3a for every window without a model. In process (the embedded mode, where tasks
    run eagerly, or when no worker consumes the gpu queue) on the inputs already computed;
    otherwise fanned out as one Celery task per window on the gpu queue, so more workers finish
    it sooner, and waited for here while a worker is there to do them."""
    from signals import tasks

    # A window whose symbol could not be trained is settled: asking again gives the same.
    pending = list(
        sim.windows.filter(trained=None, done=False)
        .exclude(message__startswith=NO_MODEL)
        .order_by("start", "symbol")
    )
    if not pending:
        return
    in_process = tasks.train_simulation_window.app.conf.task_always_eager
    if not in_process and not gpu_workers(timeout=3.0):
        # Sent to a queue nobody reads, the tasks would be waited for forever.
        log.warning("no Celery worker consumes the gpu queue: training in this process")
        progress("no worker on the gpu queue: training here", 0, len(pending))
        in_process = True
    if in_process:
        for number, window in enumerate(pending):
            started = time.perf_counter()
            if window.symbol:
                progress(f"train {window.start:%Y-%m-%d} {window.symbol}", number, len(pending))
                simulation_symbols.train(sim, window)
            else:
                _train(sim, window, inputs, progress)
            window.seconds = {"train": time.perf_counter() - started}
            window.save(update_fields=["seconds"])
        return
    SimulationWindow.objects.filter(pk__in=[w.pk for w in pending]).update(message="")
    for window in pending:
        tasks.train_simulation_window.delay(window.pk)
    asked = heard = time.monotonic()
    while True:
        rows = list(sim.windows.filter(pk__in=[w.pk for w in pending]))
        failed = [w for w in rows if w.message.startswith(TRAINING_FAILED)]
        if failed:
            raise SimulationError(f"window {failed[0].start:%Y-%m-%d}: {failed[0].message}")
        done = sum(w.trained_id is not None or w.message.startswith(NO_MODEL) for w in rows)
        progress("trainings (Celery, gpu queue)", done, len(rows))
        if done == len(rows):
            return
        if time.monotonic() - asked > WORKER_CHECK_SECONDS:
            asked = time.monotonic()
            if gpu_workers(timeout=5.0):
                heard = asked
            elif asked - heard > WORKER_GONE_SECONDS:
                raise SimulationError(
                    f"no Celery worker consumes the gpu queue any more ({done} of {len(rows)} "
                    "windows trained, kept): start one and run the same command again to resume"
                )
        time.sleep(poll)


def run_window(
    sim: Simulation, window: SimulationWindow, inputs: Inputs, progress: Progress
) -> None:
    """Steps 3b-c for one trained window; its calls are stored with the window marked done,
    atomically."""
    seconds = dict(window.seconds)
    model = _serving(sim, window)
    tick = time.perf_counter()
    if window.risk is None:
        if window.start not in inputs.risk:
            inputs.risk[window.start] = _window_risk(sim, window, inputs)
        window.risk = inputs.risk[window.start]
        seconds["risk"] = time.perf_counter() - tick
    tick = time.perf_counter()
    signals, why = [], "no model had passed its gates by then"
    if window.symbol in inputs.left_out:  # its stored bars over the span failed data QA
        model, why = None, f"{window.symbol} was left out: {inputs.left_out[window.symbol]}"
    elif model and window.symbol:
        loaded = _risk_of(sim, window)
        signals = simulation_symbols.calls(sim, window, model, inputs, loaded)
    elif model:
        signals = _calls(sim, window, model, inputs)
    seconds["predict"] = time.perf_counter() - tick
    tick = time.perf_counter()
    stored = Signal.everything.filter(
        simulation=sim, open_time__gte=window.start, open_time__lt=window.end
    )
    if window.symbol:
        stored = stored.filter(symbol=window.symbol)
    with transaction.atomic():
        # A window killed before this commit stored nothing; one re-run after stores it once.
        stored.delete()
        Signal.everything.bulk_create(signals, batch_size=2000)
        window.served_by = model
        window.done = True
        window.seconds = seconds | {"store": time.perf_counter() - tick}
        if model is None:
            window.message = f"abstained: {why}; {window.message}"
        window.save()


def simulate(request: SimulationRequest, progress: Progress | None = None) -> Simulation:
    """The steps of the module docstring."""
    progress = progress or (lambda *_: None)
    sim = open_simulation(request)
    started = time.perf_counter()
    try:
        params = UniverseParams()
        horizons = universe_config(sim.quick, sim.interval).horizons
        if not sim.pooled:  # a symbol model's label horizon, chosen from these
            horizons = [*horizons, settings.LABEL_HORIZON, *settings.TARGET_HORIZONS]
        lookahead = max(horizons) + 1
        sim.stage = "reading and computing features"
        sim.save(update_fields=["stage", "updated_at"])
        inputs = read_inputs(sim, params, lookahead)
        sim.stage = "training at each window's start"
        sim.save(update_fields=["stage", "updated_at"])
        train_windows(sim, inputs, progress)
        windows = list(sim.windows.order_by("start", "symbol"))
        for number, window in enumerate(windows, start=1):
            if window.done:
                continue
            sim.stage = f"window {number} of {len(windows)}: {window.start:%Y-%m-%d}" + (
                f" {window.symbol}" if window.symbol else ""
            )
            sim.percent = round(95.0 * (number - 1) / len(windows), 1)
            sim.save(update_fields=["stage", "percent", "updated_at"])
            progress("windows", number - 1, len(windows))
            window.refresh_from_db()
            run_window(sim, window, inputs, progress)
        progress("windows", len(windows), len(windows))
        sim.stage = "evaluating the track record"
        sim.save(update_fields=["stage", "updated_at"])
        tick = time.perf_counter()
        sim.report = plain(track_record(sim, inputs))
        inputs.seconds["evaluate"] = time.perf_counter() - tick
    except (UniverseError, SimulationError) as exc:
        _fail(sim, str(exc))
        raise SimulationError(str(exc)) from exc
    except KeyboardInterrupt:
        _fail(sim, "interrupted: run the same command again to resume")
        raise
    except Exception as exc:
        log.exception("simulation %s failed", sim.name)
        _fail(sim, f"{type(exc).__name__}: {exc}")
        raise
    windows = list(sim.windows.order_by("start", "symbol"))
    sim.timings = inputs.seconds | {
        "train": sum(w.seconds.get("train", 0.0) for w in windows),
        "predict": sum(w.seconds.get("predict", 0.0) for w in windows),
        "store": sum(w.seconds.get("store", 0.0) for w in windows),
        "this_run": time.perf_counter() - started,
    }
    sim.report["timings"] = sim.timings
    reports.write_report(f"simulation_{sim.name}.json", sim.report)  # already plain()
    sim.status, sim.stage, sim.percent = Simulation.Status.DONE, "done", 100.0
    sim.save()
    return sim


def _fail(sim: Simulation, message: str) -> None:
    sim.status, sim.message = Simulation.Status.ERROR, message
    sim.save(update_fields=["status", "message", "updated_at"])


def _symbol_calls(sim: Simulation, inputs: Inputs, windows: list[SimulationWindow]) -> list:
    stored = pd.DataFrame.from_records(
        Signal.everything.filter(simulation=sim)
        .order_by("symbol", "open_time")
        .values_list(
            "symbol",
            "open_time",
            "direction",
            "grade",
            "confidence",
            "actionable",
            "model_version_id",
            "explanation__call_score",
            "explanation__outside",
        ),
        columns=["symbol", "open_time", "direction", "grade", "confidence", "actionable",
                 "model", "score", "outside"],
    )  # fmt: skip
    if stored.empty:
        return []
    horizons = {
        m.pk: int(m.label_params.get("horizon", 1))
        for m in ModelVersion.everything.filter(simulation=sim.name)
    }
    rules = {i: w.rule for i, w in enumerate(windows)}
    rows = inputs.rows.set_index(["symbol", "open_time"])
    rule_scores = rule_baselines.rule_scores(inputs.rows)
    rule_frame = pd.DataFrame(rule_scores, index=rows.index)
    out = []
    sign = {"long": 1, "short": -1, "neutral": 0}
    for symbol, mine in stored.groupby("symbol", sort=True):
        t = np.array([int(x.timestamp() * 1000) for x in mine["open_time"]], dtype=np.int64)
        # The symbol's windows: its own (per-symbol) or the universe's, in time order.
        own = [i for i, w in enumerate(windows) if w.symbol in ("", symbol)]
        starts = np.array([int(windows[i].start.timestamp() * 1000) for i in own], np.int64)
        window = np.asarray(own)[np.searchsorted(starts, t, side="right") - 1]
        rule = np.array(
            [
                rule_frame.at[(symbol, ti), rules[w]] if rules[w] in rule_frame else np.nan
                for ti, w in zip(t, window, strict=True)
            ]
        )
        out.append(
            SymbolCalls(
                symbol,
                t,
                mine["direction"].map(sign).to_numpy(np.int64),
                mine["grade"].to_numpy(object),
                mine["confidence"].to_numpy(np.float64),
                pd.to_numeric(mine["score"], errors="coerce").to_numpy(np.float64),
                mine["actionable"].to_numpy(bool),
                mine["model"].map(horizons).to_numpy(np.int64),
                rule,
                window,
                mine["outside"].notna().to_numpy(bool),
            )
        )
    return out


def track_record(sim: Simulation, inputs: Inputs) -> dict:
    """Step 4."""
    windows = list(sim.windows.order_by("start", "symbol").select_related("trained", "served_by"))
    config = universe_config(sim.quick, sim.interval)
    calls = _symbol_calls(sim, inputs, windows)
    evaluation = evaluate_track_record(
        calls,
        inputs.markets,
        config.round_trip_cost,
        config.grades.promises,
        settings.LABEL_ATR_MULTIPLE,
        random_runs=min(settings.RANDOM_RUNS, 50),
        maker_entry=config.maker_entry,
    )
    timeline = []
    for i, w in enumerate(windows):
        figures = window_figures(calls, inputs.markets, config.round_trip_cost, i)
        w.figures = figures
        w.save(update_fields=["figures"])
        timeline.append(
            {
                "symbol": w.symbol,  # blank: every symbol (the universe model)
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "trained": w.trained.version if w.trained else None,
                "passed": w.passed,
                "served_by": w.served_by.version if w.served_by else None,
                "forced": bool(w.served_by and w.served_by.forced),
                "supported_grades": serving.supported_grades(w.served_by) if w.served_by else [],
                "labels_end": w.labels_end.isoformat() if w.labels_end else None,
                "candles_end": w.candles_end.isoformat() if w.candles_end else None,
                "rule": w.rule,
                "gate": w.message,
                "seconds": w.seconds,
            }
            | figures
        )
    return {
        "name": sim.name,
        "generated_at": timezone.now().isoformat(),
        "settings": sim.settings_dict(),
        "left_out": inputs.left_out,
        "round_trip_cost": config.round_trip_cost,
        "windows": timeline,
        "risk": _judge_risk(sim, windows, inputs),
    } | evaluation


def _judge_risk(sim: Simulation, windows: list[SimulationWindow], inputs: Inputs) -> dict:
    """Each window's risk model judged on its own window's bars, pooled and per symbol."""
    fitted = {w.start: w for w in windows if w.risk and "refused" not in w.risk}  # per period
    schedule = [
        Judged(
            int(w.start.timestamp() * 1000),
            int(w.end.timestamp() * 1000),
            RiskFitted.from_dict(w.risk),
        )
        for w in fitted.values()
    ]
    if not schedule:
        why = {w.start.date().isoformat(): (w.risk or {}).get("refused") for w in windows}
        return {"refused": "no window had a risk model", "windows": why}
    return judge(sorted(inputs.bars.items()), interval_ms(sim.interval), schedule)
