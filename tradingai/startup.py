"""What every server process does once Django is set up, whichever protocol it serves (the
ASGI one for WebSockets, the WSGI pool for HTTP): refuse a Binance key that can trade, and start
the embedded scheduler where it is on (the embedded mode's single process)."""

from __future__ import annotations

from django.conf import settings


def on_server_start() -> None:
    if settings.BINANCE_API_KEY:
        # Refuse to serve with a key that can trade or withdraw (the reason is in the error).
        from django.core.exceptions import ImproperlyConfigured

        from portfolio.checks import binance_key_is_read_only

        errors = [c for c in binance_key_is_read_only() if c.level >= 40]
        if errors:
            raise ImproperlyConfigured(errors[0].msg)

    if settings.EMBEDDED_SCHEDULER:
        from tradingai.scheduler import start_embedded_scheduler

        start_embedded_scheduler()
