"""Who may call the API.

- Writes: an API key (header ``X-API-Key``), or the dashboard's own session with its CSRF token.
- Reads: open when ``TRADINGAI_API_AUTH`` is ``open`` (the embedded default, on loopback);
  with ``required`` (the production default) they need the same as writes.
A missing, unknown or revoked key is a 401 in the envelope."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyHeader, SessionAuth

from tradingai.models import ApiKey


class KeyAuth(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        return ApiKey.verify(key) if key else None


class ReadAuth(KeyAuth):
    """A key when reads require one; otherwise anyone (``"open"``)."""

    def __call__(self, request: HttpRequest):
        if settings.API_AUTH != "required":
            return "open"
        return super().__call__(request)


class SignedInSession(SessionAuth):
    """The dashboard's own session, with its CSRF check; a request with no signed-in session is
    simply not this kind (so a write without a key is a 401 saying a key is needed, not a 403
    about CSRF), while a signed-in one without its CSRF token is still refused."""

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


key_auth = KeyAuth()
session_auth = SignedInSession()
WRITE = [key_auth, session_auth]
READ = [ReadAuth(), session_auth]


def valid_key(raw: str) -> bool:
    """Whether ``raw`` is a live API key (for the WebSocket streams, which are not ninja)."""
    return bool(raw) and ApiKey.verify(raw) is not None
