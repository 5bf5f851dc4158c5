"""The client's address behind reverse proxies: one rule, applied once, before anything reads it.

With `IDENTITY_TRUSTED_PROXY_COUNT = n > 0`, each of our n proxies appends the address it saw to
`X-Forwarded-For`, so the n-th entry from the right is the address our outermost proxy saw: the
client. Entries further left were written by the client and are never believed. A header with
fewer than n entries, or an entry that is not an IP address, leaves the peer address in place (a
misconfigured or bypassed proxy). With n = 0 the header is ignored.

The result replaces `REMOTE_ADDR`, which the rest of the service (the address recorded on a
session) reads; nothing decides anything by address (lockout is per account).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from identity import app_settings


def forwarded_client(forwarded_for: str, proxies: int) -> str | None:
    """The client address `X-Forwarded-For` gives when `proxies` trusted proxies appended to it."""
    if proxies <= 0:
        return None
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if len(entries) < proxies:
        return None
    candidate = entries[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ForwardedForMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        proxies = app_settings.trusted_proxy_count()
        forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR")
        if proxies > 0 and forwarded_for:
            client = forwarded_client(forwarded_for, proxies)
            if client is not None:
                request.META["REMOTE_ADDR"] = client
        return self.get_response(request)
