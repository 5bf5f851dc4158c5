"""A refresh in one statement (refresh_grant on PostgreSQL): the value's hint says what its use
writes, the write and the read of the context go together, and the rules then judge the use
already made. Every way the rules or the configuration can disagree with the hint must end as the
two-statement path would have ended, with the write undone where it was refused."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from identity.exceptions import SigningKeyMissing
from identity.key_store import key_snapshot, key_store_invalidate
from identity.models import RefreshToken, SigningKey
from identity.services.refresh_tokens import (
    V1_LENGTH,
    VALUE_LENGTH,
    RefreshTokenUnusable,
    refresh_grant,
    refresh_token_create,
)
from identity.services.tenants import tenant_update
from tests.factories import TenantFactory
from tests.services.test_refresh_exchange import GRANT_GONE

pytestmark = pytest.mark.django_db

ONE_STATEMENT = connection.vendor == "postgresql"


def _policy(world, usage: str = "OneTimeUse", expiry: str = "Fixed", **more) -> None:
    tenant_update(
        tenant=world.tenant,
        refresh_token_usage_policy=usage,
        refresh_token_expiration_policy=expiry,
        **more,
    )
    world.application.refresh_from_db()


def _rows() -> list[dict]:
    return list(RefreshToken.objects.values().order_by("pk"))


def _hint(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "==")[:1]


@pytest.mark.django_db(transaction=True)  # outermost transaction, as in production: no savepoints
@pytest.mark.parametrize(
    ("usage", "expiry", "hint", "statements"),
    [
        ("OneTimeUse", "Fixed", b"R", 1 if ONE_STATEMENT else 2),
        ("Reusable", "Fixed", b"K", 1 if ONE_STATEMENT else 2),
        ("OneTimeUse", "SlidingWindow", b"S", 2),
        ("Reusable", "SlidingWindowWithMaximumLifetime", b"S", 2),
    ],
    ids=["one-time-fixed", "reusable-fixed", "one-time-sliding", "reusable-sliding-max"],
)
def test_statements_per_refresh_by_hint(world, django_assert_num_queries, usage, expiry, hint, statements):
    """With a Fixed expiry a use's writes are known from the value: one statement, access token
    included. A sliding expiry needs the configuration's TTL first: SELECT, then UPDATE."""
    _policy(world, usage, expiry)
    issued = refresh_token_create(user=world.user, application=world.application)
    assert len(issued.value) == VALUE_LENGTH and _hint(issued.value) == hint
    key_snapshot()  # keys are cached after the first request of a process
    value = issued.value
    for generation in range(1, 4):
        with django_assert_num_queries(statements):
            pair = refresh_grant(value=value)
        assert pair.access_token.claims["roles"] == ["user"]
        assert pair.access_token.claims["sid"] == str(issued.token.pk)
        assert pair.rotated == (usage == "OneTimeUse") and _hint(pair.refresh_token_value) == hint
        token = RefreshToken.objects.get(pk=issued.token.pk)
        assert token.generation == (generation if usage == "OneTimeUse" else 0)
        assert token.last_used_at == pair.refresh_token.last_used_at
        value = pair.refresh_token_value


def test_the_answer_matches_the_row_it_wrote(world):
    _policy(world)
    issued = refresh_token_create(user=world.user, application=world.application)
    pair = refresh_grant(value=issued.value, address="203.0.113.9")
    row = RefreshToken.objects.get(pk=issued.token.pk)
    names = (
        "token_digest",
        "generation",
        "rotated_at",
        "last_used_at",
        "last_accessed_address",
        "expires_at",
    )
    for name in names:
        assert getattr(row, name) == getattr(pair.refresh_token, name), name
    assert row.last_accessed_address == "203.0.113.9" and row.rotated_at == row.last_used_at
    # The old value is now a replay; the new one works.
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value)


@pytest.mark.parametrize("spoil", GRANT_GONE.values(), ids=GRANT_GONE.keys())
@pytest.mark.parametrize("usage", ["OneTimeUse", "Reusable"])
def test_a_use_the_rules_refuse_is_undone(world, spoil, usage):
    _policy(world, usage)
    issued = refresh_token_create(user=world.user, application=world.application)
    spoil(world)
    before = _rows()
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, address="198.51.100.1")
    assert _rows() == before


@pytest.mark.parametrize("usage", ["OneTimeUse", "Reusable"])
def test_a_too_long_ttl_and_another_tenant_are_refused_and_undone(world, usage):
    _policy(world, usage)
    issued = refresh_token_create(user=world.user, application=world.application)
    before = _rows()
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, ttl_seconds=10**6)
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, tenant_id=TenantFactory().pk)
    assert _rows() == before
    assert refresh_grant(value=issued.value, tenant_id=world.tenant.pk).refresh_token.pk == issued.token.pk


def test_a_rotation_that_cannot_be_signed_is_undone_and_the_retry_works(world):
    _policy(world)
    issued = refresh_token_create(user=world.user, application=world.application)
    signer = SigningKey.objects.filter(pk=world.tenant.access_token_signing_key_id)
    signer.update(expires_at=timezone.now() - timedelta(seconds=1), updated_at=timezone.now())
    key_store_invalidate()
    before = _rows()
    with pytest.raises(SigningKeyMissing):
        refresh_grant(value=issued.value)
    assert _rows() == before
    signer.update(expires_at=None, updated_at=timezone.now())
    key_store_invalidate()
    retried = refresh_grant(value=issued.value)
    assert retried.rotated and RefreshToken.objects.get(pk=issued.token.pk).generation == 1


def test_one_time_value_under_a_tenant_now_reusable_is_not_rotated(world):
    """The hint said rotate; the configuration says keep: the write is undone and the use is
    decided on what was read, so the client keeps its value, which stays usable."""
    _policy(world, "OneTimeUse")
    issued = refresh_token_create(user=world.user, application=world.application)
    current = refresh_grant(value=issued.value).refresh_token_value
    _policy(world, "Reusable")
    for _ in range(2):
        pair = refresh_grant(value=current)
        assert pair.refresh_token_value == current and not pair.rotated
    token = RefreshToken.objects.get(pk=issued.token.pk)
    assert token.generation == 1 and token.revoked_at is None


def test_reusable_value_under_a_tenant_now_one_time_rotates_once_then_takes_one_statement(
    world, django_assert_max_num_queries
):
    _policy(world, "Reusable")
    issued = refresh_token_create(user=world.user, application=world.application)
    _policy(world, "OneTimeUse")
    first = refresh_grant(value=issued.value)
    assert first.rotated and _hint(first.refresh_token_value) == b"R"
    key_snapshot()
    with django_assert_max_num_queries(1 if ONE_STATEMENT else 2):
        second = refresh_grant(value=first.refresh_token_value)
    assert second.rotated and RefreshToken.objects.get(pk=issued.token.pk).generation == 2
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value)  # reuse of generation 0


def test_a_fixed_expiry_follows_a_changed_ttl(world):
    _policy(world, "OneTimeUse", refresh_token_ttl_minutes=60)
    issued = refresh_token_create(user=world.user, application=world.application)
    _policy(world, "OneTimeUse", refresh_token_ttl_minutes=30)
    pair = refresh_grant(value=issued.value)
    token = RefreshToken.objects.get(pk=issued.token.pk)
    assert token.expires_at == token.started_at + timedelta(minutes=30) == pair.refresh_token.expires_at
    assert token.generation == 1


def test_a_value_minted_fixed_under_a_now_sliding_tenant_gets_the_sliding_expiry(world):
    _policy(world, "OneTimeUse", "Fixed")
    issued = refresh_token_create(user=world.user, application=world.application)
    _policy(world, "OneTimeUse", "SlidingWindow")
    now = timezone.now() + timedelta(minutes=5)
    pair = refresh_grant(value=issued.value, now=now)
    token = RefreshToken.objects.get(pk=issued.token.pk)
    assert _hint(pair.refresh_token_value) == b"S" and token.generation == 1
    assert token.expires_at > token.started_at + timedelta(minutes=5)  # slid from the use
    assert refresh_grant(value=pair.refresh_token_value, now=now).rotated


def test_grace_gives_back_the_current_value_after_the_configuration_changed(world):
    _policy(world, "OneTimeUse", refresh_token_grace_period_seconds=60)
    issued = refresh_token_create(user=world.user, application=world.application)
    current = refresh_grant(value=issued.value).refresh_token_value  # hint R
    _policy(world, "OneTimeUse", "SlidingWindow", refresh_token_grace_period_seconds=60)
    again = refresh_grant(value=issued.value)
    assert again.refresh_token_value == current and not again.rotated


@pytest.mark.parametrize("hint", [b"R", b"K", b"S", b"X"], ids=["rotate", "keep", "read", "unknown"])
def test_a_value_with_another_hint_is_refused_and_changes_nothing(world, hint):
    _policy(world, "OneTimeUse")
    issued = refresh_token_create(user=world.user, application=world.application)
    raw = bytearray(base64.urlsafe_b64decode(issued.value + "=="))
    if raw[:1] == hint:
        hint = b"K"
    raw[:1] = hint
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    before = _rows()
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=forged)
    assert _rows() == before


def _v1_token(world, *, usage: str):
    """A token as the service minted it before migration 0014: a 70-character value whose MAC is
    keyed by the token's salt."""
    from django.utils.crypto import salted_hmac

    _policy(world, usage)
    issued = refresh_token_create(user=world.user, application=world.application)
    token = issued.token
    salt = "0123456789abcdef0123456789abcdef"

    def value(generation: int) -> str:
        mac = salted_hmac("identity.refresh-token", f"{token.pk}:{generation}:{salt}", algorithm="sha256")
        raw = token.pk.bytes + generation.to_bytes(4, "big") + mac.digest()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    from identity.hashing import secret_digest

    RefreshToken.objects.filter(pk=token.pk).update(
        value_salt=salt, generation=3, token_digest=secret_digest(value(3))
    )
    return token, value


@pytest.mark.parametrize("usage", ["OneTimeUse", "Reusable"])
def test_values_minted_before_the_upgrade_still_work(world, usage):
    token, value = _v1_token(world, usage=usage)
    assert len(value(3)) == V1_LENGTH
    pair = refresh_grant(value=value(3))
    if usage == "Reusable":
        assert pair.refresh_token_value == value(3) and not pair.rotated
        return
    assert len(pair.refresh_token_value) == VALUE_LENGTH and pair.rotated
    assert refresh_grant(value=pair.refresh_token_value).rotated
    assert RefreshToken.objects.get(pk=token.pk).generation == 5


def test_an_older_v1_generation_is_reuse_and_a_forged_one_is_not(world):
    token, value = _v1_token(world, usage="OneTimeUse")
    forged = bytearray(base64.urlsafe_b64decode(value(2) + "=="))
    forged[-1] ^= 1
    before = _rows()
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode())
    assert _rows() == before  # never ours: nothing revoked
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=value(2))  # a genuine older generation: reuse
    assert RefreshToken.objects.get(pk=token.pk).revoke_reason == "reuse_detected"


def test_grace_after_a_v1_value_was_rotated(world):
    _, value = _v1_token(world, usage="OneTimeUse")
    _policy(world, "OneTimeUse", refresh_token_grace_period_seconds=60)
    current = refresh_grant(value=value(3)).refresh_token_value
    assert refresh_grant(value=value(3)).refresh_token_value == current
