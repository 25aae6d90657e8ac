"""The API's domain error, importable by every app's router without importing the API itself."""

from __future__ import annotations

import re
from typing import Any


class ApiError(Exception):
    """A domain error with a stable code, e.g. ``ApiError(404, "unknown_symbol", "...")``;
    the API renders it inside the envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


SYMBOL = re.compile(r"[A-Z0-9]{2,20}")


def symbol_or_404(ticker: str) -> str:
    """A ticker as Binance writes symbols (``BTCUSDT``, ``1000PEPEUSDT``), or a 404: anything else
    names no market, and must not reach the database or a cache key."""
    symbol = ticker.strip().upper()
    if not SYMBOL.fullmatch(symbol):
        raise ApiError(404, "unknown_symbol", f"{ticker!r} is not a symbol")
    return symbol
