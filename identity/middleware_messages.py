"""Django's MessageMiddleware, with the message storage built only when something uses it.

Django's builds a cookie-and-session storage on every request (a cookie signer included), though
only the admin's pages add or show messages; an API request never does (a few percent of a token
validation; bench/README.md, "What was cut"). Here `request._messages` is a lazy object: the first
add or read builds Django's storage, and a request that did neither has nothing to store, so its
response is left as Django's middleware would leave it (tests/test_middleware_messages.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> Any:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never added nor read: Django's storage would store nothing
        return super().process_response(request, response)
