"""/api/explain: the stored TreeSHAP explanation of a ticker's signals, and interactions on
demand. (The rest of the signals API arrives with the API issue.)"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema

from signals import explanations, inference
from signals.models import Signal
from tradingai.api_errors import ApiError

router = Router(tags=["explanations"])


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
    return ApiError(404, "unknown_symbol", f"no graded signal for {ticker.upper()} yet")


@router.get("/{ticker}", response=ExplanationOut)
def explain_latest(
    request: HttpRequest, ticker: str, interval: str | None = None, interactions: bool = False
) -> ExplanationOut:
    """The newest graded signal's explanation; ``interactions=true`` adds the TreeSHAP
    interaction values among its top drivers (computed now, ~30 ms)."""
    signal = inference.latest(ticker.upper(), interval or settings.INTERVALS[0])
    if signal is None:
        raise _unknown(ticker)
    return _out(signal, explanations.interactions_for(signal) if interactions else None)


@router.get("/{ticker}/history", response=list[ExplanationOut])
def explain_history(
    request: HttpRequest, ticker: str, interval: str | None = None, limit: int = 20
) -> list[ExplanationOut]:
    signals = (
        Signal.objects.graded()
        .select_related("model_version")
        .filter(symbol=ticker.upper(), interval=interval or settings.INTERVALS[0])
    )[: max(1, min(limit, 200))]
    return [_out(s) for s in signals]
