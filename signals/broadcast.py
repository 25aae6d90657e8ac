"""Push a new signal to whoever listens, after the transaction that stored it commits.

One message on the channel layer's ``signals`` group carries both forms: the HTML row the
dashboard page itself renders (same template partial, auto-escaped, as an out-of-band swap that
htmx's ws extension inserts at the top of the list) and the JSON the API's stream sends. The
in-memory layer serves the embedded mode; Redis carries it from a Celery worker in production.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string

from signals.models import Signal
from signals.serialize import signal_json

log = logging.getLogger(__name__)
GROUP = "signals"


def on_commit(signal: Signal) -> None:
    transaction.on_commit(lambda: publish(signal.pk))


def publish(signal_id: int) -> None:
    signal = Signal.objects.select_related("model_version").get(pk=signal_id)
    # Every prediction goes to API clients; the dashboard lists graded (directional) ones only.
    graded = signal.direction != Signal.Direction.NEUTRAL
    html = render_to_string("signals/_row.html", {"signal": signal, "oob": True}) if graded else ""
    layer = get_channel_layer()
    try:
        async_to_sync(layer.group_send)(
            GROUP, {"type": "signal.new", "html": html, "data": signal_json(signal)}
        )
    except Exception:  # a dead Redis must not undo a stored signal; the page still lists it
        log.exception("could not push signal #%s", signal_id)
