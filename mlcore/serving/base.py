"""The one interface every model family serves through (``symbol.SymbolServing``,
``universe.UniverseServing``)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from analysis.quality import ms_to_datetime
from mlcore.models import ModelVersion
from mlcore.serving import risk
from mlcore.serving.call import Call, Refusal
from mlcore.serving.choice import actionable


@dataclass
class Clock:
    """When a round's work began: each call's timings are measured from here."""

    started_at: float = field(default_factory=time.time)  # wall clock, for the latency record
    started: float = field(default_factory=time.perf_counter)

    def since(self) -> float:
        return time.perf_counter() - self.started

    def restart(self) -> None:
        self.started_at, self.started = time.time(), time.perf_counter()


class WindowRefused(ValueError):
    """A stored window a model cannot be scored on honestly, with the reason."""


def no_candles(symbol: str, interval: str, start_ms: int, end_ms: int) -> str:
    start, end = (ms_to_datetime(t) for t in (start_ms, end_ms))
    return f"no {interval} candles of {symbol} between {start:%Y-%m-%d} and {end:%Y-%m-%d}"


@dataclass(frozen=True)
class Scored:
    """A model's calls over a stored window judged against what followed."""

    figures: dict  # the family's figures (its hit definition named in them)
    backtests: list  # ``BacktestResult`` per grade set, beside the baselines


class ServingModel(ABC):
    """A loaded champion (or a simulated window's model) that turns stored bars into calls.

    1. ``history_needed``: the bars of each symbol it reads, up to and including the bar;
    2. ``serves(symbol)``: whether it may call that symbol at all;
    3. ``serve(symbols, bar_ms)``: read the stored inputs, refuse what is unfit, predict the
       round, explain, place the levels, and decide what is actionable: per symbol a ``Call``
       or a ``Refusal``;
    4. ``score_window(symbol, start_ms, end_ms)``: its calls at every bar of a stored window,
       made by the function ``serve`` ends in, scored against what followed (``evaluate``)."""

    kind: str  # "symbol" or "universe"

    def __init__(self, record: ModelVersion) -> None:
        self.record = record

    @property
    @abstractmethod
    def history_needed(self) -> int: ...

    @property
    @abstractmethod
    def horizon(self) -> int:
        """Bars a call is for (its label's horizon)."""

    @property
    @abstractmethod
    def round_trip_cost(self) -> float: ...

    @abstractmethod
    def serves(self, symbol: str) -> bool: ...

    @abstractmethod
    def score_window(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        random_runs: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> Scored:
        """Raises ``WindowRefused`` for a window it cannot score honestly."""

    @abstractmethod
    def serve(
        self, symbols: Sequence[str], bar_ms: int, clock: Clock | None = None
    ) -> dict[str, Call | Refusal]: ...

    def serve_round(
        self, symbols: Sequence[str], bar_ms: int, clock: Clock | None = None
    ) -> dict[str, Call | Refusal]:
        """``serve``, then the risk figures on every call (``mlcore.serving.risk``)."""
        answers = self.serve(symbols, bar_ms, clock)
        calls = {s: a for s, a in answers.items() if isinstance(a, Call)}
        loaded = risk.current(self.record.interval) if calls else None
        if loaded is None:
            return answers
        tick = time.perf_counter()
        figures = risk.round_figures(loaded, list(calls), self.record.interval, bar_ms)
        seconds = (time.perf_counter() - tick) / len(calls)
        for symbol, call in calls.items():
            carried = risk.call_risk(
                loaded,
                figures[symbol],
                call.direction,
                call.entry,
                self.horizon,
                self.round_trip_cost,
            )
            answers[symbol] = replace(call, risk=carried, timings=call.timings | {"risk": seconds})
        return answers

    def actionable(
        self, grade: str, direction: int, outside: str | None, unseen: bool = False
    ) -> bool:
        return actionable(self.record, grade, direction != 0, unseen) and outside is None
