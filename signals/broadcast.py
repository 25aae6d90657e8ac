"""Push a new signal to whoever listens, after the transaction that stored it commits.

One message on the channel layer's ``signals`` group carries both forms: the HTML the dashboard
page itself renders (same template partials, auto-escaped, as out-of-band swaps through htmx's
ws extension: the series' board row always, and the list row at the top of the list when the
signal is actionable) and the JSON the API's stream sends (every prediction). The
in-memory layer serves the embedded mode; Redis carries it from a Celery worker in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction
from django.template.loader import render_to_string

from signals import board
from signals.models import Signal
from signals.serialize import signal_json

log = logging.getLogger(__name__)
GROUP = "signals"


def on_commit(*signals: Signal) -> None:
    transaction.on_commit(lambda: publish(*signals))


def publish(*signals: Signal | int) -> None:
    """Send each signal (the stored row, or its id) to the ``signals`` group: a round's
    signals together, their sends in flight at once (one wait, not one a signal)."""
    messages = [_message(s) for s in signals]
    try:
        _send(get_channel_layer(), messages)
    except Exception:  # a dead Redis must not undo a stored signal; the page still lists it
        ids = ", ".join(f"#{m['data']['id']}" for m in messages)
        log.exception("could not push signal %s", ids)


def _message(signal: Signal | int) -> dict:
    if not isinstance(signal, Signal):
        signal = Signal.objects.select_related("model_version").get(pk=signal)
    # Every prediction goes to API clients and updates its series' row on the dashboard's
    # board; the dashboard's list shows actionable ones only (the product abstains from the rest).
    html = render_to_string("signals/_board_row.html", {"row": board.row_for(signal), "oob": True})
    if signal.actionable:
        html += render_to_string("signals/_row.html", {"signal": signal, "oob": True})
    return {"type": "signal.new", "html": html, "data": signal_json(signal)}


_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _send(layer: BaseChannelLayer, messages: list[dict]) -> None:
    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(GROUP, m) for m in messages))

    if not isinstance(layer, RedisChannelLayer):
        # The in-memory layer's queues belong to the server's own loop, which async_to_sync
        # finds from a view's thread.
        async_to_sync(send_all)()
        return
    # channels_redis keeps its connections per event loop, and async_to_sync from a worker's
    # plain thread makes a new loop per call: a new Redis connection for every signal
    # (2-3 ms). One loop on a daemon thread, made after the fork, lives as long as the process.
    # (A loop inherited through a fork has no thread left to run it: the pid tells.)
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="signal-push", daemon=True).start()
    asyncio.run_coroutine_threadsafe(send_all(), _loop).result(timeout=10)
