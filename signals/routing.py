from __future__ import annotations

from django.urls import path

from signals.consumers import ApiSignalsConsumer, DashboardConsumer, SameOriginOnly

websocket_urlpatterns = [
    # The dashboard's socket rides on the session cookie: only pages of our own origin may open
    # it (a cross-site page could otherwise read a signed-in trader's stream).
    path("ws/signals/", SameOriginOnly(DashboardConsumer.as_asgi())),
    # The API's stream is for programs, which send no Origin: its key is its credential (a
    # session counts only from our own origin, see ApiSignalsConsumer.allowed).
    path("api/realtime/signals", ApiSignalsConsumer.as_asgi()),
]
