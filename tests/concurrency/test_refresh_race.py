"""Concurrent use of one one-time refresh token on PostgreSQL (FusionAuth #1840 must not happen).

SQLite serialises writers and would hide the race, so these tests need PostgreSQL; `.ci/run`
runs the suite there."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from identity.models import RefreshToken
from identity.services.refresh_tokens import (
    RefreshTokenUnusable,
    refresh_grant,
    refresh_token_create,
)
from identity.services.tenants import tenant_update

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="races need PostgreSQL; SQLite serialises"),
]

THREADS = 20


def _race(value: str) -> list[str]:
    """Use `value` from THREADS threads released at the same instant; each result is the new value
    or 'refused'."""
    barrier = threading.Barrier(THREADS)

    def attempt() -> str:
        try:
            barrier.wait(timeout=10)
            return refresh_grant(value=value).refresh_token_value
        except RefreshTokenUnusable:
            return "refused"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(lambda _: attempt(), range(THREADS)))


@pytest.mark.parametrize("reuse_revokes", [False, True])
def test_twenty_concurrent_refreshes_give_exactly_one_success(world, reuse_revokes):
    tenant_update(
        tenant=world.tenant,
        refresh_token_usage_policy="OneTimeUse",
        revoke_on_one_time_token_reuse=reuse_revokes,
    )
    world.application.refresh_from_db()
    issued = refresh_token_create(user=world.user, application=world.application)

    results = _race(issued.value)

    winners = [r for r in results if r != "refused"]
    assert len(winners) == 1, results
    token = RefreshToken.objects.get(pk=issued.token.pk)
    assert token.generation == 1  # rotated exactly once
    if reuse_revokes:
        # The 19 losers presented a rotated value: reuse, so the family is revoked.
        assert token.revoke_reason == "reuse_detected"
        with pytest.raises(RefreshTokenUnusable):
            refresh_grant(value=winners[0])
    else:
        assert refresh_grant(value=winners[0]).refresh_token.pk == issued.token.pk


def test_concurrent_refreshes_inside_the_grace_period_all_get_the_current_value(world):
    tenant_update(
        tenant=world.tenant, refresh_token_usage_policy="OneTimeUse", refresh_token_grace_period_seconds=30
    )
    world.application.refresh_from_db()
    issued = refresh_token_create(user=world.user, application=world.application)

    results = _race(issued.value)

    assert "refused" not in results
    assert len(set(results)) == 1  # one rotation; everyone else got the same current value
    assert RefreshToken.objects.get(pk=issued.token.pk).generation == 1
