"""/api/trades: the journal over the API. Writes need an API key (or the dashboard's session);
an invalid payload is a 422 naming the field, and nothing is stored."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import AwareDatetime, BeforeValidator, Field

from analysis.symbols import normalise
from journal.models import MAX_NUMBER, NOTES_MAX, Trade
from journal.performance import performance
from mlcore.models import ModelVersion
from signals.models import NoSignal, Signal
from tradingai.api_errors import ApiError
from tradingai.auth import WRITE


def _iso_only(value: object) -> object:
    # pydantic reads "0" as 1970-01-01; a day is written YYYY-MM-DD or it is refused.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_only)]

# What a trade's numbers can be: finite (JSON's Infinity and NaN are refused, and would make the
# journal's own answers invalid JSON), of a size a trade can have (so no product overflows), and
# numbers, not strings or booleans coerced into one.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_NUMBER, le=MAX_NUMBER)]


def _time_text(value: object) -> object:
    # pydantic reads a number as epoch seconds ("entry_time": 0 would be 1970): a time is
    # written in ISO 8601, with its zone.
    if not isinstance(value, str | datetime):
        raise ValueError("a time is written in ISO 8601 with its zone, e.g. 2024-05-13T00:30:00Z")
    return value


# Times outside 2000-2100 are refused by the model's clean(), as for every other way in.
TradeTime = Annotated[AwareDatetime, BeforeValidator(_time_text)]
router = Router(tags=["trades"])
performance_router = Router(tags=["performance"])


class TradeIn(Schema):
    """An executed trade needs its side, entry price and quantity; a skipped or missed one
    records the signal and the reason (``notes``), its side defaulting to the signal's.
    ``ticker`` may be written ``BTC-USD``; it is stored as Binance writes it (``BTCUSDT``)."""

    ticker: str
    action: Literal["executed", "skipped", "missed"]
    side: Literal["long", "short"] | None = None
    entry_time: TradeTime = Field(default_factory=lambda: datetime.now(UTC))
    entry_price: Number | None = None
    quantity: Number | None = None
    exit_time: TradeTime | None = None
    exit_price: Number | None = None
    leverage: Number = 1.0
    fees: Number = 0.0
    funding: Number = 0.0
    signal_id: int | None = None
    notes: str = Field(default="", max_length=NOTES_MAX)
    # The idea as checked when taken (POST /api/risk/check): its levels, horizon and the
    # first-touch odds shown then; the journal says which level the candles touched first.
    stop_price: Number | None = None
    target_price: Number | None = None
    horizon_hours: int | None = Field(default=None, ge=1, le=720)
    odds: dict[str, Number] = Field(default_factory=dict)


class TradeOut(Schema):
    @staticmethod
    def resolve_side(trade: Trade) -> str | None:
        return trade.side or None  # a skipped entry without a side has none, not ""

    id: int
    ticker: str
    action: str
    side: str | None
    signal_id: int | None
    grade: str
    followed_signal: bool | None
    entry_time: datetime
    entry_price: float | None
    exit_time: datetime | None
    exit_price: float | None
    quantity: float | None
    leverage: float
    fees: float
    funding: float
    pnl: float | None
    return_on_margin: float | None
    mae: float | None
    mfe: float | None
    notes: str
    stop_price: float | None
    target_price: float | None
    horizon_hours: int | None
    odds: dict
    touched: str


def _save(trade: Trade, payload: TradeIn, *, only_sent: bool = False) -> Trade:
    """Validate and store; ``only_sent``: change only the fields the payload carries (a partial
    PUT or PATCH used to wipe the signal link and the prices it did not repeat)."""
    data = payload.dict(exclude_unset=only_sent)
    signal_id = data.pop("signal_id", trade.signal_id)
    if signal_id is not None and not Signal.objects.filter(pk=signal_id).exists():
        raise ApiError(
            422,
            "invalid_request",
            f"no signal #{signal_id}",
            [{"loc": ["body", "signal_id"], "msg": "no such signal"}],
        )
    if "side" in data:
        data["side"] = data["side"] or ""
    for name, value in data.items():
        setattr(trade, name, value)
    trade.signal_id = signal_id
    try:
        trade.full_clean()
    except ValidationError as exc:
        details = [{"loc": ["body", k], "msg": " ".join(v)} for k, v in exc.message_dict.items()]
        raise ApiError(422, "invalid_request", "The trade is not valid.", details) from None
    with transaction.atomic():
        trade.save()
    return trade


@router.get("", response=list[TradeOut])
@router.get("/", response=list[TradeOut], include_in_schema=False)
def list_trades(
    request: HttpRequest, ticker: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[Trade]:
    trades = Trade.objects.all()
    if ticker:
        trades = trades.filter(ticker=normalise(ticker))
    return list(trades[:limit])


@router.post("", response={201: TradeOut}, auth=WRITE)
@router.post("/", response={201: TradeOut}, auth=WRITE, include_in_schema=False)
def create_trade(request: HttpRequest, payload: TradeIn) -> tuple[int, Trade]:
    """Record a trade; PnL and MAE/MFE are computed, never sent."""
    return 201, _save(Trade(), payload)


@router.api_operation(
    ["PUT", "PATCH"], "/{int:trade_id}", response=TradeOut, auth=WRITE
)  # "performance" is not an id
def update_trade(request: HttpRequest, trade_id: int, payload: TradeIn) -> Trade:
    """Change a trade: the fields sent replace the stored ones, the others keep their values
    (PUT and PATCH alike; ``ticker`` and ``action`` are always sent)."""
    trade = Trade.objects.filter(pk=trade_id).first()
    if trade is None:
        raise ApiError(404, "not_found", f"no trade #{trade_id}")
    return _save(trade, payload, only_sent=True)


@router.get("/performance", response=dict)
def trades_performance(request: HttpRequest) -> dict:
    """Win rate, PnL and profit factor overall, by grade, action and followed/overrode; the
    linked signals' hit rate per grade; the equity curve of executed trades."""
    return performance(Trade.objects.select_related("signal"))


@performance_router.get("/summary", response=dict)
def daily_summary(request: HttpRequest, day: IsoDate | None = None) -> dict:
    """The report a trader saves at the end of the day (``day``, default today, UTC): the
    signals of the day by grade, how many were acknowledged, the day's trades and their PnL,
    the journal overall, the serving models and any bars the live path refused."""
    day = day or datetime.now(UTC).date()
    start = datetime.combine(day, time.min, tzinfo=UTC)
    # Any calendar day is a day (an empty one, far from the data); the last one has no next.
    end = start + timedelta(days=1) if day < date.max else datetime.max.replace(tzinfo=UTC)
    signals = Signal.objects.graded().filter(open_time__gte=start, open_time__lt=end)
    by_grade = {g["grade"]: g["n"] for g in signals.values("grade").annotate(n=Count("id"))}
    trades = Trade.objects.select_related("signal")
    today = [t for t in trades if start <= t.entry_time < end]
    return {
        "day": day.isoformat(),
        "signals": {
            "total": signals.count(),
            "by_grade": by_grade,
            "acknowledged": signals.filter(acknowledged_at__isnull=False).count(),
        },
        "trades_today": {
            "count": len(today),
            "by_action": {a: sum(t.action == a for t in today) for a in Trade.Action.values},
            "pnl": sum(t.pnl for t in today if t.pnl is not None),
        },
        "journal": performance(trades),
        "models": [
            {
                "symbol": m.symbol,
                "interval": m.interval,
                "version": m.version,
                "forced": m.forced,
                "quick": m.quick,
            }
            for m in ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
        ],
        "refusals": [
            {"symbol": r.symbol, "interval": r.interval, "reason": r.reason}
            for r in NoSignal.objects.all()
        ],
    }
