"""Fixed-window request counters in Django's cache, shared by the request throttles
(identity.throttles) and the OAuth2 per-client budget (identity.services.oauth_clients).

`window_hit` adds one to a counter that starts at 0 and expires `timeout` seconds after it was
created, and returns the new count. Django's cache API needs `add` then `incr` for that, and its
Redis backend's `incr` asks `EXISTS` first: three round trips per counter, twice per token grant.
On Redis the same two writes (`SET key 0 EX timeout NX`, `INCR key`) run as one Lua script: one
command, one round trip, atomic (so the counter cannot expire between them and live on without
an expiry), with the key Django's cache would use (prefix and version), so `cache.get` reads the
same value. Where the server refuses scripts (an ACL without `@scripting`, EVAL renamed), they go
in one MULTI/EXEC pipeline instead: the same round trip, four commands. Django's Redis backend
builds a new `redis.Redis` client for every call (about 50 µs of CPU: it copies the response
callbacks); the client a counter uses is built once per backend instance.

Other backends (the per-process memory cache) `incr` first, and only a counter that does not exist
yet takes an `add`: one call per hit, not two, once the window's counter exists. The cache's
errors propagate: each caller decides what an unreachable cache means.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger("identity.counters")

_SET_AND_INCR = "redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX') return redis.call('INCR', KEYS[1])"


@dataclass
class _RedisCounter:
    """One backend's client, and its registered script until the server refuses scripts."""

    client: Any  # redis.Redis
    script: Any  # redis.commands.core.Script, or None once refused


_redis_counters: weakref.WeakKeyDictionary[RedisCache, _RedisCounter] = weakref.WeakKeyDictionary()
"""Per backend instance (Django's `caches` hands each thread its own), gone with it."""


def window_hit(key: str, *, timeout: int) -> int:
    """One more hit on the counter `key` (created at 0, living `timeout` seconds): its new value."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # once, not through the `cache` proxy on every call
    if isinstance(backend, RedisCache):
        return _redis_hit(backend, backend.make_and_validate_key(key), timeout)
    try:
        return int(backend.incr(key))
    except ValueError:  # no counter yet (a new window), or it expired or was evicted
        pass
    if backend.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(backend.incr(key))  # another thread added it in between
    except ValueError:  # and it expired or was evicted again already
        backend.set(key, 1, timeout=timeout)
        return 1


def _redis_hit(backend: RedisCache, full_key: str, timeout: int) -> int:
    from redis.exceptions import ResponseError  # Django's Redis backend imports redis lazily too

    counter = _redis_counters.get(backend)
    if counter is None:
        client = backend._cache.get_client(full_key, write=True)
        counter = _redis_counters[backend] = _RedisCounter(client, client.register_script(_SET_AND_INCR))
    if counter.script is not None:
        try:
            return int(counter.script(keys=[full_key], args=[timeout]))
        except ResponseError as refusal:
            value = _pipelined(counter.client, full_key, timeout)  # a data error raises here again
            counter.script = None
            logger.warning("Redis refused the counter's script (%s); counting with MULTI/EXEC", refusal)
            return value
    return _pipelined(counter.client, full_key, timeout)


def _pipelined(client: Any, full_key: str, timeout: int) -> int:
    pipeline = client.pipeline(transaction=True)
    pipeline.set(full_key, 0, ex=timeout, nx=True)
    pipeline.incr(full_key)
    return int(pipeline.execute()[1])
