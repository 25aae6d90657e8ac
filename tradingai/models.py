"""API keys: issued once, stored as a digest, revocable."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from django.db import models
from django.utils import timezone

# Verified keys (and unknown prefixes) per process, for a few seconds: a request's key check
# costs no query, and a revocation is honoured everywhere within KEY_CACHE_SECONDS (at once in
# the process that revokes). Bounded, so made-up keys cannot grow it without limit.
KEY_CACHE_SECONDS = 5.0
_KEY_CACHE_SIZE = 10_000
_recent: dict[str, tuple[float, ApiKey | None]] = {}
# What ``issue`` makes: 8 hex digits, a dot, URL-safe base64. Anything else is no key and costs
# no query (a NUL or a byte the database cannot store used to reach one as a 500).
KEY_FORMAT = re.compile(r"[0-9a-f]{8}\.[A-Za-z0-9_-]{20,100}")


def _digest(raw: str) -> str:
    # A key is 256 random bits: a plain SHA-256 digest cannot be brute-forced, and unlike a
    # password hash it costs microseconds on every request.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, unique=True, help_text="the key's public part")
    digest = models.CharField(max_length=64, help_text="sha256 of the whole key")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{', revoked' if self.revoked_at else ''})"

    @classmethod
    def issue(cls, name: str) -> tuple[ApiKey, str]:
        """A new key; the returned secret is shown once and never stored."""
        prefix = secrets.token_hex(4)
        raw = f"{prefix}.{secrets.token_urlsafe(32)}"
        return cls.objects.create(name=name, prefix=prefix, digest=_digest(raw)), raw

    @classmethod
    def verify(cls, raw: str) -> ApiKey | None:
        """The live key ``raw`` is, or None; compared in constant time against its digest."""
        if not KEY_FORMAT.fullmatch(raw):
            return None
        prefix = raw.split(".", 1)[0]
        now = time.monotonic()
        seen = _recent.get(prefix)
        if seen is None or now - seen[0] > KEY_CACHE_SECONDS:
            if len(_recent) >= _KEY_CACHE_SIZE:
                _recent.clear()
            key = cls.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
            seen = _recent[prefix] = (now, key)
        key = seen[1]
        if key is None or not hmac.compare_digest(key.digest, _digest(raw)):
            return None
        if key.last_used_at is None or (timezone.now() - key.last_used_at).total_seconds() > 60:
            key.last_used_at = timezone.now()
            cls.objects.filter(pk=key.pk).update(last_used_at=key.last_used_at)
        return key

    def revoke(self) -> None:
        self.revoked_at = self.revoked_at or timezone.now()
        self.save(update_fields=["revoked_at"])
        _recent.pop(self.prefix, None)
