"""Fixtures shared by the live-server tests."""

from __future__ import annotations

import pytest

from tests.redis_db import redis_url

# Flushed by the fixture; the live-server tests run one after another, so they can share it.
REVOCATION_REDIS_URL = redis_url(4)


@pytest.fixture(params=["database-version", "redis-version"])
def node_env(request, settings):  # type: ignore[no-untyped-def]
    """The servers' environment for a test whose own process revokes (or otherwise changes
    coherent state) directly: without Redis, or with Redis shared by the servers and this process,
    so its change bumps the same version the workers read."""
    if request.param == "database-version":
        return {}
    redis = pytest.importorskip("redis")
    redis.Redis.from_url(REVOCATION_REDIS_URL).flushdb()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REVOCATION_REDIS_URL,
            "KEY_PREFIX": "identity",
        }
    }
    settings.IDENTITY_COHERENCE_CACHE = True
    return {"REDIS_URL": REVOCATION_REDIS_URL}
