"""The only module that talks to Binance USD-M futures, and only to read.

Read-only holds by construction, on two levels:
1. ``Exchange`` exposes market data and account reads and nothing else; the python-binance
   ``Client`` it wraps is private.
2. The client's HTTP session refuses, before any byte leaves the machine, every request that is
   not a GET to one of ``READ_ONLY_ENDPOINTS``. Even code that digs out the private client and
   calls ``futures_create_order`` gets ``ReadOnlyViolation``.

Transient failures (HTTP 429/418/5xx, timeouts, refused connections) are retried with
exponential backoff, honouring ``Retry-After``; when the retries run out the caller gets
``ExchangeUnavailable`` with a message that says what failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException, BinanceRequestException
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)

# Paths relative to the configured base URL. GET only; nothing that writes exists here.
READ_ONLY_ENDPOINTS: frozenset[str] = frozenset(
    {
        "/fapi/v1/ping",
        "/fapi/v1/time",
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/klines",
        "/fapi/v1/fundingRate",
        "/fapi/v1/premiumIndex",
        "/fapi/v1/openInterest",
        "/futures/data/openInterestHist",
        "/fapi/v3/balance",
        "/fapi/v2/account",
        "/fapi/v3/positionRisk",
        # The key's own permissions (Binance serves them on the spot API's host).
        "/sapi/v1/account/apiRestrictions",
    }
)
KLINES_PAGE = 1500  # Binance's maximum per /fapi/v1/klines request
FUNDING_PAGE = 1000  # and per /fapi/v1/fundingRate request
RETRYABLE_STATUS = {418, 429, 500, 502, 503, 504}
INVALID_SYMBOL = -1121


class ExchangeError(RuntimeError):
    """The exchange answered, but not with what was asked for."""


class UnknownSymbol(ExchangeError):
    pass


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached, or kept refusing, after every retry."""


class ReadOnlyViolation(PermissionError):
    """Something tried to reach an endpoint that is not read-only market or account data."""


class _ReadOnlyAdapter(HTTPAdapter):
    def __init__(self, allowed_paths: frozenset[str]) -> None:
        super().__init__()
        self.allowed_paths = allowed_paths

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url).path
        if request.method != "GET" or path not in self.allowed_paths:
            raise ReadOnlyViolation(
                f"refused {request.method} {path}: Trading AI only reads market and account data"
            )
        return super().send(request, **kwargs)


class Exchange:
    """Read-only access to Binance USD-M futures. Times are epoch milliseconds, as Binance
    sends them; prices and quantities stay the strings Binance sends."""

    def __init__(
        self,
        base_url: str = "https://fapi.binance.com",
        *,
        spot_base_url: str = "https://api.binance.com",
        api_key: str = "",
        api_secret: str = "",
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._has_keys = bool(api_key and api_secret)
        client = Client(
            api_key or None,
            api_secret or None,
            requests_params={"timeout": timeout},
            ping=False,
        )
        client.FUTURES_URL = f"{self.base_url}/fapi"
        client.FUTURES_DATA_URL = f"{self.base_url}/futures/data"
        client.MARGIN_API_URL = f"{spot_base_url.rstrip('/')}/sapi"
        base_paths = {urlsplit(self.base_url).path, urlsplit(spot_base_url).path.rstrip("/")}
        guard = _ReadOnlyAdapter(
            frozenset(base + p for base in base_paths for p in READ_ONLY_ENDPOINTS)
        )
        client.session.mount("https://", guard)
        client.session.mount("http://", guard)
        self.__client = client

    # --- public market data -------------------------------------------------------------
    def ping(self) -> None:
        self._call("ping", self.__client.futures_ping)

    def server_time(self) -> int:
        return int(self._call("server time", self.__client.futures_time)["serverTime"])

    def exchange_info(self) -> dict[str, Any]:
        return self._call("exchange info", self.__client.futures_exchange_info)

    def symbols(self) -> set[str]:
        """Perpetual contracts currently trading."""
        info = self.exchange_info()
        return {
            s["symbol"]
            for s in info.get("symbols", [])
            if s.get("contractType") == "PERPETUAL" and s.get("status") == "TRADING"
        }

    def klines(
        self, symbol: str, interval: str, start_ms: int, end_ms: int | None = None
    ) -> list[list[Any]]:
        """One page (up to 1,500) of klines opening at or after ``start_ms``."""
        params: dict[str, Any] = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start_ms,
            "limit": KLINES_PAGE,
        }
        if end_ms is not None:
            params["endTime"] = end_ms
        return self._call(f"klines {symbol} {interval}", self.__client.futures_klines, **params)

    def funding_rates(
        self, symbol: str, start_ms: int, end_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """One page (up to 1,000) of funding settlements at or after ``start_ms``."""
        params: dict[str, Any] = {"symbol": symbol, "startTime": start_ms, "limit": FUNDING_PAGE}
        if end_ms is not None:
            params["endTime"] = end_ms
        return self._call(f"funding {symbol}", self.__client.futures_funding_rate, **params)

    def mark_price(self, symbol: str) -> dict[str, Any]:
        """Mark and index price, last funding rate and next funding time."""
        return self._call(f"mark price {symbol}", self.__client.futures_mark_price, symbol=symbol)

    def open_interest(self, symbol: str) -> dict[str, Any]:
        return self._call(
            f"open interest {symbol}", self.__client.futures_open_interest, symbol=symbol
        )

    def open_interest_history(
        self, symbol: str, period: str = "1h", limit: int = 500
    ) -> list[dict[str, Any]]:
        return self._call(
            f"open interest history {symbol}",
            self.__client.futures_open_interest_hist,
            symbol=symbol,
            period=period,
            limit=limit,
        )

    # --- read-only account data (needs an API key; a read-only key is all it ever needs) ----
    def account_balance(self) -> list[dict[str, Any]]:
        return self._call("account balance", self.__client.futures_account_balance, signed=True)

    def account(self) -> dict[str, Any]:
        return self._call("account", self.__client.futures_account, signed=True)

    def positions(self) -> list[dict[str, Any]]:
        return self._call("positions", self.__client.futures_position_information, signed=True)

    def api_permissions(self) -> dict[str, Any]:
        """What the configured key is allowed to do (reading, trading, withdrawing...)."""
        return self._call("key permissions", self.__client.get_account_api_permissions, signed=True)

    # --- the one place requests are made ------------------------------------------------
    def _call(self, what: str, method: Callable[..., Any], *, signed: bool = False, **params: Any):
        if signed and not self._has_keys:
            raise ExchangeError(f"{what}: no Binance API key configured (BINANCE_API_KEY/SECRET)")
        last_error = ""
        for attempt in range(self._max_retries + 1):
            try:
                return method(**params)
            except ReadOnlyViolation:
                raise
            except BinanceAPIException as exc:
                if exc.code == INVALID_SYMBOL:
                    raise UnknownSymbol(
                        f"{what}: Binance does not know symbol {params.get('symbol')!r}"
                    ) from exc
                if exc.status_code not in RETRYABLE_STATUS:
                    raise ExchangeError(
                        f"{what}: Binance answered HTTP {exc.status_code}: {exc.message}"
                    ) from exc
                last_error = f"HTTP {exc.status_code} ({exc.message})"
                wait = _retry_after(exc.response) or self._backoff * 2**attempt
            except (requests.Timeout, requests.ConnectionError, BinanceRequestException) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                wait = self._backoff * 2**attempt
            if attempt < self._max_retries:
                log.warning("%s: %s; retrying in %.1fs", what, last_error, wait)
                self._sleep(wait)
        raise ExchangeUnavailable(
            f"{what}: Binance at {self.base_url} unavailable after "
            f"{self._max_retries + 1} attempts; last error: {last_error}"
        )


def _retry_after(response: requests.Response | None) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def get_exchange(**overrides: Any) -> Exchange:
    """The exchange as configured in settings."""
    from django.conf import settings

    options: dict[str, Any] = {
        "spot_base_url": settings.BINANCE_SPOT_BASE_URL,
        "api_key": settings.BINANCE_API_KEY,
        "api_secret": settings.BINANCE_API_SECRET,
        "timeout": settings.BINANCE_TIMEOUT,
        "max_retries": settings.BINANCE_MAX_RETRIES,
    }
    options.update(overrides)
    return Exchange(settings.BINANCE_BASE_URL, **options)
