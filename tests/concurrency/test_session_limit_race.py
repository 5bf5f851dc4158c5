"""Concurrent logins of one user at the refresh-token limit on PostgreSQL: the limit holds (each
new token is counted by the next, the user's row lock orders them)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.utils import timezone

from identity.models import RefreshToken
from identity.services.login import password_login
from identity.services.refresh_tokens import refresh_token_create
from identity.services.tenants import tenant_update

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="races need PostgreSQL; SQLite serialises"),
]

LIMIT = 3


def _live(world) -> int:
    now = timezone.now()
    return RefreshToken.objects.filter(user=world.user, revoked_at__isnull=True, expires_at__gt=now).count()


def _login(world) -> None:
    password_login(
        tenant=world.tenant, application=world.application, login_id=world.user.email, password=world.password
    )


def _create(world) -> None:  # the issue path: no login UPDATE has locked the user before
    refresh_token_create(user=world.user, application=world.application)


def _mixed(world, index: int) -> None:  # logins and the issue path's creations racing each other
    (_login if index % 2 else _create)(world)


@pytest.mark.parametrize("parallel", [2, 8])
@pytest.mark.parametrize("live", [LIMIT, 1], ids=["at-limit", "crossing"])
@pytest.mark.parametrize("start", [_login, _create, _mixed], ids=["login", "create", "mixed"])
def test_concurrent_sessions_never_exceed_the_limit(world, start, parallel, live):
    """At the limit, and crossing it (1 live, then 8 at once): a login's one-statement record
    (identity.services.login_sql) counts against a snapshot, and must not miss a session another
    transaction committed meanwhile."""
    # Attempts in flight count against the lockout: allow 8 at once.
    tenant_update(tenant=world.tenant, refresh_token_limit_per_user=LIMIT, failed_login_max_attempts=100)
    world.application.refresh_from_db()
    for _ in range(live):
        _create(world)
    assert _live(world) == live
    barrier = threading.Barrier(parallel)

    def attempt(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            if start is _mixed:
                _mixed(world, index)
            else:
                start(world)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(attempt, range(parallel)))

    assert _live(world) == min(LIMIT, live + parallel)
    evicted = RefreshToken.objects.filter(user=world.user, revoke_reason="session_limit").count()
    assert evicted == max(0, live + parallel - LIMIT)  # each session beyond the limit evicted one
