"""Django's Redis cache with two changes: one ``redis.Redis`` client per connection pool, and a
dead Redis costs speed, not answers.

- Django's client builds a new ``redis.Redis`` for every cache call, and redis-py fills ~170
  response callbacks in each constructor: 0.18 ms a call, several calls on every API request.
  A ``redis.Redis`` is thread-safe over its pool, so one is enough.
- Everything cached here can be rebuilt from the database (signal pages, the latest signal,
  analysis) or may lapse (rate-limit counts: the limit fails open). So when Redis is
  unreachable, a read misses, a write is dropped, and ``incr`` reports a missing key, each with
  a logged warning; health reports Redis as down. (django-redis calls this IGNORE_EXCEPTIONS.)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class ReusedClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients", {})
        client = clients.get(id(pool))
        if client is None:
            client = clients[id(pool)] = self._client(connection_pool=pool)
        return client


def _soft(fallback: Callable[..., Any]) -> Callable:
    """Run the cache operation; on a Redis error, log it and return ``fallback(*args, **kw)``."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                log.warning("cache %s skipped: Redis is unreachable (%s)", method.__name__, exc)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _missing(key, *args, **kwargs):
    raise ValueError(f"Key '{key}' not found (Redis is unreachable)")


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedClient

    @_soft(lambda key, default=None, version=None: default)
    def get(self, key, default=None, version=None):
        return super().get(key, default, version)

    @_soft(lambda *a, **k: {})
    def get_many(self, keys, version=None):
        return super().get_many(keys, version)

    @_soft(lambda *a, **k: None)
    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set(key, value, timeout, version)

    @_soft(lambda *a, **k: False)
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().add(key, value, timeout, version)

    @_soft(lambda *a, **k: False)
    def delete(self, key, version=None):
        return super().delete(key, version)

    @_soft(lambda *a, **k: None)
    def delete_many(self, keys, version=None):
        return super().delete_many(keys, version)

    @_soft(_missing)
    def incr(self, key, delta=1, version=None):
        return super().incr(key, delta, version)

    @_soft(lambda *a, **k: False)
    def has_key(self, key, version=None):
        return super().has_key(key, version)
