"""`never_cache` for the API views: the headers of Django's decorator, written at once.

Django's `add_never_cache_headers` parses and re-joins Cache-Control on every response (a few
percent of a token validation; bench/README.md, "What was cut"). A response that has neither
header yet gets the same two headers, a constant and the current second's date (formatted once a
second); one that has either goes through Django's own function, so the result is Django's in
every case (tests/test_http_cache.py compares them)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpResponseBase
from django.utils.cache import add_never_cache_headers as django_add_never_cache_headers
from django.utils.http import http_date

NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"
"""What Django's add_never_cache_headers writes on a response without Cache-Control."""


_expires: tuple[int, str] = (0, "")
"""The last second formatted for Expires, and its text (an HTTP date has whole seconds)."""


def add_never_cache_headers(response: HttpResponseBase) -> None:
    global _expires
    headers = response.headers
    if "Cache-Control" in headers or "Expires" in headers:
        django_add_never_cache_headers(response)
        return
    second, text = _expires
    now = int(time.time())
    if now != second:
        text = http_date(now)
        _expires = (now, text)
    headers["Expires"] = text
    headers["Cache-Control"] = NEVER_CACHE


def never_cache(view_func: Callable[..., Any]) -> Callable[..., Any]:
    """Django's `never_cache` for synchronous views (all of ours)."""

    @functools.wraps(view_func)
    def _view_wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not hasattr(request, "META"):
            raise TypeError("never_cache did not receive an HttpRequest: use method_decorator on a class.")
        response = view_func(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return _view_wrapper
