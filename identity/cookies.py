"""The HttpOnly token cookies the Login, Refresh and Logout APIs set and clear, and the one rule
for using them: a token cookie authorises a state change (`token_cookie`), and token cookies are
set, only in answer to a request another site could not have forged (`request_not_forgeable`)."""

from __future__ import annotations

import time
from datetime import datetime
from functools import lru_cache

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
        response.set_cookie(
            ACCESS_COOKIE, access_token, httponly=True, secure=secure, samesite="Lax", path="/"
        )
    if refresh_token is not None and refresh_expires_at is not None:
        max_age = max(0, int((refresh_expires_at - timezone.now()).total_seconds()))
        response.set_cookie(
            REFRESH_COOKIE,
            refresh_token,
            max_age=max_age,
            # What set_cookie would compute from max_age, formatted once per second, not per response.
            expires=_http_date(int(time.time()) + max_age),
            httponly=True,
            secure=secure,
            samesite="Lax",
            path=REFRESH_COOKIE_PATH,
        )


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
