"""Which requests may use or receive token cookies: only those another site could not forge."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from identity.cookies import request_not_forgeable


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
