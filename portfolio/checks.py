"""The key check as a Django system check: ``manage.py check --deploy`` (and so a deployment's
preflight) fails on a key that can trade or withdraw, and the server refuses to start with one
(tradingai.asgi runs the same check)."""

from __future__ import annotations

from django.core.checks import Error, Warning

from analysis.exchange import ExchangeError, get_exchange
from portfolio.holdings import UnsafeKey, check_key


def binance_key_is_read_only(app_configs=None, **kwargs) -> list:
    try:
        check_key(get_exchange(max_retries=0, timeout=5))
    except UnsafeKey as exc:
        return [Error(str(exc), id="portfolio.E001")]
    except ExchangeError as exc:
        return [Warning(f"could not read the key's permissions: {exc}", id="portfolio.W001")]
    return []
