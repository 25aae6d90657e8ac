"""The two WebSocket routes through a real daphne, with the `websockets` package as a plain
client (it sends no Origin header, as programs do): the key-authenticated API stream takes it;
the session-based dashboard socket only ever takes pages of our own origin."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.servers import shell_key, start_daphne, stop

pytestmark = [pytest.mark.slow, pytest.mark.system]


def test_a_plain_client_with_a_key_gets_the_api_stream_and_never_the_dashboard_socket(
    embedded_site,
):
    env = embedded_site.env | {"TRADINGAI_API_AUTH": "required"}
    key = shell_key(env, "from tradingai.models import ApiKey; print('KEY', ApiKey.issue('ws')[1])")
    daphne, url = start_daphne(env, quiet=True)
    ws = url.replace("http://", "ws://")

    async def opens(path: str, headers: dict[str, str]) -> bool | int:
        try:
            async with websockets.connect(ws + path, additional_headers=headers) as socket:
                await socket.ping()
                # The server closes an unauthorised stream right after accepting it (4401).
                try:
                    await asyncio.wait_for(socket.recv(), timeout=1)
                except TimeoutError:
                    return True
                except websockets.ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else False
                return True
        except InvalidStatus as refused:
            return refused.response.status_code

    try:
        assert asyncio.run(opens("/api/realtime/signals", {"X-API-Key": key})) is True
        assert asyncio.run(opens(f"/api/realtime/signals?key={key}", {})) is True
        refused = asyncio.run(opens("/api/realtime/signals", {"X-API-Key": "ab12.wrong"}))
        assert refused in {403, 4401}  # refused at the handshake (daphne) or right after
        # The dashboard's socket: no Origin, or a foreign one, is refused at the handshake.
        assert asyncio.run(opens("/ws/signals/", {})) == 403
        assert asyncio.run(opens("/ws/signals/", {"Origin": "https://evil.example"})) == 403
        # A path that streams nothing is refused at the handshake, not a 500.
        assert asyncio.run(opens("/ws/nothing-here/", {"X-API-Key": key})) == 403
        assert asyncio.run(opens("/api/realtime/nothing", {"X-API-Key": key})) == 403
    finally:
        stop(daphne)
