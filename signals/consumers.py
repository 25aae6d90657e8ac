"""WebSockets that stream new signals: HTML for the dashboard, JSON for API clients.

Both join the ``signals`` group; each has one handler for the one event type."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from signals.broadcast import GROUP
from tradingai.auth import valid_key


class _SignalStream(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        if not await self.allowed():
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def allowed(self) -> bool:
        return True


class DashboardConsumer(_SignalStream):
    """The dashboard's socket (logged-in users): the series' board row and, for an actionable
    signal, its list row, as htmx out-of-band swaps."""

    async def allowed(self) -> bool:
        user = self.scope.get("user")
        return bool(user and user.is_authenticated)

    async def signal_new(self, event: dict) -> None:
        if event["html"]:
            await self.send(text_data=event["html"])


def _own_origin(origin: bytes | None) -> bool:
    """A browser always sends its page's origin: the session counts only from our own pages."""
    if origin is None:
        return False
    from urllib.parse import urlparse

    from channels.security.websocket import AllowedHostsOriginValidator

    return AllowedHostsOriginValidator(None).valid_origin(urlparse(origin.decode("latin1")))


class ApiSignalsConsumer(_SignalStream):
    """``/api/realtime/signals``: one JSON object per new signal, with the same auth as the API's
    reads: open when TRADINGAI_API_AUTH is open; otherwise an ``X-API-Key`` header (or ``?key=``
    for clients that cannot set headers) that is not revoked, or the dashboard's session."""

    async def allowed(self) -> bool:
        from django.conf import settings

        if settings.API_AUTH != "required":
            return True
        headers = dict(self.scope.get("headers", []))
        user = self.scope.get("user")
        if user and user.is_authenticated and _own_origin(headers.get(b"origin")):
            return True
        key = headers.get(b"x-api-key", b"").decode()
        if not key:
            query = parse_qs(self.scope.get("query_string", b"").decode())
            key = (query.get("key") or [""])[0]
        return await database_sync_to_async(valid_key)(key)

    async def signal_new(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event["data"]))
