"""The gated training pipeline for one symbol: the Django side of ``mlcore.pipeline``.

``train(request, run)``:
1. data QA (gate 1): the stored candles up to ``until``, sane, ordered, unique and complete;
2. features and triple-barrier labels aligned, no look-ahead (gate 2);
3. XGBoost purged walk-forward: out-of-fold log loss below the class prior's, and its
   out-of-fold IC above the best simple rule's (momentum, reversal, funding; chosen on
   earlier folds) on the same rows (gate 3);
4. LSTM purged walk-forward: not worse than the class prior (gate 4);
5. ensemble + calibration learned walk-forward, graded, and the graded out-of-fold signals
   backtested net of fees and funding against same-turnover random signals (gate 5);
6. the final members fitted on every row, the calibrator on every out-of-fold prediction,
   saved atomically; promotion only if the challenger beats the champion on the same
   out-of-sample rows (gate 6), atomically;
7. the record: ``ModelVersion``, its walk-forward ``Evaluation`` (``records``), an MLflow
   run from the typed figures (``tracking.track_training``).
A failed gate stops the run with its reason and leaves the champion untouched, unless
``force``: then every stage still runs and the promotion is recorded as forced. The run's stage
and percent are saved as it goes (``progress.Tracker``; the CLI bar and the /training page
read them). What a run is asked to do comes from ``config``; its ``TrainingRun`` row from
``runs``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.market import UnknownSeries, candles_frame, funding_frame
from analysis.quality import find_gaps, ms_to_datetime, row_problems
from mlcore import artifacts
from mlcore.backtest.signals import GradedBacktest
from mlcore.config import TrainRequest
from mlcore.models import GradingConfig, ModelVersion, TrainingRun
from mlcore.pipeline.common import gates, rule_baselines
from mlcore.pipeline.common.alignment import check_alignment
from mlcore.pipeline.common.calibrate import log_loss
from mlcore.pipeline.common.confirmations import market_context
from mlcore.pipeline.common.device import compute_device
from mlcore.pipeline.common.grading import GradingRules, call_strength, grade
from mlcore.pipeline.common.hits import HitCalibrator, walk_forward_confidence
from mlcore.pipeline.common.labels import Labels, triple_barrier
from mlcore.pipeline.common.out_of_sample import EvaluationFigures, outcomes
from mlcore.pipeline.common.rule_baselines import BestRule
from mlcore.pipeline.common.scoring import score_graded
from mlcore.pipeline.common.split import walk_forward
from mlcore.pipeline.features import FeatureFrame, build_features, make_spec
from mlcore.pipeline.models.base import Dataset, class_index
from mlcore.pipeline.models.lstm import LSTMMember
from mlcore.pipeline.models.xgb import QUICK_GRID, XGBMember
from mlcore.pipeline.symbol.predict import Bundle, predict
from mlcore.pipeline.symbol.targets import TargetChoice, choose_target
from mlcore.pipeline.symbol.walkforward import (
    EnsembleOOF,
    MemberOOF,
    ensemble_walk_forward,
    final_ensemble,
    fit_final,
    member_walk_forward,
)
from mlcore.pipeline.universe.scale_free import cost_in_vol, symbol_frame
from mlcore.progress import Tracker
from mlcore.records import TrainedFigures, data_hash, record_version
from mlcore.registry import promote
from mlcore.runs import TrainingError, start_run
from mlcore.tracking import track_training

log = logging.getLogger(__name__)
FAR_FUTURE = np.iinfo(np.int64).max // 2  # end time of a label not known yet


class GateFailed(Exception):
    def __init__(self, result: gates.GateResult) -> None:
        super().__init__(f"gate {result.number} ({result.name}) failed: {result.reason}")
        self.result = result


@dataclass
class Prepared:
    candles: pd.DataFrame
    funding: pd.DataFrame
    features: FeatureFrame
    labels: Labels
    data: Dataset
    open_time: np.ndarray
    end_time: np.ndarray
    data_hash: str


class Trainer:
    """One run of the pipeline; each stage is a method, in the order of the module docstring."""

    def __init__(
        self, request: TrainRequest, run: TrainingRun, tracker: Tracker, simulation: str = ""
    ) -> None:
        self.request = request
        self.run = run
        self.tracker = tracker
        # A simulation's window: every stage runs whatever a gate says (the window records
        # the verdict), and the model is recorded under the simulation, never promoted.
        self.simulation = simulation
        self.prepared: Prepared | None = None
        self.config = request.train_config()
        self.device = compute_device()
        self.failed: list[gates.GateResult] = []
        self.baselines: BestRule | None = None
        self.figures: TrainedFigures | None = None
        self.target: TargetChoice | None = None
        self.rules: GradingRules | None = None  # the grade thresholds read at grading

    # -- gates ---------------------------------------------------------------------------
    def gate(self, result: gates.GateResult) -> None:
        self.run.gates = [*self.run.gates, result.to_dict()]
        self.run.save(update_fields=["gates"])
        self.tracker.note(("PASS " if result.passed else "FAIL ") + result.reason)
        if not result.passed:
            self.failed.append(result)
            if not (self.request.force or self.simulation):
                raise GateFailed(result)

    # -- 1, 2 ----------------------------------------------------------------------------
    def prepare(self) -> Prepared:
        r = self.request
        self.tracker.stage("data")
        try:
            candles = candles_frame(r.symbol, r.interval, until=r.until)
        except (UnknownSeries, ValueError) as exc:
            raise TrainingError(str(exc)) from exc
        if candles.empty:
            raise TrainingError(
                f"no {r.interval} candles stored for {r.symbol}"
                + (f" before {r.until:%Y-%m-%d %H:%M}" if r.until else "")
            )
        funding = funding_frame(r.symbol)
        if r.until is not None and not funding.empty:
            funding = funding[funding["funding_time"] < int(r.until.timestamp() * 1000)]
        step = interval_ms(r.interval)
        problems = row_problems(candles, step)
        gaps = find_gaps(candles["open_time"].to_numpy(), step)
        detail = (
            "; ".join([str(p) for p in problems[:3]] + [f"gap {g}" for g in gaps[:3]])
            + " (run `manage.py check_data --repair`)"
        )
        self.gate(gates.data_quality(len(problems), len(gaps), len(candles), detail))

        self.tracker.stage("features")
        spec = make_spec(
            r.interval, columns=candles.columns, funding=funding if not funding.empty else None
        )
        if len(candles) < spec.warmup + 10 * r.barrier.horizon * self.config.split.folds:
            raise TrainingError(
                f"{len(candles)} {r.interval} candles of {r.symbol} are too few: the features "
                f"need {spec.warmup} bars of warm-up, then enough rows for "
                f"{self.config.split.folds} walk-forward folds"
            )
        features = build_features(candles, funding if not funding.empty else None, spec=spec)
        if spec.uses_funding:
            stale = features.warm[[f for f in spec.features if f.startswith("funding")]]
            stale = stale.isna().any(axis=1)
            if stale.any():
                # A hole in the funding history (BCHUSDT has a year of none): the inputs are
                # NaN there, never a forward-filled old rate, so this model goes without them
                # (the backtests still charge the funding that was settled).
                first = ms_to_datetime(int(stale.index[stale.to_numpy()][0]))
                self.tracker.note(
                    f"funding is missing or over {spec.params.funding_max_age_hours} h old on "
                    f"{int(stale.sum())} of {len(stale)} bars (first {first:%Y-%m-%d %H:%M}): "
                    "trained without the funding inputs"
                )
                spec = make_spec(r.interval, columns=candles.columns, funding=None)
                features = build_features(candles, None, spec=spec)
        if r.choose_target:
            r = self.choose_target(candles, features)
        labels = triple_barrier(candles, r.barrier)
        report = check_alignment(features, labels)
        self.gate(gates.alignment(report.problems, report.rows))
        w = spec.warmup
        y = class_index(labels.label.to_numpy()[w:])
        open_time = candles["open_time"].to_numpy(np.int64)[w:]
        end_time = np.where(y >= 0, labels.end_time.to_numpy()[w:], FAR_FUTURE)
        data = Dataset(features.warm.to_numpy(np.float32), y, spec.features)
        self.tracker.note(
            f"{len(candles)} candles, {len(spec.features)} features, {len(data)} rows after "
            f"a {w}-bar warm-up; classes sell/neutral/buy {np.bincount(y[y >= 0], minlength=3)}"
        )
        return Prepared(
            candles,
            funding,
            features,
            labels,
            data,
            open_time,
            end_time,
            data_hash(candles, funding),
        )

    def choose_target(self, candles: pd.DataFrame, features: FeatureFrame) -> TrainRequest:
        """The horizon and barrier width judged best on the first fold's inner validation
        slice (``pipeline.targets``); the request and the configuration follow it."""
        r = self.request
        spec = features.spec
        choice = choose_target(
            candles,
            features.warm.to_numpy(np.float32),
            spec.features,
            spec.warmup,
            r.barrier,
            tuple(settings.TARGET_HORIZONS),
            tuple(settings.TARGET_ATR_MULTIPLES),
            self.config.split,
            lambda: XGBMember(QUICK_GRID, device=self.device, seed=self.config.seed),
        )
        self.target = choice
        self.request = replace(r, barrier=choice.barrier)
        if r.config is None:  # the embargo follows the chosen horizon
            self.config = self.request.train_config()
        scores = ", ".join(
            f"{k} {'n/a' if v is None else f'{v:+.3f}'}" for k, v in choice.scores.items()
        )
        self.tracker.note(
            f"label chosen on the first fold's validation slice: {choice.barrier.horizon} bars, "
            f"barriers at {choice.barrier.upper_atr:g} ATR (validation IC: {scores})"
        )
        return self.request

    # -- 3, 4 ----------------------------------------------------------------------------
    def xgb(self) -> XGBMember:
        return XGBMember(self.config.xgb_grid, device=self.device, seed=self.config.seed)

    def lstm(self) -> LSTMMember:
        return LSTMMember(self.config.lstm, device=self.device, seed=self.config.seed)

    def members(self, p: Prepared) -> tuple[MemberOOF, MemberOOF]:
        folds = walk_forward(p.open_time, p.end_time, self.config.split)
        t = self.request.thresholds
        self.tracker.stage("xgboost")
        xgb = member_walk_forward(self.xgb, p.data, folds, p.open_time, self.tracker.within)
        loss, prior = xgb.scores(p.data.y)
        model_ic, best = self.against_rules(p, xgb)
        self.baselines = best
        self.gate(gates.xgb_vs_baselines(loss, prior, t.xgb_max_loss_ratio, model_ic, best))
        self.tracker.stage("lstm")
        lstm = member_walk_forward(self.lstm, p.data, folds, p.open_time, self.tracker.within)
        loss, prior = lstm.scores(p.data.y)
        self.gate(gates.member_vs_prior(4, "LSTM", loss, prior, t.lstm_max_loss_ratio, False))
        return xgb, lstm

    def against_rules(self, p: Prepared, xgb: MemberOOF) -> tuple[float | None, BestRule]:
        """XGBoost's out-of-fold IC, and the simple rules' (the best one chosen on earlier
        folds), on the same rows: p(buy) - p(sell) against the forward return over the label
        horizon."""
        w = p.features.spec.warmup
        positions = w + xgb.rows
        forward = outcomes(p.candles, p.labels).forward_return[positions]
        frame = symbol_frame(
            p.candles, p.funding if not p.funding.empty else None, self.request.interval
        )
        rules = rule_baselines.rule_scores(frame.iloc[positions])
        best = rule_baselines.best_rule_walk_forward(rules, forward, xgb.fold)
        scored = np.isin(xgb.fold, list(best.chosen))
        score = xgb.proba[:, 2] - xgb.proba[:, 0]
        model_ic = rule_baselines.spearman(score[scored], forward[scored]) if scored.any() else None
        return model_ic, best

    # -- 5 -------------------------------------------------------------------------------
    def graded_oof(
        self, p: Prepared, xgb: MemberOOF, lstm: MemberOOF
    ) -> tuple[EnsembleOOF, EvaluationFigures, list[GradedBacktest], HitCalibrator]:
        """Ensemble and class calibration walk-forward, then each call's hit probability from
        a calibrator fitted on earlier folds' settled calls (``hits``); the folds that got one
        are graded, judged against their grades' promises, and backtested. Returns the hit
        calibrator that serves: fitted on every settled out-of-fold call."""
        r = self.request
        self.tracker.stage("ensemble")
        oof = ensemble_walk_forward(xgb, lstm, p.data.y, p.open_time, p.end_time, self.config)
        w = p.features.spec.warmup
        full = outcomes(p.candles, p.labels)
        direction, strength = call_strength(oof.calibrated)
        cost = r.barrier.round_trip_cost
        cost_z = cost_in_vol(p.candles["close"].to_numpy(np.float64), r.barrier.horizon, cost)[
            w + oof.rows
        ]
        net = direction * full.exit_return[w + oof.rows] - cost
        settled = np.isfinite(net) & (direction != 0) & np.isfinite(cost_z)
        confidence, calibrated_folds = walk_forward_confidence(
            strength,
            cost_z,
            net > 0,
            settled,
            oof.fold,
            p.open_time[oof.rows],
            p.end_time[oof.rows],
            self.config.min_calibration_rows // 4,
        )
        if not calibrated_folds:
            # Too few directional calls (a model that mostly says neutral, or a short history)
            # to learn their hit rate: no grade can be earned. A gate failure, not bad input.
            calls = int(settled.sum())
            self.gate(gates.too_few_calls(calls, self.config.min_calibration_rows // 4))
            rate = float((net[settled] > 0).mean()) if calls else 0.5
            hits = HitCalibrator.constant(rate)
            confidence = np.where(direction != 0, rate, np.nan)
            calibrated_folds = sorted({int(f) for f in oof.fold})
        else:
            hits = HitCalibrator.fit(strength[settled], cost_z[settled], net[settled] > 0)
        keep = np.isin(oof.fold, calibrated_folds)
        oof = oof.take(keep)
        confidence = confidence[keep]
        positions = w + oof.rows  # in the candles frame
        context = market_context(p.candles, r.interval).at(p.open_time[oof.rows])
        rules = self.rules = GradingConfig.current().rules()
        graded = grade(oof.calibrated, context, oof.p_xgb, oof.p_lstm, rules, confidence)
        scored = score_graded(
            p.candles,
            p.funding,
            r.interval,
            positions,
            full,
            oof.raw,
            oof.calibrated,
            oof.prior,
            graded,
            r.barrier,
            rules,
            random_runs=r.random_runs or settings.RANDOM_RUNS,
            min_independent=settings.MIN_INDEPENDENT_CALLS,
            progress=self.tracker.within,
        )
        figures, backtests = scored.figures, scored.backtests
        shown = [g.grade for g in figures.per_grade if g.supported] or ["none"]
        self.tracker.note(
            f"calibrated out-of-fold rows {figures.rows}: "
            f"log loss {figures.calibrated.log_loss:.4f}"
            f" (raw {figures.raw.log_loss:.4f}, prior {figures.prior_log_loss:.4f}), ECE "
            f"{figures.calibrated.ece:.3f} (raw {figures.raw.ece:.3f}), IC {figures.ic}; "
            f"hit-probability ECE {figures.hit_ece}; grades the evidence backs: " + ", ".join(shown)
        )
        self.gate(gates.backtest_vs_random(backtests, r.thresholds))
        return oof, figures, backtests, hits

    # -- 6 -------------------------------------------------------------------------------
    def final(
        self, p: Prepared, xgb_oof: MemberOOF, lstm_oof: MemberOOF, hits: HitCalibrator
    ) -> Bundle:
        self.tracker.stage("final")
        xgb, _ = fit_final(self.xgb, p.data, p.open_time, p.end_time, self.config)
        self.tracker.within(1, 2, force=True)
        lstm, _ = fit_final(self.lstm, p.data, p.open_time, p.end_time, self.config)
        weight, calibrator = final_ensemble(xgb_oof, lstm_oof, p.data.y, self.config)
        return Bundle(
            self.request.interval,
            p.features.spec,
            self.request.barrier,
            xgb,
            lstm,
            weight,
            calibrator,
            hits,
        )

    def compare_with_champion(
        self, p: Prepared, oof: EnsembleOOF
    ) -> tuple[ModelVersion | None, gates.GateResult]:
        """Gate 6 on the rows both models predicted out of sample: the champion's own
        walk-forward rows, and the rows after its training window plus embargo."""
        r = self.request
        champion = ModelVersion.objects.champion(r.symbol, r.interval)
        if champion is None:
            return None, gates.promotion(None, None, 0, r.thresholds, None)
        times = p.open_time[oof.rows]
        theirs = np.full((len(times), 3), np.nan)
        directory = Path(champion.artifact_path)
        try:
            stored = artifacts.load_arrays(directory, "oof.npz")
            idx = pd.Index(stored["open_time"]).get_indexer(times)
            theirs[idx >= 0] = stored["calibrated"][idx[idx >= 0]]
            since = int(champion.evaluable_from.timestamp() * 1000)
            if times[-1] >= since:
                bundle = artifacts.load_bundle(directory)
                later = predict(
                    bundle, p.candles, p.funding if not p.funding.empty else None, since=since
                )
                idx = pd.Index(later.open_time).get_indexer(times)
                theirs[idx >= 0] = later.calibrated[idx[idx >= 0]]
        except (artifacts.ArtifactError, ValueError, OSError) as exc:
            self.tracker.note(f"champion {champion.version} cannot predict these rows: {exc}")
        y = p.data.y[oof.rows]
        common = (y >= 0) & ~np.isnan(theirs).any(axis=1)
        ours_loss = log_loss(y[common], oof.calibrated[common]) if common.any() else None
        their_loss = log_loss(y[common], theirs[common]) if common.any() else None
        result = gates.promotion(
            ours_loss, their_loss, int(common.sum()), r.thresholds, champion.version
        )
        return champion, result

    def record(self, p: Prepared, bundle: Bundle, oof: EnsembleOOF) -> ModelVersion:
        return record_version(
            self.request,
            self.run,
            self.config,
            self.device,
            self.request.force and bool(self.failed),  # served past a failed gate
            p,
            bundle,
            oof,
            self.figures,
            simulation=self.simulation,
        )

    # -- the whole run -------------------------------------------------------------------
    def execute(self) -> ModelVersion | None:
        p = self.prepared = self.prepare()
        xgb_oof, lstm_oof = self.members(p)
        oof, figures, backtests, hits = self.graded_oof(p, xgb_oof, lstm_oof)
        xgb_loss, prior_loss = xgb_oof.scores(p.data.y)
        lstm_loss, _ = lstm_oof.scores(p.data.y)
        self.figures = TrainedFigures(
            xgb_oof,
            lstm_oof,
            xgb_loss,
            lstm_loss,
            prior_loss,
            figures,
            backtests,
            self.baselines,
            self.target,
            self.rules,
        )
        bundle = self.final(p, xgb_oof, lstm_oof, hits)
        if self.simulation:
            return self.record(p, bundle, oof)
        self.tracker.stage("promotion")
        _, promotion = self.compare_with_champion(p, oof)
        version = self.record(p, bundle, oof)
        # The version, not the server path: the log is shown on /training to every trader.
        self.tracker.note(f"saved {version.version}")
        try:
            self.gate(promotion)
        finally:  # the version carries every verdict, the promotion's included
            version.gates = self.run.gates
            version.save(update_fields=["gates"])
        promote(version)
        self.tracker.note(
            f"{version.version} is now the champion" + (" (forced)" if version.forced else "")
        )
        return version


def train(
    request: TrainRequest,
    run: TrainingRun | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> TrainingRun:
    """Run the pipeline, recording everything on ``run``; never raises for a failed gate
    (the run says which and why). TrainingError (bad input) is recorded and re-raised."""
    run = run or start_run(request)
    run.status, run.started_at = TrainingRun.Status.RUNNING, timezone.now()
    run.options = run.options | request.options()  # keeps why it was queued
    run.save(update_fields=["status", "started_at", "options"])
    tracker = Tracker(run, progress)
    trainer = Trainer(request, run, tracker)
    failure: BaseException | None = None
    try:
        version = trainer.execute()
        if trainer.failed:
            run.status = TrainingRun.Status.FORCED
            run.message = f"{version.version} promoted with --force past: " + "; ".join(
                f"gate {g.number} ({g.reason})" for g in trainer.failed
            )
        else:
            run.status = TrainingRun.Status.PASSED
            run.message = f"{version.version} promoted after passing every gate"
    except GateFailed as exc:
        run.status, run.message = TrainingRun.Status.FAILED, str(exc)
        if run.model_version is None:
            run.message += "; no model saved, the champion is untouched"
        else:
            run.message += f"; {run.model_version.version} stays a challenger"
    except TrainingError as exc:
        run.status, run.message, failure = TrainingRun.Status.ERROR, str(exc), exc
    except Exception as exc:
        log.exception("training #%s failed", run.pk)
        run.status, run.message, failure = (
            TrainingRun.Status.ERROR,
            f"{type(exc).__name__}: {exc}",
            exc,
        )
    tracker.finish()
    run.finished_at = timezone.now()
    if run.status in {TrainingRun.Status.PASSED, TrainingRun.Status.FORCED}:
        run.percent, run.stage = 100.0, "done"
    run.save()
    track_training(run, trainer.figures)
    if isinstance(failure, TrainingError):
        raise failure
    return run


@dataclass(frozen=True)
class SimulatedTraining:
    """A simulation window's training of one symbol's model (``signals.simulation``)."""

    version: ModelVersion | None  # None: no model could be trained (``message`` says why)
    passed: bool  # every gate passed
    message: str  # the failed gates' reasons, or why no model
    rule: str  # the simple rule its training rows favoured (best IC over every fold)
    labels_end_ms: int | None  # where the last label it trained on ended


def train_simulated(request: TrainRequest, simulation: str) -> SimulatedTraining:
    """The pipeline on the bars before ``request.until``, as the product would have trained
    then; its run and model are recorded under ``simulation`` (never live: no promotion, no
    MLflow run). A gate failure is recorded, not raised; bad input (too short a history, no
    candles) gives no model and says why. Other errors are raised."""
    run = TrainingRun.everything.create(
        symbol=request.symbol,
        interval=request.interval,
        options=request.options(),
        simulation=simulation,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
    )
    tracker = Tracker(run, None)
    trainer = Trainer(request, run, tracker, simulation=simulation)
    try:
        version = trainer.execute()
    except TrainingError as exc:
        run.status, run.message = TrainingRun.Status.ERROR, str(exc)
        run.finished_at = timezone.now()
        run.save()
        return SimulatedTraining(None, False, str(exc), "", None)
    tracker.finish()
    passed = not trainer.failed
    message = "; ".join(f"gate {g.number} ({g.reason})" for g in trainer.failed)
    run.status = TrainingRun.Status.PASSED if passed else TrainingRun.Status.FAILED
    run.message, run.finished_at = message or "passed every gate", timezone.now()
    run.percent, run.stage = 100.0, "done"
    run.save()
    p = trainer.prepared
    known = p.data.y >= 0
    labels_end = int(p.end_time[known].max()) if known.any() else None
    rules = trainer.baselines.rules if trainer.baselines else []
    scored = [r for r in rules if r.ic is not None]
    rule = max(scored, key=lambda r: r.ic).rule if scored else ""
    return SimulatedTraining(version, passed, message or "passed every gate", rule, labels_end)
