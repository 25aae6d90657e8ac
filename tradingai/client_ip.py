"""Who a request comes from, for the rate limiter and django-axes.

Behind ``deploy/nginx.conf`` every request's ``REMOTE_ADDR`` is the proxy, so keying on it put
every client in one bucket (32 made-up keys then answered a signed-in trader 429, and five wrong
passwords locked the right one out for everyone). The client is read from ``X-Forwarded-For``
only when the request came from a trusted proxy (``TRADINGAI_TRUSTED_PROXIES``: addresses or
networks) and the deployment says how many proxies stand in front (``TRADINGAI_PROXY_HOPS``);
otherwise a client could claim any address by sending the header itself. Parsing and the choice
in the chain are django-ipware's.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip


@lru_cache(maxsize=8)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _from_trusted_proxy(remote: str) -> bool:
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or, from a trusted proxy, the address the
    outermost of ``PROXY_HOPS`` proxies saw (each proxy appends the peer it saw, so the
    hops-th entry from the right of ``X-Forwarded-For``; anything further left is the client's
    own claim). None when the request has no address (an in-process test client)."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.PROXY_HOPS
    if hops < 1 or remote is None or not _from_trusted_proxy(remote):
        return remote
    # ipware counts the proxies *inside* the header: the last proxy is REMOTE_ADDR, not in it.
    # Not strict: a client may send its own header, which the proxies extend on the right.
    found, _ = get_client_ip(
        request,
        proxy_count=hops - 1,
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
    )
    return str(found) if found else remote
