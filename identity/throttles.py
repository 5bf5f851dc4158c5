"""Request throttles for the endpoints that take credentials or mint tokens (DRF's throttle hook).

A view names its budget with `throttle_scope` (a string, or a mapping of ViewSet action to scope);
`Throttle`, the project's one throttle class (settings.REST_FRAMEWORK), counts the request in every
dimension of that scope that has a rate in `IDENTITY_THROTTLE_RATES` (`"<scope>.<dimension>"`):

- `address`: the client's address, REMOTE_ADDR as identity.client_address left it (rewritten from
  X-Forwarded-For only for the configured trusted proxies, so a client cannot choose it). An
  API-key caller is a backend speaking for many users: its own address is not counted; the
  end user's `ipAddress` it reports in the body (FusionAuth's Login and Reconcile field) is, when
  given, on the scopes whose bodies carry it (`BODY_SCOPES`; no other body is read here, so an
  endpoint that reads its own body, such as the import, is untouched).
- `api_key`: the API key that authenticated the request.
- `account`: the login identifier a password is tried against (`loginId`, or the login form's
  `username`), by its comparison key (identity.login_ids), whichever door it comes through; this
  is on top of the per-account lockout, which counts only wrong passwords.

Each dimension is a fixed window counted in the cache (identity.counters: one round trip on
Redis): with REDIS_URL every worker of every node shares one budget; without it each process counts
alone (a single process deployment, or development). A cache that cannot answer lets the request
through and logs it: throttling protects the service, it must not take it down. Over the limit the
answer is 429 with `Retry-After` (seconds to the end of the window), in FusionAuth's shape on
FusionAuth paths and RFC 6749's on /oauth2/* (identity.exception_handler).

The OAuth2 per-client budget (`tokenRequestsPerMinute` of each client) is counted by the token
endpoint's service once the client is authenticated (identity.services.oauth_clients).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from identity.counters import window_hit
from identity.login_ids import login_id_key
from identity.shared_cache import BREAKER

logger = logging.getLogger("identity.throttle")

CACHE_PREFIX = "identity:throttle:"
RATE = re.compile(r"(?P<count>\d+)/(?P<unit>s|sec|second|m|min|minute|h|hour|d|day)")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFF = frozenset({"", "off", "none"})
DIMENSIONS = ("address", "api_key", "account")
ACCOUNT_FIELDS = ("loginId", "username")
BODY_SCOPES = frozenset({"login", "reconcile"})
"""Scopes whose request bodies name the login id or the end user's address (read by DRF's parsers)."""
MAX_ACCOUNT_LENGTH = 320
MAX_ADDRESS_LENGTH = 64
"""Longer than any IPv4 or IPv6 text with a short zone; a longer text is parsed, not remembered."""


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def parse_rate(text: Any) -> Rate | None:
    """`"10/min"` → Rate(10, 60); None, "off" or "" → no limit. Anything else is a settings error."""
    if text is None or (isinstance(text, str) and text.strip().lower() in OFF):
        return None
    match = RATE.fullmatch(str(text).strip()) if isinstance(text, str) else None
    if match is None or int(match["count"]) < 1:
        raise ImproperlyConfigured(f"A throttle rate is '<n>/<s|min|hour|day>' or 'off', not {text!r}")
    return Rate(count=int(match["count"]), seconds=UNIT_SECONDS[match["unit"][0]])


_parsed: tuple[object, dict[str, Rate | None]] | None = None


def rates() -> dict[str, Rate | None]:
    """IDENTITY_THROTTLE_RATES parsed, once per value of the setting (a changed setting is a new
    mapping: override_settings, pytest-django's `settings`), not on every request."""
    global _parsed
    configured: Mapping[str, Any] = getattr(settings, "IDENTITY_THROTTLE_RATES", {})
    if _parsed is None or _parsed[0] is not configured:
        _parsed = (configured, {name: parse_rate(value) for name, value in configured.items()})
    return _parsed[1]


def count_hit(*, key: str, rate: Rate, now: float) -> float | None:
    """Count one request under `key` in the current window of `rate`. Returns the seconds until
    the window ends when this request is over the limit, else None."""
    window = int(now // rate.seconds)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    cache_key = f"{CACHE_PREFIX}{digest}:{rate.seconds}:{window}"
    if not BREAKER.available():
        return None  # the cache failed a moment ago (identity.shared_cache): not counted, not waited on
    try:
        count = window_hit(cache_key, timeout=rate.seconds * 2)
    except Exception as exc:
        BREAKER.failed(exc, fallback="throttled requests are let through uncounted")
        return None
    if count <= rate.count:
        return None
    return max(1.0, (window + 1) * rate.seconds - now)


def _address(text: Any) -> str | None:
    text = str(text).strip()
    # Only address-sized texts are remembered: a caller's `ipAddress` may be any string.
    return _normalized_address(text) if len(text) <= MAX_ADDRESS_LENGTH else _parsed_address(text)


def _parsed_address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


_normalized_address = functools.lru_cache(maxsize=4096)(_parsed_address)
"""The address in its canonical form, parsed once per distinct text (the same few addresses send
most requests); None when it is not one."""


def _body(request: Request) -> Mapping[str, Any]:
    data = request.data  # parsed once; the view reads the same object
    return data if isinstance(data, Mapping) else {}


def request_keys(request: Request, scope: str) -> Iterator[tuple[str, str]]:
    """(dimension, key) of each budget a request draws on (its scope's rates decide which count)."""
    api_key = getattr(getattr(request, "auth", None), "api_key", None)
    if api_key is not None:
        yield "api_key", str(api_key.pk)
        reported = _address(_body(request).get("ipAddress") or "") if scope in BODY_SCOPES else None
        if reported is not None:
            yield "address", reported
    else:
        address = _address(request.META.get("REMOTE_ADDR", ""))
        if address is not None:
            yield "address", address


def account_key(request: Request) -> str | None:
    body = _body(request)
    for name in ACCOUNT_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value.strip() and len(value) <= MAX_ACCOUNT_LENGTH:
            return login_id_key(value)
    return None


def view_scope(view: Any) -> str | None:
    scope = getattr(view, "throttle_scope", None)
    if isinstance(scope, Mapping):
        return scope.get(getattr(view, "action", None))
    return scope if isinstance(scope, str) else None


class Throttle(BaseThrottle):
    """Counts the request in each configured dimension of its view's scope (module docstring)."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = view_scope(view)
        if scope is None:
            return True
        configured = rates()
        wanted = {d: configured.get(f"{scope}.{d}") for d in DIMENSIONS}
        if not any(wanted.values()):
            return True
        now = time.time()
        keys = list(request_keys(request, scope))
        if wanted["account"] is not None and scope in BODY_SCOPES:
            account = account_key(request)
            if account is not None:
                keys.append(("account", account))
        waits = [
            count_hit(key=f"{scope}.{dimension}:{key}", rate=rate, now=now)
            for dimension, key in keys
            if (rate := wanted[dimension]) is not None
        ]
        over = [w for w in waits if w is not None]
        if not over:
            return True
        self._wait = max(over)
        logger.info("throttled %s %s (scope %s)", request.method, request.path, scope)
        return False

    def wait(self) -> float | None:
        return self._wait
