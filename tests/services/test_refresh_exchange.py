"""Refresh-token exchange: usage and expiration policies, grace period, reuse detection, revocation."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import RefreshToken, User
from identity.services.applications import application_set_active, application_update
from identity.services.refresh_tokens import (
    RefreshTokenUnusable,
    refresh_grant,
    refresh_token_create,
)
from identity.services.registrations import registration_delete
from identity.services.tenants import tenant_update
from identity.services.users import user_set_password, user_update

pytestmark = pytest.mark.django_db


def _one_time(world, grace: int = 0, reuse_revokes: bool = True):
    tenant_update(
        tenant=world.tenant,
        refresh_token_usage_policy="OneTimeUse",
        refresh_token_grace_period_seconds=grace,
        revoke_on_one_time_token_reuse=reuse_revokes,
    )
    world.application.refresh_from_db()


@pytest.fixture
def issued(world):
    return refresh_token_create(user=world.user, application=world.application)


def test_reusable_token_keeps_its_value_and_id(world, issued):
    for _ in range(3):
        result = refresh_grant(value=issued.value)
        assert (
            result.refresh_token_value == issued.value
            and result.refresh_token.pk == issued.token.pk
            and not result.rotated
        )
    assert result.roles == ["user"]


def test_one_time_use_rotates_and_refuses_the_old_value(world):
    _one_time(world)
    issued = refresh_token_create(user=world.user, application=world.application)
    first = refresh_grant(value=issued.value)
    assert (
        first.refresh_token_value != issued.value
        and first.refresh_token.pk == issued.token.pk
        and first.rotated
    )
    second = refresh_grant(value=first.refresh_token_value)
    assert second.refresh_token_value not in (issued.value, first.refresh_token_value)


@pytest.mark.parametrize("reuse_revokes", [True, False])
def test_reuse_outside_grace_revokes_the_family_when_the_policy_says_so(world, reuse_revokes):
    _one_time(world, reuse_revokes=reuse_revokes)
    issued = refresh_token_create(user=world.user, application=world.application)
    current = refresh_grant(value=issued.value).refresh_token_value
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value)  # replay of the rotated value
    if reuse_revokes:
        with pytest.raises(RefreshTokenUnusable):
            refresh_grant(value=current)  # the thief's replay killed the whole chain
        assert RefreshToken.objects.get(pk=issued.token.pk).revoke_reason == "reuse_detected"
    else:
        assert refresh_grant(value=current).refresh_token.pk == issued.token.pk


def test_grace_period_returns_the_current_value_unrotated(world):
    _one_time(world, grace=30)
    issued = refresh_token_create(user=world.user, application=world.application)
    now = timezone.now()
    current = refresh_grant(value=issued.value, now=now).refresh_token_value
    again = refresh_grant(value=issued.value, now=now + timedelta(seconds=29))
    assert again.refresh_token_value == current and not again.rotated
    # Past the window the previous value is plain reuse.
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, now=now + timedelta(seconds=31))


def test_grace_never_covers_older_generations(world):
    _one_time(world, grace=60, reuse_revokes=False)
    issued = refresh_token_create(user=world.user, application=world.application)
    now = timezone.now()
    second = refresh_grant(value=issued.value, now=now).refresh_token_value
    third = refresh_grant(value=second, now=now + timedelta(seconds=1)).refresh_token_value
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, now=now + timedelta(seconds=2))  # two generations old
    assert refresh_grant(value=second, now=now + timedelta(seconds=2)).refresh_token_value == third


@pytest.mark.parametrize(
    ("policy", "used_after", "usable"),
    [
        ("Fixed", timedelta(minutes=59), True),
        ("Fixed", timedelta(minutes=61), False),
        ("SlidingWindow", timedelta(minutes=61), False),
    ],
)
def test_expiration(world, policy, used_after, usable):
    tenant_update(
        tenant=world.tenant,
        refresh_token_ttl_minutes=60,
        refresh_token_max_ttl_minutes=120,
        refresh_token_expiration_policy=policy,
    )
    world.application.refresh_from_db()
    start = timezone.now()
    issued = refresh_token_create(user=world.user, application=world.application, now=start)
    if usable:
        refresh_grant(value=issued.value, now=start + used_after)
    else:
        with pytest.raises(RefreshTokenUnusable):
            refresh_grant(value=issued.value, now=start + used_after)


def test_sliding_window_extends_until_the_maximum_lifetime(world):
    tenant_update(
        tenant=world.tenant,
        refresh_token_ttl_minutes=60,
        refresh_token_max_ttl_minutes=150,
        refresh_token_expiration_policy="SlidingWindowWithMaximumLifetime",
    )
    world.application.refresh_from_db()
    start = timezone.now()
    issued = refresh_token_create(user=world.user, application=world.application, now=start)
    for minutes in (50, 100, 145):  # each use slides the window (FusionAuth #2566 must not happen)
        result = refresh_grant(value=issued.value, now=start + timedelta(minutes=minutes))
    assert result.refresh_token.expires_at == start + timedelta(minutes=150)  # capped, not 145 + 60
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, now=start + timedelta(minutes=151))


GRANT_GONE = {
    "user deactivated": lambda w: User.objects.filter(pk=w.user.pk).update(is_active=False),
    "user expired": lambda w: user_update(user=w.user, expires_at=timezone.now() - timedelta(seconds=1)),
    "app inactive": lambda w: application_set_active(application=w.application, active=False),
    "refresh not allowed": lambda w: application_update(application=w.application, allow_token_refresh=False),
    "unregistered": lambda w: registration_delete(registration=w.user.registrations.get()),
    "password changed": lambda w: user_set_password(user=w.user, password="a brand new passphrase"),
}
"""Ways a session's grant goes away after its token was issued (also used by
test_refresh_one_statement)."""


@pytest.mark.parametrize("spoil", GRANT_GONE.values(), ids=GRANT_GONE.keys())
def test_tokens_stop_working_when_the_grant_goes_away(world, issued, spoil):
    spoil(world)
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value)


@pytest.mark.parametrize("value", ["", "x", "' OR 1=1--", "\x00", "é" * 40, "a" * 513])
def test_unknown_values(world, issued, value):
    with pytest.raises(RefreshTokenUnusable) as info:
        refresh_grant(value=value)
    assert info.value.as_json() == {
        "fieldErrors": {
            "refreshToken": [
                {
                    "code": "[invalid]refreshToken",
                    "message": "The refresh token is invalid, expired or revoked.",
                }
            ]
        }
    }


def test_ttl_may_only_shorten(world, issued):
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, ttl_seconds=3601)
    assert refresh_grant(value=issued.value, ttl_seconds=60).refresh_token_value == issued.value


def test_a_replay_that_started_before_the_rotation_is_still_reuse_without_grace(world):
    """A request that read the clock, then waited for the row lock, arrives 'before' the rotation."""
    _one_time(world, grace=0, reuse_revokes=False)
    issued = refresh_token_create(user=world.user, application=world.application)
    now = timezone.now()
    refresh_grant(value=issued.value, now=now)
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=issued.value, now=now - timedelta(milliseconds=5))


def _forged(value: str, *, generation_delta: int = 0, flip_mac: bool = False) -> str:
    """A value naming the same token, at another generation and/or with a broken tag."""
    raw = bytearray(base64.urlsafe_b64decode(value + "=="))
    generation = int.from_bytes(raw[17:21], "big") + generation_delta  # after the hint and the id
    raw[17:21] = max(generation, 0).to_bytes(4, "big")
    if flip_mac:
        raw[-1] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("generation_delta", "flip_mac"),
    [(0, True), (1, False), (5, True), (-1, True)],
    ids=["current-generation-bad-mac", "next-generation", "future-generation-bad-mac", "older-bad-mac"],
)
def test_a_forged_value_naming_a_real_token_is_refused_and_changes_nothing(world, generation_delta, flip_mac):
    """A value is looked up by the token id it carries and then compared by digest: one that names
    a real token but is not (and never was) its value is refused like an unknown one, consumes
    nothing and, even with the reuse policy on, revokes nothing."""
    _one_time(world)
    issued = refresh_token_create(user=world.user, application=world.application)
    current = refresh_grant(value=issued.value).refresh_token_value  # generation 1
    before = list(RefreshToken.objects.values().order_by("pk"))
    with pytest.raises(RefreshTokenUnusable):
        refresh_grant(value=_forged(current, generation_delta=generation_delta, flip_mac=flip_mac))
    assert list(RefreshToken.objects.values().order_by("pk")) == before
    assert refresh_grant(value=current).rotated  # the real value still works
