"""The HttpOnly token cookies the Login, Refresh and Logout APIs set and clear."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework.response import Response

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
# The refresh token is only ever needed by the APIs under /api/ (refresh, issue, logout), so the
# browser does not send it to anything else on the host.
REFRESH_COOKIE_PATH = "/api/"


def set_token_cookies(
    response: Response,
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
            httponly=True,
            secure=secure,
            samesite="Lax",
            path=REFRESH_COOKIE_PATH,
        )


def clear_token_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", samesite="Lax")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Lax")
