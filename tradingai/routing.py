"""WebSocket routes, collected from the apps that push, and a refusal for every other path."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from signals.routing import websocket_urlpatterns as signal_routes


class NoSuchStream(AsyncWebsocketConsumer):
    """A socket to a path that streams nothing: refused at the handshake (the server answers
    403), where Channels' router would have raised and the server answered 500."""

    async def connect(self) -> None:
        await self.close(code=4404)


websocket_urlpatterns = [*signal_routes, re_path(r"", NoSuchStream.as_asgi())]
