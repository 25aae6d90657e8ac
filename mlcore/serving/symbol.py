"""A symbol's own champion (XGBoost + LSTM ensemble) behind the serving interface.

``serve([symbol], bar)``:
1. the window: from the per-process live state (``mlcore.live_state``) where it still holds,
   else a full read of the ``history_needed`` bars, refused when one is missing;
2. funding: refused when the last settlement by the bar's close is overdue (for a model that
   reads funding), never a prediction from stale inputs;
3. predict through ``mlcore.pipeline.symbol.predict`` (the function ``evaluate`` runs), explain the
   predicted class (the XGBoost member), stop and target at the model's own barrier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from analysis.freshness import FUNDING_GRACE_MS, funding_due_ms
from analysis.intervals import interval_ms
from analysis.market import candles_frame, funding_frame
from analysis.quality import find_gaps, ms_to_datetime
from mlcore import artifacts, live_state
from mlcore.backtest_runs import funding_gap
from mlcore.pipeline.common.explain import explain
from mlcore.pipeline.common.labels import triple_barrier
from mlcore.pipeline.common.out_of_sample import outcomes
from mlcore.pipeline.common.scoring import score_graded
from mlcore.pipeline.features import FeatureSpecMismatch
from mlcore.pipeline.symbol.predict import Bundle, Predictions, predict
from mlcore.serving import levels
from mlcore.serving.base import Clock, Scored, ServingModel, WindowRefused, no_candles
from mlcore.serving.call import Call, Refusal, Refused


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for a single bar (measured: with two workers on two cores, its
    default thread pool made a 3 ms prediction take 70 ms), restored after, since the
    embedded mode trains in the same process."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def funding_problem(times_ms: np.ndarray, bar_close_ms: int) -> str | None:
    """Why funding known at the bar's close is stale, or None."""
    due = funding_due_ms(times_ms, bar_close_ms)
    if due is None:
        return "no funding rate is stored before the bar"
    if bar_close_ms > due[1] + FUNDING_GRACE_MS:

        def at(ms: int) -> str:
            return f"{ms_to_datetime(ms):%Y-%m-%d %H:%M}"

        return (
            f"funding is overdue: the last settlement is {at(due[0])}, the next was "
            f"due {at(due[1])}, the bar closes {at(bar_close_ms)}; fetch funding rates"
        )
    return None


def window(symbol: str, bundle: Bundle, bar_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candles the model looks back on up to the bar, and the funding settled among them."""
    step = interval_ms(bundle.interval)
    until = ms_to_datetime(bar_ms + step)
    candles = candles_frame(
        symbol,
        bundle.interval,
        until=until,
        since=ms_to_datetime(bar_ms - (bundle.history_needed - 1) * step),
    )
    # The features' funding look-back (a week of settlements) from the window's first bar on;
    # the candles' look-back is far longer, so this covers them.
    first = ms_to_datetime(int(candles["open_time"].iloc[0])) if len(candles) else until
    return candles, funding_frame(symbol, since=first, until=until)


def full_window(symbol: str, bundle: Bundle, bar_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bar's window read in full, refused when candles are missing from it."""
    need = bundle.history_needed
    candles, funding = window(symbol, bundle, bar_ms)
    if len(candles) < need or int(candles["open_time"].iloc[-1]) != bar_ms:
        gaps = find_gaps(candles["open_time"].to_numpy(), interval_ms(bundle.interval))
        where = f": {gaps[0]}" if gaps else ""
        raise Refused(
            f"candles are missing before the bar ({len(candles)} of the {need} the model "
            f"looks back on are stored{where}); run `manage.py check_data --repair`"
        )
    return candles, funding


def check_funding(bundle: Bundle, funding: pd.DataFrame, bar_ms: int) -> None:
    """Refuse a bar whose funding inputs would be stale (for a model that reads funding)."""
    if bundle.spec.uses_funding:
        step = interval_ms(bundle.interval)
        problem = funding_problem(funding["funding_time"].to_numpy(), bar_ms + step - 1)
        if problem:
            raise Refused(problem)


class SymbolServing(ServingModel):
    kind = "symbol"

    def __init__(self, record, bundle: Bundle) -> None:
        super().__init__(record)
        # One bar is too small a job for threads: XGBoost predicts on one, and so does torch
        # (``one_thread``), so worker processes do not fight over the cores.
        bundle.xgb.model.set_params(n_jobs=1)
        self.bundle = bundle
        # Read once: the thresholds are frozen with the model (no query per bar).
        self.rules = record.grading_rules()

    @classmethod
    def load(cls, record) -> SymbolServing:
        return cls(record, artifacts.load_bundle(Path(record.artifact_path)))

    @property
    def history_needed(self) -> int:
        return self.bundle.history_needed

    @property
    def horizon(self) -> int:
        return self.bundle.barrier.horizon

    @property
    def round_trip_cost(self) -> float:
        return self.bundle.barrier.round_trip_cost

    def serve(
        self, symbols: Sequence[str], bar_ms: int, clock: Clock | None = None
    ) -> dict[str, Call | Refusal]:
        clock = clock or Clock()
        out: dict[str, Call | Refusal] = {}
        for symbol in symbols:
            if not self.serves(symbol):
                out[symbol] = Refusal(symbol, f"{self.record.version} serves only its own symbol")
                continue
            try:
                out[symbol] = self._call(symbol, bar_ms, clock)
            except (Refused, FeatureSpecMismatch, artifacts.ArtifactError) as exc:
                out[symbol] = Refusal(symbol, str(exc))
            clock.restart()  # a next series' stages start here, not with the round
        return out

    def serves(self, symbol: str) -> bool:
        return symbol == self.record.symbol

    def score_window(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        random_runs: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> Scored:
        """Candles from ``history_needed`` bars before the window (inputs only) to the label
        horizon after it (outcomes), predicted in one batch through ``predict`` (the function
        ``serve`` calls), scored against the class prior of the training rows with the
        triple-barrier hit, and backtested per grade set."""
        bundle, interval = self.bundle, self.bundle.interval
        step = interval_ms(interval)
        horizon = bundle.barrier.horizon
        candles = candles_frame(
            symbol,
            interval,
            since=ms_to_datetime(start_ms - bundle.history_needed * step),
            until=ms_to_datetime(end_ms + (horizon + 1) * step),
        )
        inside = (candles["open_time"] >= start_ms) & (candles["open_time"] < end_ms)
        if inside.sum() < 2:
            raise WindowRefused(no_candles(symbol, interval, start_ms, end_ms))
        gaps = find_gaps(candles["open_time"].to_numpy(), step)
        if gaps:
            raise WindowRefused(
                f"the candles have gaps ({gaps[0]}...): run `manage.py check_data --repair`"
            )
        before = int(np.argmax(inside.to_numpy()))
        if before < bundle.history_needed - 1:
            raise WindowRefused(
                f"only {before} bars before the window; the model needs "
                f"{bundle.history_needed - 1} bars of history"
            )
        funding = funding_frame(symbol)
        window = candles[inside]
        first, last = int(window["open_time"].iloc[0]), int(window["open_time"].iloc[-1])
        # The window needs funding to charge it; the look-back too when the model reads it.
        since = int(candles["open_time"].iloc[0]) if bundle.spec.uses_funding else first
        problem = funding_gap(funding["funding_time"].to_numpy(), since, last)
        if problem:
            raise WindowRefused(f"funding rates for {symbol} do not cover the window: {problem}")
        preds = predict(bundle, candles, funding, since=start_ms, rules=self.rules)
        keep = preds.open_time < end_ms
        if not np.array_equal(preds.open_time[keep], window["open_time"].to_numpy()):
            # Predictions and the traded bars must be the same bars, or every figure shifts.
            raise WindowRefused("predicted bars and the window's bars differ")
        positions = np.searchsorted(candles["open_time"].to_numpy(), preds.open_time[keep])
        scored = score_graded(
            candles,
            funding,
            interval,
            positions,
            outcomes(candles, triple_barrier(candles, bundle.barrier)),
            preds.raw[keep],
            preds.calibrated[keep],
            np.asarray(self.record.metrics.get("class_prior", [1 / 3] * 3)),
            preds.graded.take(keep),
            bundle.barrier,
            self.rules,
            random_runs=random_runs,
            min_independent=settings.MIN_INDEPENDENT_CALLS,
            progress=progress,
        )
        return Scored(scored.figures.judged(symbol).as_dict(), scored.backtests)

    def window_calls(
        self, symbol: str, candles: pd.DataFrame, funding: pd.DataFrame, start_ms: int, end_ms: int
    ) -> list[Call]:
        """Its calls at every bar in ``[start_ms, end_ms)`` of stored ``candles`` (a simulated
        window; they reach ``history_needed`` bars before ``start_ms``), predicted in one batch
        through ``predict`` (the function ``serve`` ends in) from the bars before ``end_ms``
        only, each made into a call as ``serve`` makes one. A bar live inference would refuse
        for stale funding gets no call."""
        bundle, step = self.bundle, interval_ms(self.bundle.interval)
        candles = candles[candles["open_time"] < end_ms]
        funding = funding[funding["funding_time"] < end_ms]
        preds = predict(
            bundle, candles, funding if not funding.empty else None, since=start_ms,
            rules=self.rules,
        )  # fmt: skip
        first = int(preds.open_time[0])
        span = candles[candles["open_time"] >= first - (levels.LOOKBACK - 1) * step]
        upper, lower = levels.barriers(span, bundle.barrier)
        settled = funding["funding_time"].to_numpy()
        out = []
        for at, t in enumerate(preds.open_time):
            t = int(t)
            if bundle.spec.uses_funding and funding_problem(settled, t + step - 1):
                continue
            direction = int(preds.graded.direction[at])
            stop, target = levels.stop_target(float(upper[t]), float(lower[t]), direction)
            out.append(self._made(symbol, preds, at, stop, target, {}))
        return out

    def _call(self, symbol: str, bar_ms: int, clock: Clock) -> Call:
        bundle = self.bundle
        kept = live_state.window(symbol, bundle.interval, bundle, bar_ms)
        if kept is None:
            candles, funding = full_window(symbol, bundle, bar_ms)
        else:
            candles, funding = kept.candles, kept.funding
        check_funding(bundle, funding, bar_ms)
        inputs = clock.since()
        with one_thread():
            preds = predict(
                bundle,
                candles,
                funding if not funding.empty else None,
                since=bar_ms,
                rules=self.rules,
                features=None if kept is None else kept.features,
            )
        stop, target = levels.at_last_bar(candles, bundle.barrier, int(preds.graded.direction[-1]))
        timings = {"started_at": clock.started_at, "inputs": inputs, **preds.timings}
        return self._made(symbol, preds, len(preds) - 1, stop, target, timings)

    def _made(
        self,
        symbol: str,
        preds: Predictions,
        at: int,
        stop: float | None,
        target: float | None,
        timings: dict[str, float],
    ) -> Call:
        """The call at row ``at`` of ``preds``: explained (the predicted class's TreeSHAP on the
        XGBoost member), flagged when its inputs are unlike the training rows, graded."""
        bundle, g = self.bundle, preds.graded
        direction = int(g.direction[at])
        p = preds.calibrated[at]
        predicted = int(p.argmax())
        row = preds.features.iloc[at].to_numpy()
        tick = time.perf_counter()
        explanation = explain(bundle.xgb, row, bundle.spec.features, predicted)
        shap = time.perf_counter() - tick
        # Inputs unlike anything the model trained on: stored, said, never actionable.
        outside = bundle.dissimilarity.explain(row) if bundle.dissimilarity else None
        grade = str(g.grade[at])
        return Call(
            symbol=symbol,
            interval=bundle.interval,
            open_time=int(preds.open_time[at]),
            direction=direction,
            grade=grade,
            confidence=float(g.confidence[at]),
            probabilities=(float(p[0]), float(p[1]), float(p[2])),
            confirmations={k: bool(v[at]) for k, v in g.confirmations.items()},
            regime=str(preds.context.regime[at] or ""),
            entry=float(preds.close[at]),
            stop=stop,
            target=target,
            # The score its IC is measured on: p(buy) - p(sell), as in training.
            explanation=explanation.to_dict()
            | {"outside": outside, "call_score": float(p[2] - p[0])},
            outside=outside,
            actionable=self.actionable(grade, direction, outside),
            timings=timings | {"shap": shap},
        )
