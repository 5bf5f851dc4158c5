"""A revoked token id reaches every gunicorn worker within a second, and survives a restart."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone

from identity.services.jwt import jwt_validate
from identity.services.revocations import token_revoke
from tests.live import LiveServer, world_login


def validate(server: LiveServer, token: str) -> int:
    return server.request("GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {token}"}).status


def loaded_by(server: LiveServer) -> set[str]:
    """The worker processes that have built the revocation set (the key store logs each build)."""
    return set(re.findall(r"revoked-jtis store rebuilt .* in process (\d+)", server.log_tail(400)))


@pytest.mark.django_db(transaction=True)
def test_every_worker_refuses_a_revoked_token_within_a_second(gunicorn, world, node_env):
    server = gunicorn(workers=2, env=node_env)
    answer = world_login(server, world)
    assert answer.status == 200, answer.body
    token = answer.json()["token"]
    deadline = time.monotonic() + 10
    while len(loaded_by(server)) < 2:  # both workers hold the (empty) set before the revocation
        assert validate(server, token) == 200
        assert time.monotonic() < deadline, server.log_tail()
    jti = jwt_validate(token=token, now=timezone.now()).claims["jti"]
    token_revoke(jti=jti, tenant=world.tenant, expires_at=None, kind="access")
    time.sleep(1.05)
    statuses = [validate(server, token) for _ in range(20)]
    assert statuses == [401] * 20, (statuses, server.log_tail())

    restarted = gunicorn(workers=1, env=node_env)
    assert validate(restarted, token) == 401
