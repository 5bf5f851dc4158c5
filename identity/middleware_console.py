"""Django's session and authentication middleware, and the message middleware, for the console only.

The admin console (mounted at CONSOLE_PATH) is the one part of the service that signs people in
with a session, shows messages and reads `request.user` from a session cookie. Every other path is
an API answered with keys and tokens (DRF's authenticators set the request's user themselves), so
there these middlewares only cost time: -4.2 % instructions of a token validation, -2.8 % of a
refresh (bench/README.md, "Stop 23"). Off the console a request has no `request.session`, and
`request.user` is whatever the view's authentication says. The classes stay subclasses of
Django's, so the admin's and the deployment checks see them where they expect them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest

from identity.middleware_messages import LazyMessageMiddleware

CONSOLE_PATH = "admin/"
"""Where config/urls.py mounts the admin console."""

_PREFIX = "/" + CONSOLE_PATH


class _ConsoleOnly:
    get_response: Any

    def __call__(self, request: HttpRequest) -> Any:
        if request.path_info.startswith(_PREFIX):
            return super().__call__(request)  # type: ignore[misc]
        return self.get_response(request)


class ConsoleSessionMiddleware(_ConsoleOnly, SessionMiddleware):
    """SessionMiddleware on the console's paths."""


class ConsoleAuthenticationMiddleware(_ConsoleOnly, AuthenticationMiddleware):
    """AuthenticationMiddleware on the console's paths."""


class ConsoleMessageMiddleware(_ConsoleOnly, LazyMessageMiddleware):
    """The (lazy) MessageMiddleware on the console's paths."""
