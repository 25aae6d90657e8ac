"""/api/trades: the journal over the API. Writes need an API key (or the dashboard's session);
an invalid payload is a 422 naming the field, and nothing is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema

from journal.models import Trade
from journal.performance import performance
from signals.models import Signal
from tradingai.api_errors import ApiError
from tradingai.auth import WRITE

router = Router(tags=["trades"])


class TradeIn(Schema):
    ticker: str
    action: Literal["executed", "skipped", "missed"]
    side: Literal["long", "short"]
    entry_time: datetime
    entry_price: float
    quantity: float
    exit_time: datetime | None = None
    exit_price: float | None = None
    leverage: float = 1.0
    fees: float = 0.0
    funding: float = 0.0
    signal_id: int | None = None
    notes: str = ""


class TradeOut(Schema):
    id: int
    ticker: str
    action: str
    side: str
    signal_id: int | None
    grade: str
    followed_signal: bool | None
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None
    exit_price: float | None
    quantity: float
    leverage: float
    fees: float
    funding: float
    pnl: float | None
    return_on_margin: float | None
    mae: float | None
    mfe: float | None
    notes: str


def _save(trade: Trade, payload: TradeIn) -> Trade:
    data = payload.dict()
    signal_id = data.pop("signal_id")
    if signal_id is not None and not Signal.objects.filter(pk=signal_id).exists():
        raise ApiError(
            422,
            "invalid_request",
            f"no signal #{signal_id}",
            [{"loc": ["body", "signal_id"], "msg": "no such signal"}],
        )
    for name, value in data.items():
        setattr(trade, name, value)
    trade.ticker = trade.ticker.upper()
    trade.signal_id = signal_id
    try:
        trade.full_clean()
    except ValidationError as exc:
        details = [{"loc": ["body", k], "msg": " ".join(v)} for k, v in exc.message_dict.items()]
        raise ApiError(422, "invalid_request", "The trade is not valid.", details) from None
    with transaction.atomic():
        trade.save()
    return trade


@router.get("/", response=list[TradeOut])
def list_trades(request: HttpRequest, ticker: str | None = None, limit: int = 100) -> list[Trade]:
    trades = Trade.objects.all()
    if ticker:
        trades = trades.filter(ticker=ticker.upper())
    return list(trades[: max(1, min(limit, 1000))])


@router.post("/", response={201: TradeOut}, auth=WRITE)
def create_trade(request: HttpRequest, payload: TradeIn) -> tuple[int, Trade]:
    """Record a trade; PnL and MAE/MFE are computed, never sent."""
    return 201, _save(Trade(), payload)


@router.put("/{trade_id}", response=TradeOut, auth=WRITE)
def update_trade(request: HttpRequest, trade_id: int, payload: TradeIn) -> Trade:
    trade = Trade.objects.filter(pk=trade_id).first()
    if trade is None:
        raise ApiError(404, "not_found", f"no trade #{trade_id}")
    return _save(trade, payload)


@router.get("/performance", response=dict)
def trades_performance(request: HttpRequest) -> dict:
    """Win rate, PnL and profit factor overall, by grade, action and followed/overrode; the
    linked signals' hit rate per grade; the equity curve of executed trades."""
    return performance(Trade.objects.select_related("signal"))
