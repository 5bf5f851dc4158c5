"""identity.shared_cache: a failing or hung Redis costs a request at most its short timeout once,
then nothing for a few seconds; what it holds falls back to the database or goes uncounted."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from identity import key_store
from identity.key_store import channel_bump, channel_version
from identity.shared_cache import BREAKER, OPEN_SECONDS
from identity.throttles import Rate, count_hit
from tests.redis_db import redis_url, use_redis

pytestmark = pytest.mark.django_db


def test_one_failure_pauses_the_cache_and_warns_once(caplog) -> None:
    assert BREAKER.available()
    with caplog.at_level(logging.WARNING, logger="identity.shared_cache"):
        BREAKER.failed(TimeoutError("Timeout reading from socket"), fallback="read the database")
        BREAKER.failed(TimeoutError("again"), fallback="read the database")
    assert not BREAKER.available()
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        f"shared cache failed (TimeoutError: Timeout reading from socket); read the database; "
        f"not tried again for {OPEN_SECONDS:.0f} s"
    ]  # the reason named, once per opening
    BREAKER.reset()
    assert BREAKER.available()


def test_a_throttle_does_not_touch_a_cache_that_just_failed(monkeypatch) -> None:
    calls: list[str] = []

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("call")
        raise ConnectionError("cache down")

    monkeypatch.setattr("identity.throttles.window_hit", broken)
    assert count_hit(key="k", rate=Rate(1, 60), now=0.0) is None
    assert [count_hit(key="k", rate=Rate(1, 60), now=0.0) for _ in range(50)] == [None] * 50
    assert calls == ["call"]  # one try, then the pause


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        server.close()


def test_a_hung_redis_costs_one_short_timeout_then_nothing(settings, hung_redis) -> None:
    from config.settings import REDIS_TIMEOUT_SECONDS

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": hung_redis,
            "OPTIONS": {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    }
    settings.IDENTITY_COHERENCE_CACHE = True
    started = time.monotonic()
    first = channel_version("keys")
    waited = time.monotonic() - started
    assert first < 0  # the database row's version
    assert waited < 4 * REDIS_TIMEOUT_SECONDS + 0.5, waited
    started = time.monotonic()
    assert [channel_version("keys") for _ in range(20)] == [first] * 20
    assert count_hit(key="k", rate=Rate(1, 60), now=0.0) is None
    assert time.monotonic() - started < 0.5  # the pause: no further waits


def test_a_bump_the_cache_missed_is_made_when_it_answers_again(
    settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """A revocation committed while Redis stalled moved only the database row; readers that read
    the counter before and after the outage would see it unchanged and keep stale state for minutes.
    The writing process makes the bump on its next use of the cache."""
    use_redis(settings, redis_url(5))
    before = channel_version("keys")
    bump = key_store._cache_bump

    def stalled(name: str) -> None:
        raise TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(key_store, "_cache_bump", stalled)
    with django_capture_on_commit_callbacks(execute=True):
        channel_bump("keys")
    assert key_store._pending == {"keys"} and not BREAKER.available()
    assert int(cache.get(key_store.CACHE_KEY_PREFIX + "keys")) == before  # the counter did not move
    monkeypatch.setattr(key_store, "_cache_bump", bump)  # Redis answers again
    BREAKER.reset()  # as OPEN_SECONDS later
    assert channel_version("keys") == before + 1
    assert key_store._pending == set()
