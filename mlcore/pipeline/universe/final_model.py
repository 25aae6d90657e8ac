"""The universe model that serves: one set of members for every symbol, fitted on all the
walk-forward's rows, and the one prediction path that live inference and ``evaluate`` share.
Pure; no Django.

``final_model(result, ...)`` fits it after the walk-forward (``pooled.walk_forward``):
1. the horizon: the one the last fold chose on its inner validation slice (the most recent
   evidence), recorded on the model;
2. the members fitted on every row with a known target for that horizon, the ridge member
   weighing only inputs whose weight kept its sign across the folds (``stable_inputs``);
3. the hit calibrator the walk-forward fitted on the settled out-of-fold calls of that
   horizon (``PooledResult.calibrator``), and the condition a call must be in to be graded
   with the calibrator of the calls inside it (``conditions``; outside it a call is C);
4. the grades the out-of-fold evidence backs (``hits.grade_figures``), kept on the model so
   that a prediction in any other grade is stored but never shown as a signal; and those the
   leave-symbols-out evidence backs (``pooled.unseen_evidence``), the only ones a call on a
   symbol it never trained on may be shown in;
5. the dissimilarity reference of its training rows: a prediction whose inputs lie outside
   them is flagged and is not actionable.

``predict_universe(model, frames, symbol)`` scores one symbol's bars with the market context
of every symbol given. A symbol the model never trained on is served the same way; its
predictions say so (``UniverseCalls.unseen``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from mlcore.pipeline.common.dissimilarity import Dissimilarity
from mlcore.pipeline.common.fills import credited, maker_filled
from mlcore.pipeline.common.hits import (
    HitCalibrator,
    HitGrades,
    grade_calls,
    grade_evidence,
    grade_figures,
    hit_ece,
)
from mlcore.pipeline.common.judged import HIT_FORWARD, CallFigures
from mlcore.pipeline.common.labels import BarrierParams
from mlcore.pipeline.common.out_of_sample import GRADE_SETS
from mlcore.pipeline.common.rule_baselines import ic_with_p, rule_scores
from mlcore.pipeline.universe import conditions
from mlcore.pipeline.universe.conditions import Condition
from mlcore.pipeline.universe.pooled import (
    Members,
    PooledConfig,
    PooledResult,
    stable_inputs,
)
from mlcore.pipeline.universe.scale_free import UniverseParams, cost_over_vol, pooled_frame

UNIVERSE = "UNIVERSE"  # the series name a universe model is recorded under


@dataclass
class UniverseModel:
    interval: str
    params: UniverseParams
    config: PooledConfig
    features: list[str]
    horizon: int
    members: Members
    hits: HitCalibrator
    symbols: tuple[str, ...]  # trained on
    supported: tuple[str, ...]  # grades the out-of-fold evidence backs
    dissimilarity: Dissimilarity | None = None  # fitted on the training rows
    # Stop and target of a call: this many ATRs from the close (the setting at training,
    # saved with the model so that a later edit of the setting does not change its calls).
    atr_multiple: float = 2.0
    # Where a call may be graded, and its confidence there (None: ``hits``, every row).
    condition: Condition = field(default_factory=Condition)
    inside_hits: HitCalibrator | None = None
    # Grades the leave-symbols-out evidence backs: the only ones a call on a symbol outside
    # ``symbols`` may be actionable in (none: no such evidence).
    supported_unseen: tuple[str, ...] = ()

    @property
    def barrier(self) -> BarrierParams:
        """The stop/target barrier a call of this model shows and is backtested with."""
        return BarrierParams(
            upper_atr=self.atr_multiple,
            lower_atr=self.atr_multiple,
            horizon=self.horizon,
            round_trip_cost=self.config.round_trip_cost,
            maker_entry=self.config.maker_entry,
        )

    @property
    def history_needed(self) -> int:
        """Bars of each symbol before (and including) the first bar to predict."""
        return self.params.warmup + 1

    def describe(self) -> dict:
        return {
            "interval": self.interval,
            "params": self.params.to_dict(),
            "config": self.config.to_dict(),
            "features": self.features,
            "horizon": self.horizon,
            "hits": self.hits.to_dict(),
            "symbols": list(self.symbols),
            "supported": list(self.supported),
            "dissimilarity": self.dissimilarity.to_dict() if self.dissimilarity else None,
            "atr_multiple": self.atr_multiple,
            "condition": self.condition.to_dict(),
            "inside_hits": self.inside_hits.to_dict() if self.inside_hits else None,
            "supported_unseen": list(self.supported_unseen),
        }


def final_model(
    result: PooledResult,
    interval: str,
    params: UniverseParams,
    supported: list[str],
    atr_multiple: float = 2.0,
    supported_unseen: list[str] | None = None,
) -> UniverseModel:
    data, oof, config = result.data, result.oof, result.config
    horizon = oof.folds[-1].horizon
    rows = np.flatnonzero(np.isfinite(data.target_z[horizon]))
    # The ridge member weighs only inputs whose effect kept its sign across the folds.
    members = Members(config).fit(data.X[rows], data.target_z[horizon][rows], stable_inputs(oof))
    sample = rows[:: max(1, len(rows) // 50_000)]
    return UniverseModel(
        interval,
        params,
        config,
        list(data.features),
        horizon,
        members,
        result.calibrator,
        tuple(sorted(set(data.symbol))),
        tuple(supported),
        Dissimilarity.fit(data.X[sample], data.features),
        atr_multiple,
        result.condition,
        result.inside_calibrator,
        tuple(supported_unseen or ()),
    )


@dataclass(frozen=True)
class UniverseCalls:
    """One symbol's predicted bars."""

    symbol: str
    unseen: bool  # the model never trained on this symbol
    open_time: np.ndarray
    close: np.ndarray
    features: pd.DataFrame  # the inputs at each bar (what the explanation reads)
    score: np.ndarray
    p_xgb: np.ndarray  # each member's score, in its own spread units
    p_ridge: np.ndarray
    direction: np.ndarray
    confidence: np.ndarray  # the probability that the call is a hit, net of the round trip
    grade: np.ndarray  # C outside the model's condition
    inside: np.ndarray  # inside the condition the model grades in

    def take(self, index: np.ndarray) -> UniverseCalls:
        return UniverseCalls(
            self.symbol,
            self.unseen,
            self.open_time[index],
            self.close[index],
            self.features.iloc[index],
            self.score[index],
            self.p_xgb[index],
            self.p_ridge[index],
            self.direction[index],
            self.confidence[index],
            self.grade[index],
            self.inside[index],
        )


def predict_universe(
    model: UniverseModel,
    frames: Mapping[str, pd.DataFrame],
    symbol: str,
    since: int | None = None,
) -> UniverseCalls:
    """``frames``: ``universe.symbol_frame`` of every symbol whose bars make the context (the
    target among them), each from at least ``history_needed`` bars before ``since``."""
    if symbol not in frames:
        raise ValueError(f"no candles of {symbol} were given")
    if since is not None:
        # The context at a bar is computed across the symbols' rows at that bar alone, so the
        # rows before ``since`` are not stacked (live: 1 row a symbol instead of a window).
        frames = {s: f.iloc[f.index.searchsorted(since) :] for s, f in frames.items()}
    return predict_rows(model, pooled_frame(frames, model.params, only=symbol), symbol)


def predict_round(
    model: UniverseModel,
    frames: Mapping[str, pd.DataFrame],
    symbols: Sequence[str],
    since: int,
) -> dict[str, UniverseCalls]:
    """``predict_universe`` for many symbols at once (a live round), the same calls: each
    symbol's context is what ``predict_universe`` stacks for it (the symbols the model knows,
    and the target itself where it is not one of them), and the members are called once on
    every target's rows. A symbol without rows is left out."""
    frames = {s: f.iloc[f.index.searchsorted(since) :] for s, f in frames.items()}
    known = {s: f for s, f in frames.items() if s in model.symbols}
    pooled = pooled_frame(known, model.params)
    parts = [pooled[pooled["symbol"].isin(symbols)]]
    parts += [
        pooled_frame(known | {s: frames[s]}, model.params, only=s)
        for s in symbols
        if s in frames and s not in known
    ]
    rows = pd.concat(parts, ignore_index=True)
    if rows.empty:
        return {}
    calls = predict_rows(model, rows, "")
    names = rows["symbol"].to_numpy()
    return {
        s: replace(calls.take(np.flatnonzero(names == s)), symbol=s, unseen=s not in model.symbols)
        for s in symbols
        if s in names
    }


def predict_rows(model: UniverseModel, rows: pd.DataFrame, symbol: str) -> UniverseCalls:
    """The calls on ``rows``: one symbol's rows of ``universe.pooled_frame`` (live inference,
    ``evaluate`` and ``simulate`` all end here)."""
    if rows.empty:
        raise ValueError(f"no bar of {symbol} to predict")
    # Picked by position from one block: selecting 36 columns by name cost a live call 1 ms.
    block = rows.iloc[:, rows.columns.get_indexer(model.features)].to_numpy(np.float64)
    features = pd.DataFrame(block, columns=model.features)
    X = block.astype(np.float32)
    score, px, pr = model.members.score(X)
    direction = np.sign(score).astype(np.int64)
    vol = rows["vol"].to_numpy(np.float64)
    cost_z = cost_over_vol(model.config.round_trip_cost, vol, model.horizon)
    inside = model.condition.inside(conditions.columns(score, rows))
    confidence = model.hits.apply(np.abs(score), cost_z)
    if model.inside_hits is not None:
        confidence = np.where(inside, model.inside_hits.apply(np.abs(score), cost_z), confidence)
    # Before a symbol's warm-up there is no volatility unit: no confidence, so no grade.
    grade = grade_calls(confidence, direction, model.config.grades)
    grade[~inside & (grade != "")] = "C"  # a call, promising nothing
    return UniverseCalls(
        symbol,
        symbol not in model.symbols,
        rows["open_time"].to_numpy(np.int64),
        rows["close"].to_numpy(np.float64),
        features,
        score,
        px,
        pr,
        direction,
        confidence,
        grade,
        inside,
    )


def config_from_dict(data: dict) -> PooledConfig:
    """The configuration a model was trained with, as its manifest stores it."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    grades = data["grades"]
    fields["grades"] = HitGrades(dict(grades["promises"]), int(grades["min_calls"]))
    return PooledConfig(**fields)


def score_calls(
    calls: UniverseCalls,
    forward: np.ndarray,
    model: UniverseModel,
    next_bar: tuple[np.ndarray, np.ndarray] | None = None,
    rule: str = "",
) -> CallFigures:
    """A window's figures, out of sample: the calls' IC against the forward return over the
    model's horizon (p-value on n / horizon draws), each grade's calls against its promise
    (``hits.grade_figures``), the grade sets, and the hit probability's ECE. ``next_bar``:
    each call's next bar's low and high (whether a maker entry filled). ``rule``: the simple
    rule its training chose, scored on the same rows at the same costs (``detail``)."""
    cost = model.config.round_trip_cost

    def credited_net(direction: np.ndarray) -> tuple[np.ndarray, int]:
        net = direction * forward - cost
        if not model.config.maker_entry:
            return net, 0
        if next_bar is None:
            raise ValueError("a maker entry is judged on the next bars: pass next_bar")
        return credited(net, direction, maker_filled(direction, calls.close, *next_bar))

    net, unfilled = credited_net(calls.direction)
    called = (calls.direction != 0) & np.isfinite(net) & np.isfinite(calls.confidence)
    rho, p, n = ic_with_p(calls.score, forward, model.horizon)
    grades = model.config.grades
    slots = np.arange(len(net)) // model.horizon  # one symbol's consecutive bars
    return CallFigures(
        kind="universe",
        hit_definition=HIT_FORWARD,
        horizon=model.horizon,
        round_trip_cost=cost,
        rows=n,
        signals=int(called.sum()),
        ic=rho,
        ic_p_value=p,
        hit_ece=hit_ece(calls.confidence[called], net[called] > 0) if called.any() else None,
        hit_base_rate=float((net[called] > 0).mean()) if called.any() else None,
        entry="maker" if model.config.maker_entry else "taker",
        unfilled=unfilled,
        per_grade=[
            asdict(f) for f in grade_evidence(calls.grade, calls.confidence, net, grades, slots)
        ],
        grade_sets=[
            asdict(
                grade_figures(
                    name, np.isin(calls.grade, allowed), net, calls.confidence, slots=slots
                )
            )
            for name, allowed in GRADE_SETS.items()
        ],
        symbol=calls.symbol,
        trained_on_symbol=not calls.unseen,
        detail={
            "supported_grades": list(model.supported),
            "best_rule_same_rows": _rule_figures(calls, forward, model.horizon, rule, credited_net),
        },
    )


def _rule_figures(calls: UniverseCalls, forward, horizon: int, rule: str, credited_net) -> dict:
    """The simple rule on the model's rows: its IC and, traded on every row at the same costs,
    its hit rate and mean net per call."""
    score = rule_scores(calls.features).get(rule) if rule else None
    if score is None:
        return {"rule": rule or None, "ic": None}
    rho, p, _ = ic_with_p(score, forward, horizon)
    direction = np.nan_to_num(np.sign(score)).astype(np.int64)
    net, _ = credited_net(direction)
    every = grade_figures("every call", direction != 0, net)
    return {
        "rule": rule,
        "ic": rho,
        "ic_p_value": p,
        "calls": every.count,
        "hit_rate": every.hit_rate,
        "mean_net": every.mean_return,
    }
