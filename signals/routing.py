from __future__ import annotations

from django.urls import path

from signals.consumers import ApiSignalsConsumer, DashboardConsumer

websocket_urlpatterns = [
    path("ws/signals/", DashboardConsumer.as_asgi()),
    path("api/realtime/signals", ApiSignalsConsumer.as_asgi()),
]
