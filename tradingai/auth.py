"""Who may call the API.

- Writes: an API key (header ``X-API-Key``), or the dashboard's own session with its CSRF token.
- Reads: open when ``TRADINGAI_API_AUTH`` is ``open`` (the embedded default, on loopback);
  with ``required`` (the production default) they need the same as writes.
A missing, unknown or revoked key is a 401 in the envelope."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
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


@dataclass(frozen=True)
class Credential:
    """What let a WebSocket in, so that it can be asked again while the socket is open: an open
    stream (nothing to lapse), an API key (until revoked), or a session (until signed out)."""

    key_id: int | None = None
    session_key: str | None = None
    user_id: int | None = None

    @property
    def can_lapse(self) -> bool:
        return self.key_id is not None or self.session_key is not None

    def live(self) -> bool:
        """Asked of the database itself (no cache): is it still good?"""
        if self.key_id is not None:
            return ApiKey.objects.filter(pk=self.key_id, revoked_at__isnull=True).exists()
        if self.session_key is not None:
            from importlib import import_module

            from django.conf import settings
            from django.contrib.auth import SESSION_KEY, get_user_model

            store = import_module(settings.SESSION_ENGINE).SessionStore(self.session_key)
            if str(store.get(SESSION_KEY)) != str(self.user_id):
                return False  # signed out (the session flushed), or another user now
            return get_user_model().objects.filter(pk=self.user_id, is_active=True).exists()
        return True


def key_credential(raw: str) -> Credential | None:
    """A live API key's credential (for the WebSocket streams, which are not ninja), or None."""
    key = ApiKey.verify(raw) if raw else None
    return Credential(key_id=key.pk) if key else None


def session_credential(scope: dict) -> Credential | None:
    """The signed-in session of a WebSocket's scope (Channels' auth middleware), or None."""
    user, session = scope.get("user"), scope.get("session")
    if not (user and user.is_authenticated and session is not None and session.session_key):
        return None
    return Credential(session_key=session.session_key, user_id=user.pk)


def may_read(request: HttpRequest) -> bool:
    """Whether the request may read what the API's reads show (an endpoint open to anyone,
    such as health, shows a stranger less): reads open, a live key, or a signed-in user."""
    user = getattr(request, "user", None)
    if settings.API_AUTH != "required" or (user is not None and user.is_authenticated):
        return True
    raw = request.headers.get("X-API-Key", "")
    try:
        return bool(raw) and ApiKey.verify(raw) is not None
    except DatabaseError:  # the key cannot be checked: health still answers, with less
        return False
