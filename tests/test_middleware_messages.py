"""identity.middleware_messages: the storage is built only when a request uses messages, and a
message added on one response is shown on the next, as with Django's MessageMiddleware."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from identity import middleware_messages
from identity.middleware_messages import LazyMessageMiddleware


def serve(
    middleware_class: type[MessageMiddleware],
    view: Callable[[HttpRequest], HttpResponse],
    cookies: dict[str, str],
) -> HttpResponse:
    request = RequestFactory().get("/admin/")
    request.COOKIES.update(cookies)
    chain = SessionMiddleware(middleware_class(view))
    response = chain(request)
    assert isinstance(response, HttpResponse)
    return response


def add(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Saved.")
    return HttpResponse("added")


def show(request: HttpRequest) -> HttpResponse:
    return HttpResponse("|".join(str(m) for m in messages.get_messages(request)))


def untouched(request: HttpRequest) -> HttpResponse:
    return HttpResponse("api")


@pytest.mark.parametrize(
    "middleware_class", [MessageMiddleware, LazyMessageMiddleware], ids=["django", "lazy"]
)
def test_a_message_reaches_the_next_response(middleware_class: type[MessageMiddleware]) -> None:
    first = serve(middleware_class, add, {})
    cookies = {name: morsel.value for name, morsel in first.cookies.items()}
    assert "messages" in cookies
    assert serve(middleware_class, show, cookies).content == b"Saved."


def test_a_request_that_uses_no_messages_builds_no_storage_and_sets_no_cookie() -> None:
    with mock.patch.object(
        middleware_messages, "default_storage", wraps=middleware_messages.default_storage
    ) as built:
        response = serve(LazyMessageMiddleware, untouched, {})
        assert built.call_count == 0
        serve(LazyMessageMiddleware, add, {})
        assert built.call_count == 1
    assert dict(response.cookies) == {}
