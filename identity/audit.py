"""Who is acting: one `Actor` per request or command, in a context variable, so the services can
write the audit trail without every signature carrying it.

- REST API and admin: `AuditContextMiddleware` (one line in settings.MIDDLEWARE) puts a resolver in
  the context for the length of the request. It is asked only when an entry is written, so the hot
  paths pay nothing: by then DRF's authentication has put the request's `Caller` on its `auth`
  (an API key, or a user's access token), and the console's session user is on `request.user`.
- Management commands: `identity.management.base.IdentityCommand` runs `perform` inside
  `acting_as(command_actor(name))`, the operating-system user running `manage.py <name>`.
- Anything else (a shell, a worker): the `system` actor.

The client address is REMOTE_ADDR, the code base's one rule: the deployment's proxy middleware
rewrites it from X-Forwarded-For only for configured trusted proxies, so a client cannot choose it.
"""

from __future__ import annotations

import functools
import getpass
import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from identity.models import ActorKind


@dataclass(frozen=True)
class Actor:
    kind: str
    id: str = ""
    label: str = ""
    ip: str | None = None


SYSTEM = Actor(kind=ActorKind.SYSTEM, label="system")

_resolver: ContextVar[Callable[[], Actor] | None] = ContextVar("identity_audit_actor", default=None)


def current_actor() -> Actor:
    """The actor of the current request or command; `SYSTEM` outside of both."""
    resolve = _resolver.get()
    return SYSTEM if resolve is None else resolve()


class acting_as:  # a context manager named as the function it replaced
    """Attribute every entry written inside the block to `actor` (or to what the callable says).
    A class rather than a generator context manager: the audit middleware enters one on every
    request, and a generator's setup was a measurable part of a token validation (issue 16)."""

    __slots__ = ("_resolve", "_token")

    def __init__(self, actor: Actor | Callable[[], Actor]) -> None:
        self._resolve: Callable[[], Actor] = actor if callable(actor) else (lambda: actor)

    def __enter__(self) -> None:
        self._token = _resolver.set(self._resolve)

    def __exit__(self, *exc_info: object) -> None:
        _resolver.reset(self._token)


def command_actor(name: str) -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return Actor(kind=ActorKind.COMMAND, id=user[:64], label=f"manage.py {name}"[:255])


def _address(request: HttpRequest) -> str | None:
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def request_actor(request: HttpRequest) -> Actor:
    """The actor of a request, from what authentication established (never from request input)."""
    ip = _address(request)
    caller: Any = getattr(request, "auth", None)
    api_key = getattr(caller, "api_key", None)
    if api_key is not None:
        return Actor(kind=ActorKind.API_KEY, id=str(api_key.pk), label=api_key.name or "", ip=ip)
    principal = getattr(caller, "principal", None)
    if principal is not None:
        return Actor(kind=ActorKind.USER, id=str(principal.claims.get("sub", ""))[:64], ip=ip)
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False):
        return Actor(kind=ActorKind.CONSOLE, id=str(user.pk), label=str(user.get_username())[:255], ip=ip)
    return Actor(kind=ActorKind.ANONYMOUS, ip=ip)


class AuditContextMiddleware:
    """Sets the request's actor resolver for the length of the request (and always resets it, so a
    worker thread never carries one request's actor into the next)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(functools.partial(request_actor, request)):
            return self.get_response(request)
