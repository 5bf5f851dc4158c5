"""identity.http_cache writes exactly what Django's never_cache writes."""

from __future__ import annotations

import time

import pytest
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers as django_add_never_cache_headers

from identity.http_cache import add_never_cache_headers, never_cache

NOW = 1_767_225_600.25


@pytest.mark.parametrize(
    "existing",
    [
        {},
        {"Cache-Control": "max-age=60, public"},
        {"Cache-Control": "no-transform"},
        {"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"Cache-Control": "private", "Expires": "Thu, 01 Jan 1970 00:00:00 GMT"},
    ],
    ids=["fresh", "public-max-age", "other-directive", "expires-set", "both-set"],
)
def test_same_headers_as_django(monkeypatch: pytest.MonkeyPatch, existing: dict[str, str]) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)
    ours, django = HttpResponse(headers=existing), HttpResponse(headers=existing)
    add_never_cache_headers(ours)
    django_add_never_cache_headers(django)
    assert dict(ours.headers) == dict(django.headers)


def test_the_date_follows_the_clock_second_by_second(monkeypatch: pytest.MonkeyPatch) -> None:
    for now in (NOW, NOW + 0.5, NOW + 1, NOW + 3600.9):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        ours, django = HttpResponse(), HttpResponse()
        add_never_cache_headers(ours)
        django_add_never_cache_headers(django)
        assert ours["Expires"] == django["Expires"]


def test_decorator_adds_the_headers_and_refuses_a_non_request() -> None:
    view = never_cache(lambda request: HttpResponse("ok"))

    class FakeRequest:
        META: dict[str, str] = {}

    response = view(FakeRequest())
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert "Expires" in response
    with pytest.raises(TypeError):
        view(object())
