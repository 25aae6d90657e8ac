"""The universe champion (pooled XGBoost + ridge over many symbols) behind the serving
interface.

``serve(symbols, bar)`` serves a live round's series together:
1. read every symbol it knows and the targets once (``mlcore.training.inputs.read_round``; a
   target with a hole is refused with where it is);
2. predict every target's bar in one call of the members (``universe_model.predict_round``,
   the same calls ``evaluate`` makes);
3. ``calls``: explain them in one TreeSHAP pass, stop and target at the model's saved barrier,
   flag inputs unlike its training rows. ``simulate`` turns a window's predicted bars into
   calls through the same function.
A bar before a symbol's volatility is measurable has no confidence: it is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.intervals import interval_ms
from analysis.models import Candle
from mlcore import artifacts
from mlcore.backtest.data import funding_within, market_from_frames
from mlcore.backtest.engine import Costs
from mlcore.backtest.signals import SignalRules, backtest_grade_sets
from mlcore.backtest_runs import funding_gap
from mlcore.pipeline.common.confirmations import market_context
from mlcore.pipeline.common.explain import explain_scores
from mlcore.pipeline.common.fills import next_bar_extremes
from mlcore.pipeline.common.out_of_sample import GRADE_SETS
from mlcore.pipeline.universe.final_model import (
    UniverseCalls,
    UniverseModel,
    predict_round,
    predict_universe,
    score_calls,
)
from mlcore.serving import levels
from mlcore.serving.base import Clock, Scored, ServingModel, WindowRefused, no_candles
from mlcore.serving.call import Call, Refusal
from mlcore.training.inputs import MissingBars, read_inputs, read_round


class UniverseServing(ServingModel):
    kind = "universe"

    def __init__(self, record, model: UniverseModel) -> None:
        super().__init__(record)
        self.model = model

    @classmethod
    def load(cls, record) -> UniverseServing:
        return cls(record, artifacts.load_universe(Path(record.artifact_path)))

    @property
    def history_needed(self) -> int:
        return self.model.history_needed

    @property
    def horizon(self) -> int:
        return self.model.horizon

    @property
    def round_trip_cost(self) -> float:
        return self.model.config.round_trip_cost

    def serves(self, symbol: str) -> bool:
        return True  # seen in training or not: its inputs are scale-free

    def score_window(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        random_runs: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> Scored:
        """Every known symbol's bars over the window (``read_inputs``, the pooled features
        need them), the symbol's calls by ``predict_universe`` (what ``serve`` calls), scored
        as calls (``score_calls``: IC, hit rates against the grades' promises, the hit
        probability's ECE; no classes) and backtested per grade set at the saved barrier."""
        um, interval = self.model, self.model.interval
        step = interval_ms(interval)
        first = start_ms - (um.history_needed - 1) * step
        newest = Candle.objects.last_open_time(symbol, interval)
        if newest is None:
            raise WindowRefused(f"no {interval} candles stored for {symbol}")
        last = min(end_ms + um.horizon * step, int(newest.timestamp() * 1000))
        if last < start_ms + step:
            raise WindowRefused(no_candles(symbol, interval, start_ms, end_ms))
        try:
            inputs = read_inputs(um, symbol, interval, first, last)
        except MissingBars as exc:
            raise WindowRefused(f"{symbol}: {exc}") from exc
        candles = inputs.candles
        window = candles[(candles["open_time"] >= start_ms) & (candles["open_time"] < end_ms)]
        problem = funding_gap(
            inputs.funding["funding_time"].to_numpy(),
            int(window["open_time"].iloc[0]),
            int(window["open_time"].iloc[-1]),
        )
        if problem:
            raise WindowRefused(f"funding rates for {symbol} do not cover the window: {problem}")
        calls = predict_universe(um, inputs.frames, symbol, since=start_ms)
        calls = calls.take(calls.open_time < end_ms)
        if not np.array_equal(calls.open_time, window["open_time"].to_numpy()):
            raise WindowRefused("predicted bars and the window's bars differ")
        close = candles["close"].to_numpy(np.float64)
        forward = np.full(len(close), np.nan)
        forward[: -um.horizon] = close[um.horizon :] / close[: -um.horizon] - 1.0
        positions = np.searchsorted(candles["open_time"].to_numpy(), calls.open_time)
        next_low, next_high = next_bar_extremes(
            candles["open_time"].to_numpy(np.int64),
            candles["low"].to_numpy(np.float64),
            candles["high"].to_numpy(np.float64),
            step,
        )
        figures = score_calls(
            calls,
            forward[positions],
            um,
            (next_low[positions], next_high[positions]),
            rule=self.chosen_rule(),
        ).as_dict()
        market = market_from_frames(window, funding_within(inputs.funding, window), interval)
        atr = um.atr_multiple  # the stop and target its signals show (saved with the model)
        backtests = backtest_grade_sets(
            market,
            calls.direction,
            calls.grade,
            GRADE_SETS,
            SignalRules(um.horizon, atr, atr),
            costs=Costs.paying(um.config.round_trip_cost, um.config.maker_entry),
            random_runs=random_runs,
            progress=progress,
        )
        return Scored(figures, backtests)

    def serve(
        self, symbols: Sequence[str], bar_ms: int, clock: Clock | None = None
    ) -> dict[str, Call | Refusal]:
        clock = clock or Clock()
        um, interval = self.model, self.model.interval
        try:
            first = bar_ms - (um.history_needed - 1) * interval_ms(interval)
            read = read_round(um, symbols, interval, first, bar_ms, last_row=True)
            inputs = clock.since()
            tick = time.perf_counter()
            predicted = predict_round(um, read.frames, symbols, since=bar_ms)
        except (artifacts.ArtifactError, ValueError) as exc:
            return {symbol: Refusal(symbol, str(exc)) for symbol in symbols}
        models = time.perf_counter() - tick
        out: dict[str, Call | Refusal] = {}
        for symbol in symbols:
            if symbol in read.missing:
                out[symbol] = Refusal(symbol, read.missing[symbol])
            elif symbol not in predicted:
                out[symbol] = Refusal(symbol, f"no bar of {symbol} to predict")
            elif not np.isfinite(predicted[symbol].confidence[-1]):
                out[symbol] = Refusal(symbol, self.unmeasurable(symbol))
        ready = [symbol for symbol in symbols if symbol not in out]
        if not ready:
            return out
        timings = {"started_at": clock.started_at, "inputs": inputs, "models": models}
        tick = time.perf_counter()
        made = self.calls(
            [predicted[s].take(np.array([-1])) for s in ready],
            read.candles,
            lambda symbol: _regimes(read.candles[symbol], interval),
            timings,
        )
        shap = (time.perf_counter() - tick) / len(ready)
        for call in made:
            call.timings["shap"] = shap
            out[call.symbol] = call
        return out

    def chosen_rule(self) -> str:
        """The simple rule its training rows favoured (the best IC over every walk-forward
        fold), as a trader comparing it would have picked it then."""
        rules = ((self.record.metrics or {}).get("universe") or {}).get("best_rule") or {}
        scored = [r for r in rules.get("rules", []) if r.get("ic") is not None]
        return max(scored, key=lambda r: r["ic"])["rule"] if scored else ""

    def unmeasurable(self, symbol: str) -> str:
        return (
            f"{symbol}'s volatility is not measurable yet: the universe model needs "
            f"{self.model.params.vol_window} bars of returns with movement"
        )

    def calls(
        self,
        predicted: Sequence[UniverseCalls],
        candles: dict[str, pd.DataFrame],
        regimes: Callable[[str], pd.Series],
        timings: dict[str, float] | None = None,
    ) -> list[Call]:
        """Each symbol's predicted bars (those with a confidence) as calls: one TreeSHAP pass
        over all of them, levels at the model's barrier from the symbol's ``candles`` (which
        reach at least ``levels.LOOKBACK`` bars before the first call), the regime at the bar.
        """
        um = self.model
        parts = [p.take(np.flatnonzero(np.isfinite(p.confidence))) for p in predicted]
        parts = [p for p in parts if len(p.open_time)]
        if not parts:
            return []
        block = np.concatenate([p.features.to_numpy(np.float64) for p in parts])
        directions = np.concatenate([p.direction for p in parts]).astype(np.int64)
        explained = explain_scores(um.members.booster, block, um.features, directions)
        outside = um.dissimilarity.explain_rows(block) if um.dissimilarity else [None] * len(block)
        out: list[Call] = []
        i = 0
        for p in parts:
            mine = candles[p.symbol]
            first = int(p.open_time[0])
            step = interval_ms(um.interval)
            span = mine[
                (mine["open_time"] >= first - (levels.LOOKBACK - 1) * step)
                & (mine["open_time"] <= int(p.open_time[-1]))
            ]
            upper, lower = levels.barriers(span, um.barrier)
            regime = regimes(p.symbol)
            for at in range(len(p.open_time)):
                t, direction, grade = int(p.open_time[at]), int(p.direction[at]), str(p.grade[at])
                stop, target = levels.stop_target(float(upper[t]), float(lower[t]), direction)
                out.append(
                    Call(
                        symbol=p.symbol,
                        interval=um.interval,
                        open_time=t,
                        direction=direction,
                        grade=grade,
                        confidence=float(p.confidence[at]),
                        probabilities=None,  # a score, not classes
                        confirmations={
                            "members": bool(np.sign(p.p_xgb[at]) == np.sign(p.p_ridge[at]))
                        },
                        regime=str(regime.get(t) or ""),
                        entry=float(p.close[at]),
                        stop=stop,
                        target=target,
                        explanation=explained[i].to_dict()
                        | {
                            "model": "universe",
                            "unseen": p.unseen,
                            "horizon": um.horizon,
                            "outside": outside[i],
                            "call_score": float(p.score[at]),
                            # Graded only inside it; outside, a C whatever its confidence.
                            "condition": um.condition.name,
                            "inside_condition": bool(p.inside[at]),
                        },
                        outside=outside[i],
                        actionable=self.actionable(grade, direction, outside[i], p.unseen),
                        timings=dict(timings or {}),
                    )
                )
                i += 1
        return out


def _regimes(candles: pd.DataFrame, interval: str) -> pd.Series:
    context = market_context(candles, interval)
    return pd.Series(context.regime, index=context.open_time)
