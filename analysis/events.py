"""What the market-data layer tells the layers above it, without importing them.

``candles_stored`` is sent after the live path (the scheduled fetch, or a replay) has fetched a
series and committed its closed candles, once that symbol's funding is fetched too; it names the
newest stored candle, which may have been stored by an earlier round (a round killed between its
commit and its event is made good by the next). Receivers (the signals app) enqueue their work
with ``transaction.on_commit`` and must be idempotent per bar."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: symbol (str), interval (str), open_time (datetime of the newest stored candle)
candles_stored = Signal()
