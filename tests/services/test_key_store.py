"""The coherence channel behind the key store: version row and cache, check interval, miss reloads,
and the one signer-retirement rule every signer change goes through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from identity import key_store
from identity.exceptions import ValidationFailed
from identity.key_store import KEYS, channel_bump, channel_version, key_snapshot
from identity.services.applications import application_update
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from identity.services.tenants import tenant_update
from tests.factories import ApplicationFactory, TenantFactory
from tests.redis_db import redis_url, use_redis

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr(key_store.time, "monotonic", lambda: self.now)
        # Test transactions never commit: forget earlier tests' "uncommitted change" mark.
        monkeypatch.setattr(KEYS, "_uncommitted", False)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _row_version() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM identity_coherence_version WHERE name = 'keys'")
        return int(cursor.fetchone()[0])


def test_a_change_bumps_the_version_row_inside_its_transaction():
    before = _row_version()
    with pytest.raises(RuntimeError), transaction.atomic():
        signing_key_generate(tenant=None, algorithm="ES256", name="rolled back")
        assert _row_version() == before + 1
        raise RuntimeError
    assert _row_version() == before
    signing_key_generate(tenant=None, algorithm="ES256", name="kept")
    assert _row_version() == before + 1


def test_the_version_is_read_at_most_once_per_interval(monkeypatch, django_assert_num_queries):
    clock = Clock(monkeypatch)
    KEYS.reload(reason="test")
    rebuilds = KEYS.rebuilds
    with django_assert_num_queries(0):
        for _ in range(50):
            key_snapshot()
        clock.advance(0.9)
        key_snapshot()
    clock.advance(0.2)
    with django_assert_num_queries(1):  # the version row, unchanged: no rebuild
        key_snapshot()
    assert KEYS.rebuilds == rebuilds


def test_a_change_made_elsewhere_is_seen_after_the_interval(monkeypatch):
    clock = Clock(monkeypatch)
    first = KEYS.reload(reason="test")
    channel_bump("keys")  # another process's change: the row moved, this process was not told
    assert key_snapshot() is first
    clock.advance(1.0)
    assert key_snapshot() is not first


def test_miss_reloads_are_rate_limited(monkeypatch, django_assert_num_queries):
    clock = Clock(monkeypatch)
    KEYS.reload(reason="test")
    assert KEYS.reload_on_miss(reason="miss") is not None  # the first: a rebuild
    rebuilds = KEYS.rebuilds
    with django_assert_num_queries(0):
        assert KEYS.reload_on_miss(reason="miss") is None
    clock.advance(0.06)
    with django_assert_num_queries(1):  # only the version: unchanged, so nothing newer to be had
        assert KEYS.reload_on_miss(reason="miss") is None
    channel_bump("keys")
    clock.advance(0.06)
    assert KEYS.reload_on_miss(reason="miss") is not None  # the version moved: a new key is usable
    clock.advance(1.0)
    assert KEYS.reload_on_miss(reason="miss") is not None
    assert KEYS.rebuilds == rebuilds + 2


def test_a_signer_the_snapshot_does_not_hold_is_loaded_at_once(world):
    from identity.services.access_tokens import AuthenticationType, access_token_issue

    stale = key_snapshot()
    key = signing_key_generate(tenant=world.tenant, algorithm="EdDSA", name="new").key
    tenant_signing_key_set(tenant=world.tenant, key=key)
    # As if another process made the change: this one's snapshot is current as far as it knows.
    KEYS._value, KEYS._checked_at = stale, float("inf")
    try:
        token = access_token_issue(
            user=world.user,
            tenant=world.tenant,
            application=None,
            roles=None,
            authentication_type=AuthenticationType.PASSWORD,
            now=timezone.now(),
        )
    finally:
        KEYS._checked_at = float("-inf")
    assert token.value.count(".") == 2


def test_with_redis_the_version_travels_through_the_cache(settings, django_capture_on_commit_callbacks):
    use_redis(settings, redis_url(4))
    first = channel_version("keys")
    assert first >= 0 and channel_version("keys") == first  # a counter in the cache, not the row
    with django_capture_on_commit_callbacks(execute=True):
        channel_bump("keys")
        assert channel_version("keys") == first  # the cache moves once the change commits
    assert channel_version("keys") == first + 1


def test_an_application_signer_change_retires_the_previous_signer(world):
    app = ApplicationFactory(tenant=world.tenant)
    first = signing_key_generate(tenant=world.tenant, algorithm="ES256", name="first").key
    second = signing_key_generate(tenant=world.tenant, algorithm="ES256", name="second").key
    application_update(
        application=app, jwt_enabled=True, access_token_signing_key=first, id_token_signing_key=first
    )
    application_update(application=app, access_token_signing_key=second, id_token_signing_key=second)
    trusted = key_snapshot().trusted(tenant_id=world.tenant.pk, application_id=app.pk)
    assert {first.kid, second.kid} <= set(trusted)
    first.refresh_from_db()
    assert first.expires_at is not None


def test_a_retired_signer_made_signer_again_is_back_in_service(world):
    original = world.tenant.access_token_signing_key
    other = signing_key_generate(tenant=world.tenant, algorithm="ES256", name="other").key
    tenant_signing_key_set(tenant=world.tenant, key=other)
    original.refresh_from_db()
    assert original.expires_at is not None
    tenant_signing_key_set(tenant=world.tenant, key=original)
    original.refresh_from_db()
    assert original.expires_at is None
    assert not world.tenant.verification_keys.filter(pk=original.pk).exists()


def test_an_expired_key_cannot_become_a_signer(world):
    key = signing_key_generate(tenant=world.tenant, algorithm="ES256", name="old").key
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()
    with pytest.raises(ValidationFailed) as info:
        tenant_update(tenant=world.tenant, access_token_signing_key=key)
    assert "access_token_signing_key" in info.value.field_errors


def test_a_tenant_locked_caller_cannot_choose_a_global_key_another_tenant_signs_with(world):
    other = TenantFactory()
    shared = signing_key_generate(tenant=None, algorithm="ES256", name="shared").key
    tenant_signing_key_set(tenant=other, key=shared)
    with pytest.raises(ValidationFailed):
        tenant_update(tenant=world.tenant, tenant_locked=True, access_token_signing_key=shared)
    tenant_update(tenant=world.tenant, access_token_signing_key=shared)  # a global caller may share
    # Once the tenant signs with it, its locked caller may keep it while changing anything else.
    tenant_update(tenant=world.tenant, tenant_locked=True, access_token_signing_key=shared, name="Renamed")


def test_a_snapshot_built_from_a_change_that_rolled_back_is_not_kept(monkeypatch, settings):
    """With Redis the version moves only on commit, so a rollback moves nothing."""
    use_redis(settings, redis_url(5))
    clock = Clock(monkeypatch)
    with pytest.raises(RuntimeError), transaction.atomic():
        phantom = signing_key_generate(tenant=None, algorithm="ES256", name="phantom").key
        tenant_signing_key_set(tenant=TenantFactory(), key=phantom)
        assert phantom.kid in key_snapshot().by_kid
        raise RuntimeError
    clock.advance(1.0)
    assert phantom.kid not in key_snapshot().by_kid
