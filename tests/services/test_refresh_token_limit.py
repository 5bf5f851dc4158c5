"""The per-user limit on live refresh tokens (tenant `refresh_token_limit_per_user`): a new token
evicts the oldest live session and revokes its family, in the transaction that creates it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.exceptions import ValidationFailed
from identity.models import AuditEntry, RefreshToken, Tenant
from identity.services.refresh_tokens import RevokeReason, refresh_token_create, refresh_tokens_revoke
from identity.services.tenants import tenant_create, tenant_update
from tests.api.helpers import db_state
from tests.conftest import World
from tests.factories import ApplicationFactory, RegistrationFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _live(world: World, now: datetime) -> list[RefreshToken]:
    return list(
        RefreshToken.objects.filter(user=world.user, revoked_at__isnull=True, expires_at__gt=now).order_by(
            "created_at"
        )
    )


def _limit(world: World, limit: int) -> None:
    tenant_update(tenant=world.tenant, refresh_token_limit_per_user=limit)


def test_a_tenant_allows_a_hundred_live_tokens_per_user_by_default():
    assert tenant_create(name="Fresh").refresh_token_limit_per_user == 100
    assert Tenant._meta.get_field("refresh_token_limit_per_user").default == 100


def test_at_the_limit_the_oldest_session_is_evicted_with_its_family(world):
    _limit(world, 3)
    other_app = ApplicationFactory(tenant=world.tenant, generate_refresh_tokens=True)
    RegistrationFactory(user=world.user, application=other_app)
    oldest = refresh_token_create(user=world.user, application=world.application, now=_at(0)).token
    # The same login's token for another application (jwt issue) shares the family.
    sibling = refresh_token_create(
        user=world.user, application=other_app, family_id=oldest.family_id, now=_at(1)
    ).token
    kept = refresh_token_create(user=world.user, application=world.application, now=_at(2)).token
    assert len(_live(world, _at(3))) == 3

    new = refresh_token_create(user=world.user, application=world.application, now=_at(3)).token

    assert [t.pk for t in _live(world, _at(3))] == [kept.pk, new.pk]
    for evicted in (oldest, sibling):
        evicted.refresh_from_db()
        assert evicted.revoked_at == _at(3)
        assert evicted.revoke_reason == RevokeReason.SESSION_LIMIT == "session_limit"
    entry = AuditEntry.objects.get(action="refresh_token.revoke_session_limit")
    assert (entry.object_id, entry.count) == (str(world.user.pk), 2)


def test_the_limit_counts_live_tokens_only(world):
    _limit(world, 2)
    expired = refresh_token_create(user=world.user, application=world.application, now=_at(-60 * 24 * 365))
    revoked = refresh_token_create(user=world.user, application=world.application, now=_at(0)).token
    refresh_tokens_revoke(token_ids=[str(revoked.pk)], reason=RevokeReason.LOGOUT, now=_at(0))
    first = refresh_token_create(user=world.user, application=world.application, now=_at(1)).token
    second = refresh_token_create(user=world.user, application=world.application, now=_at(2)).token
    assert [t.pk for t in _live(world, _at(2))] == [first.pk, second.pk]
    assert not AuditEntry.objects.filter(action="refresh_token.revoke_session_limit").exists()
    expired.token.refresh_from_db()
    assert expired.token.revoke_reason == ""  # left to the purge, not "evicted"


def test_a_limit_of_one_keeps_only_the_newest_session(world):
    _limit(world, 1)
    tokens = [
        refresh_token_create(user=world.user, application=world.application, now=_at(i)).token
        for i in range(4)
    ]
    assert [t.pk for t in _live(world, _at(4))] == [tokens[-1].pk]


def test_a_token_joining_the_oldest_family_evicts_the_next_oldest_instead(world):
    _limit(world, 2)
    oldest = refresh_token_create(user=world.user, application=world.application, now=_at(0)).token
    middle = refresh_token_create(user=world.user, application=world.application, now=_at(1)).token
    joined = refresh_token_create(
        user=world.user, application=world.application, family_id=oldest.family_id, now=_at(2)
    ).token
    assert {t.pk for t in _live(world, _at(2))} == {oldest.pk, joined.pk}
    middle.refresh_from_db()
    assert middle.revoke_reason == "session_limit"


def test_other_users_are_untouched(world):
    _limit(world, 1)
    neighbour = RegistrationFactory(user=UserFactory(tenant=world.tenant), application=world.application)
    theirs = refresh_token_create(user=neighbour.user, application=world.application, now=_at(0)).token
    for i in range(3):
        refresh_token_create(user=world.user, application=world.application, now=_at(i))
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_below_the_limit_a_token_costs_the_lock_and_one_read_more(world):
    with CaptureQueriesContext(connection) as queries:
        refresh_token_create(user=world.user, application=world.application, now=_at(0))
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) == 3, statements
    lock, past_the_limit, insert = statements
    if connection.vendor == "postgresql":
        # An UPDATE, not FOR UPDATE: its new row version is what a concurrent one-statement login
        # record (identity.services.login_sql) checks to see that sessions changed under it.
        assert lock.startswith('UPDATE "identity_user"') and "RETURNING" in lock
    # The families past the limit are read once; with none, nothing is updated.
    assert past_the_limit.startswith("SELECT") and "OFFSET 99" in past_the_limit
    assert insert.startswith("INSERT")


def test_at_the_limit_the_families_past_it_are_read_once_then_updated_by_name(world):
    """The eviction UPDATE names the families the read found: as its subquery, PostgreSQL ran the
    read again for each of the user's live tokens (n² rows sorted at the limit)."""
    _limit(world, 3)
    for minute in range(3):
        refresh_token_create(user=world.user, application=world.application, now=_at(minute))
    with CaptureQueriesContext(connection) as queries:
        refresh_token_create(user=world.user, application=world.application, now=_at(3))
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    (read,) = [s for s in statements if "OFFSET 2" in s]
    assert read.startswith("SELECT")
    (evict,) = [s for s in statements if s.startswith('UPDATE "identity_refreshtoken"')]
    assert "SELECT" not in evict and "OFFSET" not in evict
    assert len(_live(world, _at(3))) == 3


@pytest.mark.parametrize("value", [0, -1, 100_001, 2**63, "5", 5.0, True, None])
def test_hostile_limits_are_refused_and_change_nothing(world, value):
    before = db_state()
    with pytest.raises(ValidationFailed) as info:
        tenant_update(tenant=world.tenant, refresh_token_limit_per_user=value)
    assert list(info.value.field_errors) == ["refresh_token_limit_per_user"]
    assert db_state() == before
    with pytest.raises(ValidationFailed):
        tenant_create(name="Hostile", refresh_token_limit_per_user=value)
    assert db_state() == before
