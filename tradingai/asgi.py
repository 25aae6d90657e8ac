"""ASGI entry point: Django over HTTP, Channels over WebSocket. In production daphne serves
the WebSockets from here and a WSGI process pool (``tradingai.wsgi``) the HTTP; the embedded
mode serves both from this one process."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingai.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from tradingai.routing import websocket_urlpatterns  # noqa: E402
from tradingai.startup import on_server_start  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origins are checked per route (signals.routing): the session socket only from our
        # own pages; the key-authenticated API stream from any program.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)

on_server_start()
