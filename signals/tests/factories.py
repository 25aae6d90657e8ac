"""Signal rows for tests that need a stored signal but no inference behind it."""

from __future__ import annotations

from datetime import UTC, datetime

from mlcore.tests.factories import model_version
from signals.models import Signal


def signal_row(**overrides) -> Signal:
    """A long B signal on BTCUSDT 1h (with a stub champion unless given one); override any field."""
    fields = {
        "symbol": "BTCUSDT",
        "interval": "1h",
        "open_time": datetime(2024, 5, 13, tzinfo=UTC),
        "direction": "long",
        "grade": "B",
        "confidence": 0.7,
        "p_sell": 0.1,
        "p_neutral": 0.2,
        "p_buy": 0.7,
        "entry_price": 62000.0,
    }
    if "model_version" not in overrides:
        fields["model_version"] = model_version()
    return Signal.objects.create(**(fields | overrides))


def signed_in(user) -> dict:
    """What Channels' auth middleware puts in a socket's scope for a signed-in browser: the user
    and their (real, stored) session, so the socket can ask again whether it still holds."""
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return {"user": user, "session": browser.session}
