"""WebSocket routes. Apps append their consumers' routes here as they gain live pushes."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
