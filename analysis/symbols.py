"""How a market is written. Binance writes a USD-M perpetual as base and quote run together
(``BTCUSDT``, ``1000PEPEUSDT``); people and other tools write ``BTC-USD``, ``btc/usdt`` or
``BTC_USDT``. Every place that reads a ticker (the API, the commands, the settings, the journal)
reads it through ``normalise``, and stores and shows Binance's form. Pure; no Django."""

from __future__ import annotations

import re

SYMBOL = re.compile(r"[A-Z0-9]{2,20}")
# How many symbols the product may watch: every fetch round asks the exchange for each, and
# health lists each (a list of 3,000 made-up symbols was saved, and health grew to 575 KB).
MAX_WATCHED = 100
_SEPARATOR = re.compile(r"[-/_:]")


def normalise(ticker: str) -> str:
    """``BTC-USD`` -> ``BTCUSDT``; ``eth/usdt`` -> ``ETHUSDT``; ``BTCUSDT`` unchanged.

    A quote written ``USD`` after a separator means the market's USD quote, which on USD-M
    futures is USDT; without a separator nothing is guessed (``BTCUSD`` stays as written and
    names no USD-M market)."""
    parts = _SEPARATOR.split(ticker.strip().upper())
    if len(parts) == 2 and parts[1] == "USD":
        parts[1] = "USDT"
    return "".join(parts)
