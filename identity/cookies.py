"""The HttpOnly token cookies the Login, Refresh and Logout APIs set and clear, and the one rule
for using them: a token cookie authorises a state change (`token_cookie`), and token cookies are
set, only in answer to a request another site could not have forged (`request_not_forgeable`)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from functools import lru_cache
from http.cookies import Morsel
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.http import http_date
from rest_framework.request import Request

from identity.exceptions import NotAuthenticated

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
# The refresh token is only ever needed by the APIs under /api/ (refresh, issue, logout), so the
# browser does not send it to anything else on the host.
REFRESH_COOKIE_PATH = "/api/"


@lru_cache(maxsize=8)
def _http_date(epoch_second: int) -> str:
    return http_date(epoch_second)


def set_token_cookies(
    response: HttpResponseBase,
    *,
    access_token: str | None,
    refresh_token: str | None,
    refresh_expires_at: datetime | None,
) -> None:
    secure = not settings.DEBUG
    if access_token is not None:
        # A session cookie, as FusionAuth sets it; the token's own exp bounds it anyway.
        _set_token_cookie(response, ACCESS_COOKIE, access_token, secure=secure, path="/")
    if refresh_token is not None and refresh_expires_at is not None:
        max_age = max(0, int((refresh_expires_at - timezone.now()).total_seconds()))
        _set_token_cookie(
            response,
            REFRESH_COOKIE,
            refresh_token,
            secure=secure,
            path=REFRESH_COOKIE_PATH,
            max_age=max_age,
            # What set_cookie would compute from max_age, formatted once per second, not per response.
            expires=_http_date(int(time.time()) + max_age),
        )


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._-]+")
"""A token's characters (base64url and dots): nothing SimpleCookie would quote (it quotes an empty value)."""


class _TokenMorsel(Morsel):
    """A token cookie exactly as `set_cookie(httponly=True, samesite="Lax", ...)` makes it, built
    in one pass: its header line is formatted once, not attribute by attribute through Morsel's
    checks and again on output (15 µs of every login and refresh). tests/test_cookies.py compares
    the two."""

    _line: str

    def OutputString(self, attrs: Any = None) -> str:
        line = getattr(self, "_line", None)  # absent after a pickle round trip
        return line if attrs is None and line is not None else super().OutputString(attrs)


def _set_token_cookie(
    response: HttpResponseBase,
    name: str,
    value: str,
    *,
    secure: bool,
    path: str,
    max_age: int | None = None,
    expires: str = "",
) -> None:
    if not _PLAIN_VALUE.fullmatch(value):  # anything else as Django quotes it
        response.set_cookie(
            name, value, max_age=max_age, expires=expires or None, path=path, secure=secure,
            httponly=True, samesite="Lax",
        )  # fmt: skip
        return
    morsel = _TokenMorsel()
    morsel._key, morsel._value, morsel._coded_value = name, value, value  # type: ignore[attr-defined]
    attributes = {"path": path, "httponly": True, "samesite": "Lax", "secure": secure or ""}
    line = f"{name}={value}"
    if expires:
        attributes["expires"] = expires
        line += f"; expires={expires}"
    line += "; HttpOnly"
    if max_age is not None:
        attributes["max-age"] = max_age
        line += f"; Max-Age={max_age}"
    line += f"; Path={path}; SameSite=Lax"
    if secure:
        line += "; Secure"
    dict.update(morsel, attributes)  # Morsel.update would check each name again
    morsel._line = line
    dict.__setitem__(response.cookies, name, morsel)


def clear_token_cookies(response: HttpResponseBase) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", samesite="Lax")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Lax")


def request_not_forgeable(request: Request | HttpRequest) -> bool:
    """Whether a browser could only have sent this request from our own origin (or a trusted one):
    a JSON body (cross-origin, that needs a CORS preflight we never grant), an `Origin` that is ours
    or in CSRF_TRUSTED_ORIGINS, or, without Origin, `Sec-Fetch-Site: same-origin` (set by the browser,
    not by the page). A form post, a link or an <img> from another site is none of these."""
    if request.content_type == "application/json":
        return True
    origin = request.headers.get("Origin")
    if origin is not None:
        own = f"{request.scheme}://{request.get_host()}"
        return origin == own or origin in settings.CSRF_TRUSTED_ORIGINS
    return request.headers.get("Sec-Fetch-Site") == "same-origin"


def token_cookie(request: Request | HttpRequest, name: str) -> str | None:
    """The value of a token cookie that is to authorise a state change (refresh, issue, logout,
    revoke). Browsers attach cookies to cross-site requests too, so a cookie alone proves nothing:
    when the request could have been forged by another site, using the cookie is refused (401)
    rather than silently ignored. Requests without the cookie (the SDK, servers) are unaffected."""
    value = request.COOKIES.get(name)
    if not value:
        return None
    if not request_not_forgeable(request):
        raise NotAuthenticated()
    return value
