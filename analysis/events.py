"""What the market-data layer tells the layers above it, without importing them.

``candles_stored`` is sent after new closed candles of a series are committed by the live path
(the scheduled fetch, or a replay), once that symbol's funding is fetched too. Receivers (the
signals app) enqueue their work with ``transaction.on_commit``."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: symbol (str), interval (str), open_time (datetime of the newest stored candle)
candles_stored = Signal()
