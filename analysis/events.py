"""What the market-data layer tells the layers above it, without importing them.

``candles_stored`` is sent once a round of the live path (the scheduled fetch, or a replayed bar)
has fetched its series and committed their closed candles and funding, naming every series of
the round with its newest stored candle, which may have been stored by an earlier round (a round
killed between its commit and its event is made good by the next). One event for the round, so
the receiver sees the round whole: the signals app predicts a universe model's series together.
Receivers enqueue their work with ``transaction.on_commit`` and must be idempotent per bar."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: series, a list of (symbol, interval, open_time of the newest stored candle)
candles_stored = Signal()
