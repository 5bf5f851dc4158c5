"""identity/counters.py: a fixed-window counter is one pipelined round trip on Redis, reads back
through Django's cache API, keeps the expiry of its first hit; the memory cache counts the same."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches

from identity.counters import window_hit
from tests.redis_db import redis_url

REDIS = redis_url(6)


def _use_redis(settings) -> None:
    redis.Redis.from_url(REDIS).flushdb()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS,
            "KEY_PREFIX": "identity",
        }
    }


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings) -> str:
    if request.param == "redis":
        _use_redis(settings)
    cache.clear()
    yield request.param
    cache.clear()


def test_counts_from_one_and_reads_back_through_the_cache(backend) -> None:
    assert [window_hit("counter:a", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert window_hit("counter:b", timeout=60) == 1
    assert cache.get("counter:a") == 3 and cache.get("counter:b") == 1


def test_redis_counts_in_one_round_trip_and_keeps_the_first_expiry(settings, monkeypatch) -> None:
    _use_redis(settings)
    direct: list[Any] = []
    pipelined: list[Any] = []
    monkeypatch.setattr(redis.Redis, "execute_command", lambda self, *args, **kw: direct.append(args))
    execute = redis.client.Pipeline.execute

    def counted(self, *args: Any, **kwargs: Any) -> Any:
        pipelined.append(self.command_stack[:])
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    window_hit("counter:c", timeout=100)
    window_hit("counter:c", timeout=5)
    assert direct == [] and len(pipelined) == 2
    monkeypatch.undo()
    backend_cache = caches[DEFAULT_CACHE_ALIAS]
    key = backend_cache.make_and_validate_key("counter:c")
    ttl = redis.Redis.from_url(REDIS).ttl(key)
    assert 90 < ttl <= 100  # the second hit did not shorten it
    assert cache.get("counter:c") == 2


def test_an_evicted_counter_starts_again(backend) -> None:
    window_hit("counter:d", timeout=60)
    cache.delete("counter:d")
    assert window_hit("counter:d", timeout=60) == 1


def test_an_existing_counter_costs_one_cache_call(settings, monkeypatch) -> None:
    """On the memory cache the window's first hit adds the counter and every later one only
    increments it."""
    cache.clear()
    backend_cache = caches[DEFAULT_CACHE_ALIAS]
    calls: list[str] = []
    for name in ("add", "incr", "set"):
        original = getattr(backend_cache, name)
        monkeypatch.setattr(
            backend_cache, name, lambda *a, _n=name, _o=original, **k: (calls.append(_n), _o(*a, **k))[1]
        )
    assert [window_hit("counter:e", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert calls == ["incr", "add", "incr", "incr"]


def test_a_counter_added_by_another_thread_in_between_is_incremented(monkeypatch) -> None:
    cache.clear()
    backend_cache = caches[DEFAULT_CACHE_ALIAS]
    original_add = backend_cache.add

    def add_lost_to_another_thread(key, value, timeout=None, version=None):
        original_add(key, value, timeout=timeout)  # the other thread's first hit
        return False

    monkeypatch.setattr(backend_cache, "add", add_lost_to_another_thread)
    assert window_hit("counter:f", timeout=60) == 2
    assert cache.get("counter:f") == 2
