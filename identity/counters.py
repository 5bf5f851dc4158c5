"""Fixed-window request counters in Django's cache, shared by the request throttles
(identity.throttles) and the OAuth2 per-client budget (identity.services.oauth_clients).

`window_hit` adds one to a counter that starts at 0 and expires `timeout` seconds after it was
created, and returns the new count. Django's cache API needs `add` then `incr` for that, and its
Redis backend's `incr` asks `EXISTS` first: three round trips per counter, twice per token grant.
On Redis the same two writes (`SET key 0 EX timeout NX`, `INCR key`) go in one pipelined round
trip, with the key Django's cache would use (prefix and version), so `cache.get` reads the same
value. Other backends (the per-process memory cache) take the `add` + `incr` path. The cache's
errors propagate: each caller decides what an unreachable cache means.
"""

from __future__ import annotations

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache


def window_hit(key: str, *, timeout: int) -> int:
    """One more hit on the counter `key` (created at 0, living `timeout` seconds): its new value."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # once, not through the `cache` proxy on every call
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        pipeline = backend._cache.get_client(full_key, write=True).pipeline(transaction=True)
        pipeline.set(full_key, 0, ex=timeout, nx=True)
        pipeline.incr(full_key)
        return int(pipeline.execute()[1])
    backend.add(key, 0, timeout=timeout)
    try:
        return int(backend.incr(key))
    except ValueError:  # expired or evicted between add and incr
        backend.set(key, 1, timeout=timeout)
        return 1
