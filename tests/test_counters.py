"""identity/counters.py: a fixed-window counter is one command on Redis (a pipeline where the server
refuses scripts), reads back through Django's cache API, keeps the expiry of its first hit; the
memory cache counts the same."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCacheClient

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


def _commands(monkeypatch) -> tuple[list[Any], list[Any]]:
    """What window_hit sends: single commands (by name) and pipelines (their command stacks)."""
    direct: list[Any] = []
    pipelined: list[Any] = []
    execute_command = redis.Redis.execute_command

    def one(self: Any, *args: Any, **kwargs: Any) -> Any:
        direct.append(args[0])
        return execute_command(self, *args, **kwargs)

    execute = redis.client.Pipeline.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        pipelined.append([command[0][0] for command in self.command_stack])
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", one)
    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    return direct, pipelined


def _ttl(key: str) -> int:
    return redis.Redis.from_url(REDIS).ttl(caches[DEFAULT_CACHE_ALIAS].make_and_validate_key(key))


def test_redis_counts_with_one_command_and_keeps_the_first_expiry(settings, monkeypatch) -> None:
    _use_redis(settings)
    window_hit("counter:c", timeout=100)  # may load the script into the server first
    direct, pipelined = _commands(monkeypatch)
    assert window_hit("counter:c", timeout=5) == 2
    assert direct == ["EVALSHA"] and pipelined == []
    monkeypatch.undo()
    assert 90 < _ttl("counter:c") <= 100  # the second hit did not shorten it
    assert cache.get("counter:c") == 2


def test_the_redis_client_is_built_once_per_backend(settings, monkeypatch) -> None:
    """Django's Redis backend builds a new client on every call; a counter keeps its own."""
    _use_redis(settings)
    built: list[bool] = []
    get_client = RedisCacheClient.get_client

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("write", False))
        return get_client(self, *args, **kwargs)

    monkeypatch.setattr(RedisCacheClient, "get_client", counted)
    assert [window_hit("counter:g", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert built == [True]


@pytest.fixture
def no_scripting(settings) -> Iterator[str]:
    """A Redis user the server refuses scripts to (an ACL without @scripting), as the cache's user."""
    admin = redis.Redis.from_url(REDIS)
    user = f"identity-counters-{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
    admin.acl_setuser(user, enabled=True, nopass=True, keys=["*"], commands=["+@all", "-@scripting"])
    _use_redis(settings)
    settings.CACHES["default"]["LOCATION"] = REDIS.replace("redis://", f"redis://{user}:any@")
    yield user
    admin.acl_deluser(user)


def test_a_server_that_refuses_scripts_counts_in_a_pipeline(no_scripting, monkeypatch, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="identity.counters"):
        assert window_hit("counter:h", timeout=100) == 1
    assert "refused the counter's script" in caplog.text
    direct, pipelined = _commands(monkeypatch)
    assert [window_hit("counter:h", timeout=5) for _ in range(2)] == [2, 3]
    assert direct == [] and pipelined == [["SET", "INCRBY"], ["SET", "INCRBY"]]  # no script tried again
    monkeypatch.undo()
    assert 90 < _ttl("counter:h") <= 100


def test_a_counter_holding_no_number_raises_and_keeps_the_script(settings, monkeypatch) -> None:
    _use_redis(settings)
    redis.Redis.from_url(REDIS).set(caches[DEFAULT_CACHE_ALIAS].make_and_validate_key("counter:i"), "x")
    with pytest.raises(redis.ResponseError):
        window_hit("counter:i", timeout=60)
    cache.delete("counter:i")
    direct, pipelined = _commands(monkeypatch)
    assert window_hit("counter:i", timeout=60) == 1
    assert direct == ["EVALSHA"] and pipelined == []


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
