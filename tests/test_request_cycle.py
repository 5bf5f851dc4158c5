"""identity/request_cycle.py: Django's reset_queries and close_caches receivers are connected only
where they can do something, and the premise (our caches have nothing to close) holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import request_finished, request_started
from django.db import connection, reset_queries
from django.dispatch import Signal
from django.test import Client

from identity.request_cycle import request_cycle_trim

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
REDIS = "django.core.cache.backends.redis.RedisCache"
MEMCACHED = "django.core.cache.backends.memcached.PyMemcacheCache"


def _connected(signal: Signal, receiver: object) -> bool:
    was = signal.disconnect(receiver)
    if was:
        signal.connect(receiver)
    return was


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    """Each test leaves the two receivers as the app's start-up left them."""
    before = (_connected(request_started, reset_queries), _connected(request_finished, close_caches))
    yield
    for (signal, receiver), wanted in zip(
        ((request_started, reset_queries), (request_finished, close_caches)), before, strict=True
    ):
        if wanted:
            signal.connect(receiver)
        else:
            signal.disconnect(receiver)


def test_start_up_trimmed_the_suite_s_request_cycle() -> None:
    """The suite runs without DEBUG on the memory cache: IdentityConfig.ready disconnected
    close_caches (nothing connects it again). reset_queries it disconnected too, but any capture of
    queries before this test (assertNumQueries) connects it again when it ends, as Django does."""
    assert settings.DEBUG is False
    assert [cache["BACKEND"] for cache in settings.CACHES.values()] == [LOCMEM]
    assert not _connected(request_finished, close_caches)


@pytest.mark.parametrize(
    ("debug", "backends", "resets", "closes"),
    [
        (False, [LOCMEM], False, False),
        (False, [LOCMEM, REDIS], False, False),
        (True, [REDIS], True, False),
        (False, [REDIS, MEMCACHED], False, True),
        (True, [MEMCACHED], True, True),
    ],
)
def test_each_receiver_is_kept_only_where_it_does_something(debug, backends, resets, closes) -> None:
    request_cycle_trim(debug=not debug, cache_backends=[MEMCACHED] if not closes else [LOCMEM])
    request_cycle_trim(debug=debug, cache_backends=backends)
    assert _connected(request_started, reset_queries) is resets
    assert _connected(request_finished, close_caches) is closes
    request_cycle_trim(debug=debug, cache_backends=backends)  # again: connected once, not twice
    assert len([r for r in request_finished.receivers if r[0][0] == id(close_caches)]) == int(closes)


def test_the_caches_we_configure_have_nothing_to_close() -> None:
    """The premise, checked against the installed Django: if a release gives one of them a close(),
    start-up keeps close_caches connected (and this test says so)."""
    assert LocMemCache.close is BaseCache.close
    assert RedisCache.close is BaseCache.close


def test_the_query_log_stays_empty_without_debug(db) -> None:
    """What reset_queries would have cleared: nothing is written to the log without DEBUG."""
    request_cycle_trim(debug=False, cache_backends=[LOCMEM])
    connection.queries_log.clear()
    assert Client().get("/api/status").status_code == 200
    assert len(connection.queries_log) == 0
