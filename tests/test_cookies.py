"""Which requests may use or receive token cookies: only those another site could not forge."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone
from django.utils.http import http_date

from identity.cookies import request_not_forgeable, set_token_cookies


@pytest.mark.parametrize(
    ("headers", "content_type", "expected"),
    [
        ({}, "application/json", True),
        ({"HTTP_ORIGIN": "http://testserver"}, "application/x-www-form-urlencoded", True),
        ({"HTTP_ORIGIN": "https://trusted.example"}, "application/x-www-form-urlencoded", True),
        ({"HTTP_SEC_FETCH_SITE": "same-origin"}, "", True),
        ({}, "application/x-www-form-urlencoded", False),
        ({}, "text/plain", False),
        ({"HTTP_ORIGIN": "https://evil.example"}, "application/x-www-form-urlencoded", False),
        ({"HTTP_ORIGIN": "null"}, "", False),
        ({"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "same-origin"}, "", False),
        ({"HTTP_SEC_FETCH_SITE": "same-site"}, "", False),
        ({"HTTP_SEC_FETCH_SITE": "cross-site"}, "", False),
    ],
)
def test_request_not_forgeable(settings, headers, content_type, expected):
    settings.CSRF_TRUSTED_ORIGINS = ["https://trusted.example"]
    request = RequestFactory().post("/api/logout", data="{}", content_type=content_type, **headers)
    assert request_not_forgeable(request) is expected


@pytest.fixture
def frozen(monkeypatch):
    """time.time and timezone.now stopped at one instant (not on a second boundary): (seconds, now)."""
    clock = 1_790_000_000.75
    now = datetime.fromtimestamp(clock, tz=UTC)
    monkeypatch.setattr(time, "time", lambda: clock)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return clock, now


@pytest.mark.parametrize("seconds", [0, 1, 3600, 30 * 86400], ids=["now", "one-second", "hour", "month"])
def test_refresh_cookie_is_what_set_cookie_gives_for_its_max_age(frozen, seconds):
    """The refresh cookie's `expires` is formatted once per second (cookies._http_date), and is the
    same text Django's set_cookie derives from max_age."""
    clock, now = frozen
    ours = HttpResponse()
    set_token_cookies(
        ours, access_token="a", refresh_token="r", refresh_expires_at=now + timedelta(seconds=seconds)
    )
    djangos = HttpResponse()
    djangos.set_cookie("refresh_token", "r", max_age=seconds, httponly=True, samesite="Lax", path="/api/")
    assert ours.cookies["refresh_token"]["max-age"] == seconds
    assert ours.cookies["refresh_token"]["expires"] == djangos.cookies["refresh_token"]["expires"]
    assert djangos.cookies["refresh_token"]["expires"] == http_date(clock + seconds)


def _headers(response: HttpResponse) -> list[str]:
    return [morsel.output(header="") for morsel in response.cookies.values()]


@pytest.mark.parametrize("secure", [True, False], ids=["secure", "debug"])
@pytest.mark.parametrize(
    "value",
    ["eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_", "R" + "a" * 70, "", "a b", 'q"uote', "semi;colon", "é"],
    ids=["jwt", "refresh-value", "empty", "space", "quote", "semicolon", "non-ascii"],
)
@pytest.mark.parametrize("seconds", [0, 3600], ids=["expired", "hour"])
def test_token_cookies_are_what_set_cookie_makes(settings, frozen, secure, value, seconds):
    """The one-pass cookies (cookies._TokenMorsel) against Django's set_cookie with the same
    arguments: the same Set-Cookie lines, the same attributes when read back, and values that need
    quoting go through set_cookie itself."""
    settings.DEBUG = not secure
    _, now = frozen
    ours = HttpResponse()
    set_token_cookies(
        ours, access_token=value, refresh_token=value, refresh_expires_at=now + timedelta(seconds=seconds)
    )
    djangos = HttpResponse()
    djangos.set_cookie("access_token", value, httponly=True, secure=secure, samesite="Lax", path="/")
    djangos.set_cookie(
        "refresh_token", value, max_age=seconds, httponly=True, secure=secure, samesite="Lax", path="/api/"
    )
    assert _headers(ours) == _headers(djangos)
    for name in ("access_token", "refresh_token"):
        assert ours.cookies[name].value == djangos.cookies[name].value
        assert dict(ours.cookies[name]) == dict(djangos.cookies[name])
    copied = pickle.loads(pickle.dumps(ours.cookies))  # noqa: S301 (our own bytes; as a cached response)
    assert [m.output(header="") for m in copied.values()] == _headers(djangos)
