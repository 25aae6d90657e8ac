"""The read-only portfolio: balances, positions and exposure from Binance, through
``analysis.exchange`` (which can only read). Nothing here can place, change or cancel an order.

Safety: before anything is shown, the key's permissions are read; a key that can trade,
transfer or withdraw is refused with the reason, unless TRADINGAI_ALLOW_TRADE_ENABLED_KEY=1.
A product that only reads has no business holding a key that can do more: if it leaked, the
account could be emptied. No key at all is not an error but a "not configured" state."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from analysis.exchange import Exchange, get_exchange

# Permission flags that let a key do more than read (Binance's apiRestrictions fields).
DANGEROUS = {
    "enableFutures": "trade futures",
    "enableSpotAndMarginTrading": "trade spot and margin",
    "enableMargin": "trade margin",
    "enableVanillaOptions": "trade options",
    "enablePortfolioMarginTrading": "trade portfolio margin",
    "enableFixApiTrade": "trade over FIX",
    "enableWithdrawals": "withdraw funds",
    "enableInternalTransfer": "transfer funds between accounts",
    "permitsUniversalTransfer": "transfer funds (universal transfer)",
}


class NotConfigured(LookupError):
    """No Binance API key is configured."""


class UnsafeKey(PermissionError):
    """The configured key can do more than read."""


def configured() -> bool:
    return bool(settings.BINANCE_API_KEY and settings.BINANCE_API_SECRET)


def check_key(exchange: Exchange) -> list[str]:
    """What the key can do beyond reading; raises UnsafeKey unless that is explicitly allowed."""
    permissions = exchange.api_permissions()
    powers = [what for flag, what in DANGEROUS.items() if permissions.get(flag)]
    if powers and not settings.ALLOW_TRADE_ENABLED_KEY:
        raise UnsafeKey(
            "the Binance API key can " + ", ".join(powers) + ". Trading AI only reads: create "
            "a key with reading permission only (or set TRADINGAI_ALLOW_TRADE_ENABLED_KEY=1 "
            "to accept this one knowingly)"
        )
    return powers


@dataclass(frozen=True)
class Position:
    symbol: str
    side: str  # long / short
    quantity: float  # absolute, base asset
    entry_price: float
    mark_price: float
    notional: float  # absolute, USDT
    unrealized_pnl: float
    leverage: float | None  # notional / initial margin
    liquidation_price: float | None
    distance_to_liquidation: float | None  # |mark - liquidation| / mark


@dataclass(frozen=True)
class Portfolio:
    balances: list[dict]  # asset, balance, available, unrealized_pnl
    positions: list[Position]
    equity: float  # USDT wallet balance + unrealized PnL
    long_exposure: float
    short_exposure: float
    gross_exposure: float
    net_exposure: float
    leverage: float | None  # gross exposure / equity
    by_symbol: dict[str, float] = field(default_factory=dict)  # signed notional
    key_powers: list[str] = field(default_factory=list)  # beyond reading, when allowed


def _float(value, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def snapshot(exchange: Exchange | None = None) -> Portfolio:
    if not configured():
        raise NotConfigured(
            "no Binance API key is configured: set BINANCE_API_KEY and BINANCE_API_SECRET "
            "(a read-only key) to see balances and positions"
        )
    exchange = exchange or get_exchange()
    powers = check_key(exchange)
    balances = [
        {
            "asset": b["asset"],
            "balance": _float(b.get("balance")),
            "available": _float(b.get("availableBalance")),
            "unrealized_pnl": _float(b.get("crossUnPnl")),
        }
        for b in exchange.account_balance()
    ]
    positions = []
    for raw in exchange.positions():
        amount = _float(raw.get("positionAmt"))
        if amount == 0:
            continue
        mark = _float(raw.get("markPrice"))
        notional = abs(_float(raw.get("notional"), amount * mark))
        margin = _float(raw.get("initialMargin"))
        liquidation = _float(raw.get("liquidationPrice"))
        positions.append(
            Position(
                symbol=raw["symbol"],
                side="long" if amount > 0 else "short",
                quantity=abs(amount),
                entry_price=_float(raw.get("entryPrice")),
                mark_price=mark,
                notional=notional,
                unrealized_pnl=_float(raw.get("unRealizedProfit")),
                leverage=notional / margin if margin > 0 else None,
                liquidation_price=liquidation or None,  # 0: no liquidation price (cross, hedged)
                distance_to_liquidation=abs(mark - liquidation) / mark
                if liquidation and mark
                else None,
            )
        )
    long = sum(p.notional for p in positions if p.side == "long")
    short = sum(p.notional for p in positions if p.side == "short")
    usdt = next((b for b in balances if b["asset"] == "USDT"), None)
    equity = (usdt["balance"] if usdt else 0.0) + sum(p.unrealized_pnl for p in positions)
    by_symbol: dict[str, float] = {}
    for p in positions:
        by_symbol[p.symbol] = by_symbol.get(p.symbol, 0.0) + (
            p.notional if p.side == "long" else -p.notional
        )
    return Portfolio(
        balances,
        positions,
        equity,
        long,
        short,
        long + short,
        long - short,
        (long + short) / equity if equity > 0 else None,
        by_symbol,
        powers,
    )
