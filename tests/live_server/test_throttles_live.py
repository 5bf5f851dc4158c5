"""Throttles against gunicorn with two workers sharing one budget through Redis (issue 15): the
account budget of /api/login is spent once, whichever worker answers, and a throttled answer is a
429 with Retry-After that changes nothing."""

from __future__ import annotations

import pytest

from tests.api.helpers import db_state
from tests.conftest import World
from tests.live import world_login

REDIS_DB = "redis://127.0.0.1:6379/5"
BUDGET = 4


@pytest.fixture
def redis_env() -> dict[str, str]:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_DB).flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return {"REDIS_URL": REDIS_DB, "IDENTITY_THROTTLE_RATES": f"login.account={BUDGET}/hour"}


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_account_budget(gunicorn, world: World, redis_env) -> None:
    server = gunicorn(workers=2, env=redis_env)
    answers = [world_login(server, world) for _ in range(3 * BUDGET)]  # a fresh connection each
    statuses = [a.status for a in answers]
    assert statuses[:BUDGET] == [200] * BUDGET, (statuses, server.log_tail())
    assert statuses[BUDGET:] == [429] * (2 * BUDGET), statuses
    throttled = answers[-1]
    assert 1 <= int(throttled.headers["Retry-After"]) <= 3600
    assert throttled.json()["generalErrors"][0]["code"] == "[TooManyRequests]"
    before = db_state()
    assert world_login(server, world, password="a wrong one 1234").status == 429
    assert db_state() == before  # the refused attempt was not even counted as a failure
