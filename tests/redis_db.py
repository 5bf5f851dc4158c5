"""Redis databases for tests, one set per pytest-xdist worker so parallel workers never flush each
other's data (Redis has 16 numbered databases; `make test` runs two workers)."""

from __future__ import annotations

import os

DATABASES_PER_WORKER = 8


def redis_url(db: int) -> str:
    """`redis://127.0.0.1:6379/<db>` shifted into this worker's range (db 0 to 7 per worker)."""
    assert 0 <= db < DATABASES_PER_WORKER, db
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    number = index * DATABASES_PER_WORKER + db
    assert number < 16, f"worker {worker} has no Redis databases left"
    return f"redis://127.0.0.1:6379/{number}"


def use_redis(settings, url: str) -> None:  # type: ignore[no-untyped-def]
    """Point Django's cache (and the coherence versions) at the Redis database `url`, emptied first;
    the test is skipped when no Redis answers on 127.0.0.1:6379."""
    import pytest

    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    settings.IDENTITY_COHERENCE_CACHE = True
