"""ASGI entry point: Django over HTTP, Channels over WebSocket."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingai.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from tradingai.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

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
