"""The one interface every model family serves through (``symbol.SymbolServing``,
``universe.UniverseServing``)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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


class ServingModel(ABC):
    """A loaded champion (or a simulated window's model) that turns stored bars into calls.

    1. ``history_needed``: the bars of each symbol it reads, up to and including the bar;
    2. ``serve(symbols, bar_ms)``: read the stored inputs, refuse what is unfit, predict the
       round, explain, place the levels, and decide what is actionable: per symbol a ``Call``
       or a ``Refusal``."""

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

    def actionable(self, grade: str, direction: int, outside: str | None) -> bool:
        return actionable(self.record, grade, direction != 0) and outside is None
