"""/api/signals (the list, served from cached pages; one signal; acknowledge) and /api/explain
(the stored TreeSHAP explanation of a ticker's signals, and interactions on demand)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from analysis import universe
from analysis.symbols import normalise
from mlcore import risk_check, serving
from signals import explanations, inference, listing
from signals.models import Signal
from signals.serialize import signal_json
from tradingai.api_errors import ApiError, symbol_or_404
from tradingai.auth import WRITE
from tradingai.envelope import envelope

router = Router(tags=["explanations"])
signals_router = Router(tags=["signals"])


class InteractionOut(Schema):
    first: str
    second: str
    value: float


class ExplanationOut(Schema):
    signal_id: int
    symbol: str
    interval: str
    open_time: datetime
    direction: str
    grade: str
    model_version: str
    member: str = "xgboost"  # only the XGBoost member is explained
    explanation: dict
    interactions: list[InteractionOut] | None = None


def _out(signal: Signal, pairs=None) -> ExplanationOut:
    return ExplanationOut(
        signal_id=signal.pk,
        symbol=signal.symbol,
        interval=signal.interval,
        open_time=signal.open_time,
        direction=signal.direction,
        grade=signal.grade,
        model_version=signal.model_version.version,
        explanation=signal.explanation,
        interactions=[InteractionOut(**vars(p)) for p in pairs] if pairs is not None else None,
    )


def _unknown(ticker: str) -> ApiError:
    return ApiError(404, "unknown_symbol", f"no graded signal for {normalise(ticker)} yet")


@router.get("/{ticker}", response=ExplanationOut)
def explain_latest(
    request: HttpRequest, ticker: str, interval: str | None = None, interactions: bool = False
) -> ExplanationOut:
    """The newest graded signal's explanation; ``interactions=true`` adds the TreeSHAP
    interaction values among its top drivers (computed now, ~30 ms)."""
    signal = inference.latest(symbol_or_404(ticker), interval or universe.intervals()[0])
    if signal is None:
        raise _unknown(ticker)
    return _out(signal, explanations.interactions_for(signal) if interactions else None)


@router.get("/{ticker}/history", response=list[ExplanationOut])
def explain_history(
    request: HttpRequest,
    ticker: str,
    interval: str | None = None,
    limit: int = Query(20, ge=1, le=200),
) -> list[ExplanationOut]:
    signals = (
        Signal.objects.graded()
        .select_related("model_version")
        .filter(symbol=symbol_or_404(ticker), interval=interval or universe.intervals()[0])
    )[:limit]
    return [_out(s) for s in signals]


class SignalOut(Schema):
    id: int
    symbol: str
    interval: str
    open_time: datetime
    direction: str
    grade: str
    confidence: float
    actionable: bool  # in a grade its model's out-of-sample evidence backs
    probabilities: dict[str, float | None]  # the per-symbol models' classes; universe: None
    confirmations: dict[str, bool]
    regime: str
    entry_price: float
    stop_price: float | None
    target_price: float | None
    horizon_hours: float | None  # how far ahead the call is for (its model's label horizon)
    model: dict
    explanation: dict
    acknowledged: bool
    created_at: datetime


# Deeper than any list could be (a series' every hour for a century): a bigger offset is a
# 422 naming it, where PostgreSQL would have refused it with a 500.
MAX_OFFSET = 10_000_000


class SignalPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[SignalOut]


@signals_router.get("", response=SignalPage)
@signals_router.get("/", response=SignalPage, include_in_schema=False)
def list_signals(
    request: HttpRequest,
    ticker: str | None = None,
    grade: Literal["A+", "A", "B", "C"] | None = None,
    actionable: bool | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> HttpResponse:
    """Every directional prediction, newest first (the dashboard lists only the actionable
    ones; ``actionable=true`` gives the same here)."""
    symbol = symbol_or_404(ticker) if ticker else None
    if symbol and not listing.known_symbol(symbol):
        raise ApiError(404, "unknown_symbol", f"no market data or signal for {symbol}")
    data = listing.page_json(symbol, grade, limit, offset, SignalPage, actionable)
    # The cached page is already checked against SignalPage: wrap it as the renderer would.
    timestamp = envelope()["timestamp"]
    body = f'{{"success": true, "data": {data}, "error": null, "timestamp": "{timestamp}"}}'
    return HttpResponse(body, content_type="application/json")


def _signal(signal_id: int) -> Signal:
    signal = Signal.objects.select_related("model_version").filter(pk=signal_id).first()
    if signal is None:
        raise ApiError(404, "not_found", f"no signal #{signal_id}")
    return signal


@signals_router.get("/{signal_id}", response=SignalOut)
def get_signal(request: HttpRequest, signal_id: int) -> dict:
    return signal_json(_signal(signal_id))


@signals_router.post("/{signal_id}/acknowledge", response=SignalOut, auth=WRITE)
def acknowledge(request: HttpRequest, signal_id: int) -> dict:
    """Mark the signal as seen (idempotent)."""
    signal = _signal(signal_id)
    signal.acknowledge()
    return signal_json(signal)


# --- /api/risk/check: the trader's own idea -------------------------------------------------

risk_router = Router(tags=["risk"])
Price = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1e12)]


class IdeaIn(Schema):
    """A trade the trader is weighing: ``entry`` defaults to the newest stored close;
    ``horizon_hours`` must be one the risk model was fitted for (4, 24, 72 by default)."""

    ticker: str
    side: Literal["long", "short"]
    stop: Price
    target: Price
    entry: Price | None = None
    horizon_hours: int = 24
    interval: str | None = None


class IdeaOut(Schema):
    symbol: str
    interval: str
    as_of: int  # epoch ms of the newest stored bar the figures are at
    side: str
    entry: float
    stop: float
    target: float
    horizon_hours: int
    odds: dict  # target, stop, neither (calibrated) and the driftless baseline's
    break_even: float | None  # the share of resolved outcomes that must be targets to pay
    target_share: float | None  # the share the odds give: target / (target + stop)
    decimals: int  # the prices' own precision
    round_trip_cost: float
    range: dict  # the horizon's spread, expected move and 50/90 % ranges
    evidence: dict | None  # the risk model's out-of-time figures at this horizon
    direction: dict | None  # the direction engine's newest call on the symbol
    model: str


def _lean(symbol: str, interval: str) -> dict | None:
    """The direction engine's newest call on the symbol, and whether its evidence backs it."""
    latest = Signal.objects.filter(symbol=symbol, interval=interval).first()
    if latest is None:
        return None
    return {
        "direction": latest.direction,
        "grade": latest.grade,
        "open_time": latest.open_time.isoformat(),
        "actionable": latest.actionable,
        "supported_grades": serving.supported_grades(latest.model_version),
        "model": latest.model_version.version,
    }


@risk_router.post("/check", response=IdeaOut)
def check_idea(request: HttpRequest, idea: IdeaIn) -> dict:
    """The first-touch odds of the idea (target first, stop first, neither by the horizon),
    the expected range, the break-even probability after costs, the risk model's out-of-time
    evidence, and the direction engine's current lean with its standing."""
    symbol = symbol_or_404(idea.ticker)
    interval = idea.interval or universe.intervals()[0]
    if interval not in universe.intervals():
        raise ApiError(422, "invalid_request", f"unknown interval {interval!r}",
                       [{"loc": ["body", "interval"], "msg": "not a served interval"}])  # fmt: skip
    try:
        answer = risk_check.check(
            symbol, interval, idea.side, idea.stop, idea.target, idea.horizon_hours, idea.entry
        )
    except risk_check.IdeaError as exc:
        raise ApiError(
            422, "invalid_request", exc.message, [{"loc": ["body", exc.field], "msg": exc.message}]
        ) from None
    except risk_check.UnknownSymbol as exc:
        raise ApiError(404, "unknown_symbol", str(exc)) from None
    except risk_check.RiskUnavailable as exc:
        # Nothing to answer with yet (no risk model, or too few bars): the thing asked for
        # does not exist, like a symbol with no data; not a fault of the server.
        raise ApiError(404, "no_risk_model", str(exc)) from None
    return answer | {"direction": _lean(symbol, interval)}
