"""Fixed-window request counters in Django's cache, shared by the request throttles
(identity.throttles) and the OAuth2 per-client budget (identity.services.oauth_clients).

`window_hit` adds one to a counter that starts at 0 and expires `timeout` seconds after it was
created, and returns the new count. Django's cache API needs `add` then `incr` for that, and its
Redis backend's `incr` asks `EXISTS` first: three round trips per counter, twice per token grant.
On Redis the same two writes (`SET key 0 EX timeout NX`, `INCR key`) go in one pipelined round
trip, with the key Django's cache would use (prefix and version), so `cache.get` reads the same
value. Other backends (the per-process memory cache) `incr` first, and only a counter that does not
exist yet takes an `add`: one call per hit, not two, once the window's counter exists. The cache's
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
