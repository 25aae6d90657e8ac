"""WebSocket routes, collected from the apps that push."""

from __future__ import annotations

from signals.routing import websocket_urlpatterns as signal_routes

websocket_urlpatterns = [*signal_routes]
