"""The API's domain error, importable by every app's router without importing the API itself."""

from __future__ import annotations

from typing import Any

from analysis.symbols import SYMBOL, normalise


class ApiError(Exception):
    """A domain error with a stable code, e.g. ``ApiError(404, "unknown_symbol", "...")``;
    the API renders it inside the envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def symbol_or_404(ticker: str) -> str:
    """A ticker in Binance's spelling (``BTC-USD`` read as ``BTCUSDT``, see analysis.symbols),
    or a 404: anything else names no market, and must not reach the database or a cache key."""
    symbol = normalise(ticker)
    if not SYMBOL.fullmatch(symbol):
        raise ApiError(404, "unknown_symbol", f"{ticker!r} is not a symbol")
    return symbol
