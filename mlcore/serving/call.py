"""What a served model says about one bar of one symbol: a ``Call``, or a ``Refusal`` saying
why it said nothing. Both model families answer in these, so whatever comes after prediction
(a stored signal, a simulated one, a push) reads one shape and never asks which model spoke."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """One bar's call, everything a ``Signal`` stores about it.

    ``actionable`` is decided here, once: a directional call in a grade its model's
    out-of-sample evidence backs, from a model that passed its gates, on inputs like the
    ones it trained on (``outside`` is None)."""

    symbol: str
    interval: str
    open_time: int  # epoch ms of the closed bar the call is for
    direction: int  # -1 short, 0 neutral, +1 long
    grade: str  # A+, A, B, C; blank: no grade
    confidence: float  # the probability that the call is a hit, net of the round trip
    probabilities: tuple[float, float, float] | None  # sell, neutral, buy (per-symbol models)
    confirmations: dict[str, bool]
    regime: str
    entry: float  # the bar's close
    stop: float | None  # at the model's own barrier; None for a neutral call
    target: float | None
    explanation: dict  # TreeSHAP drivers, plus what the model adds (``outside``, horizon, ...)
    outside: str | None  # inputs unlike the training rows: why; None when they are alike
    actionable: bool
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, and started_at
    # Volatility, ranges and first-touch odds (``mlcore.serving.risk.call_risk``); None where
    # no risk model serves the interval yet or the volatility is not measurable.
    risk: dict | None = None


@dataclass(frozen=True)
class Refusal:
    """The inputs were not fit to predict from; ``reason`` says why, in a trader's words."""

    symbol: str
    reason: str


class Refused(Exception):
    """Raised inside a serving model for one symbol's bar; becomes a ``Refusal``."""
