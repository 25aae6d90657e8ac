"""/api/portfolio: balances, positions, exposure. Read-only by construction (analysis.exchange).
No key configured: ``configured: false`` with what to do, not an error. A key that can trade
or withdraw: 403 with the reason. Binance unreachable: 503."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest
from ninja import Router

from analysis.exchange import ExchangeError
from portfolio.holdings import NotConfigured, UnsafeKey, snapshot
from tradingai.api_errors import ApiError

router = Router(tags=["portfolio"])


def _portfolio(request: HttpRequest, part) -> dict:
    try:
        p = snapshot()
    except NotConfigured as exc:
        return {"configured": False, "message": str(exc)}
    except UnsafeKey as exc:
        raise ApiError(403, "unsafe_key", str(exc)) from None
    except ExchangeError as exc:
        raise ApiError(503, "exchange_unavailable", str(exc)) from None
    return {"configured": True, **part(p)}


@router.get("/balance", response=dict)
def balance(request: HttpRequest) -> dict:
    return _portfolio(request, lambda p: {"balances": p.balances, "equity": p.equity})


@router.get("/positions", response=dict)
def positions(request: HttpRequest) -> dict:
    return _portfolio(request, lambda p: {"positions": [asdict(x) for x in p.positions]})


@router.get("/exposure", response=dict)
def exposure(request: HttpRequest) -> dict:
    """Long, short, gross and net exposure in USDT, per symbol, and leverage on equity."""
    return _portfolio(
        request,
        lambda p: {
            "long": p.long_exposure,
            "short": p.short_exposure,
            "gross": p.gross_exposure,
            "net": p.net_exposure,
            "leverage": p.leverage,
            "by_symbol": p.by_symbol,
            "equity": p.equity,
            "key_powers": p.key_powers,
        },
    )
