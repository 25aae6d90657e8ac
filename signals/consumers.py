"""WebSockets that stream new signals: HTML for the dashboard, JSON for API clients.

Both join the ``signals`` group; each has one handler for the one event type. A socket lives no
longer than what let it in: the key or the session is checked again every
``RECHECK_SECONDS``, and a revoked key or a signed-out session closes it (4401)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from signals.broadcast import GROUP
from tradingai.auth import Credential, key_credential, session_credential

RECHECK_SECONDS = 2.0  # within the key cache's 5 s, as the README promises
# Open sockets per key, user or address in one server process: enough for a trader's tabs and
# programs; a client opening thousands would hold a coroutine and a group slot for each.
MAX_SOCKETS_PER_HOLDER = 20
_open: Counter[str] = Counter()


class _SignalStream(AsyncWebsocketConsumer):
    credential: Credential | None = None
    watch: asyncio.Task | None = None
    holder: str = ""

    async def connect(self) -> None:
        self.credential = await self.admit()
        if self.credential is None:
            await self.close(code=4401)
            return
        holder = self._holder(self.credential)
        if _open[holder] >= MAX_SOCKETS_PER_HOLDER:
            await self.close(code=4429)  # too many: the client closes one of its own first
            return
        await self.channel_layer.group_add(GROUP, self.channel_name)  # raises while Redis is down
        await self.accept()
        # Counted once open: a handshake that failed (Redis down, the client retrying every
        # half second) must not use up the holder's allowance.
        _open[holder] += 1
        self.holder = holder
        if self.credential.can_lapse:
            self.watch = asyncio.create_task(self._watch(self.credential))

    async def _watch(self, credential: Credential) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                live = await database_sync_to_async(credential.live)()
            except Exception:  # the database unreachable: ask again next time, keep streaming
                continue
            if not live:
                await self.close(code=4401)
                return

    def _holder(self, credential: Credential) -> str:
        if credential.key_id is not None:
            return f"key:{credential.key_id}"
        if credential.user_id is not None:
            return f"user:{credential.user_id}"
        client = self.scope.get("client") or ("?",)
        return f"addr:{client[0]}"

    async def disconnect(self, code: int) -> None:
        if self.holder:
            _open[self.holder] -= 1
            if _open[self.holder] <= 0:
                del _open[self.holder]
            self.holder = ""
        if self.watch is not None:
            self.watch.cancel()
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def admit(self) -> Credential | None:
        return Credential()


class DashboardConsumer(_SignalStream):
    """The dashboard's socket (logged-in users): the series' board row and, for an actionable
    signal, its list row, as htmx out-of-band swaps."""

    async def admit(self) -> Credential | None:
        return session_credential(self.scope)

    async def signal_new(self, event: dict) -> None:
        if event["html"]:
            await self.send(text_data=event["html"])


def same_origin(scope: dict) -> bool:
    """Whether the page that opened the socket is one of ours: its Origin is exactly this
    socket's own origin (scheme, host and port; the host one ALLOWED_HOSTS names). A browser
    always sends its page's origin; a session counts only from our own pages (Channels'
    host-only check let another port or scheme of the same host in)."""
    from django.conf import settings
    from django.http.request import split_domain_port, validate_host

    headers = dict(scope.get("headers", []))
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if not origin or not host:
        return False
    host_text = host.decode("latin-1").lower()
    domain, _ = split_domain_port(host_text)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    # Behind the proxy the browser's scheme is the proxy's (X-Forwarded-Proto, as for HTTP).
    forwarded = headers.get(b"x-forwarded-proto", b"").decode("latin-1").lower()
    scheme = forwarded or ("https" if scope.get("scheme") == "wss" else "http")
    return origin.decode("latin-1").lower() == f"{scheme}://{host_text}"


class SameOriginOnly:
    """ASGI wrapper: a socket from another origin is refused at the handshake (403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            from channels.security.websocket import WebsocketDenier

            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class ApiSignalsConsumer(_SignalStream):
    """``/api/realtime/signals``: one JSON object per new signal, with the same auth as the API's
    reads: open when TRADINGAI_API_AUTH is open; otherwise an ``X-API-Key`` header (or ``?key=``
    for clients that cannot set headers) that is not revoked, or the dashboard's session."""

    async def admit(self) -> Credential | None:
        from django.conf import settings

        if settings.API_AUTH != "required":
            return Credential()
        headers = dict(self.scope.get("headers", []))
        if same_origin(self.scope) and (signed_in := session_credential(self.scope)):
            return signed_in
        # Header bytes are not necessarily UTF-8 (a 0xFF byte was a 500 at the handshake).
        key = headers.get(b"x-api-key", b"").decode("latin-1")
        if not key:
            query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
            key = (query.get("key") or [""])[0]
        return await database_sync_to_async(key_credential)(key)

    async def signal_new(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event["data"]))
