from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from identity.hashing import secret_digest
from identity.models import RefreshToken
from identity.selectors import JWTConfiguration, jwt_configuration_for
from identity.services.applications import application_update
from identity.services.refresh_tokens import (
    DeviceInfo,
    RevokeReason,
    refresh_token_create,
    refresh_token_expiry,
    refresh_tokens_revoke,
)
from tests.factories import ApplicationFactory, RegistrationFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _config(policy: str, ttl: int = 60, cap: int = 120) -> JWTConfiguration:
    return JWTConfiguration(3600, ttl, policy, cap, "Reusable", 0, None, None)


@pytest.mark.parametrize(
    ("policy", "used_after_minutes", "expected_minutes"),
    [
        ("Fixed", 50, 60),
        ("SlidingWindow", 50, 110),
        ("SlidingWindow", 500, 560),
        ("SlidingWindowWithMaximumLifetime", 50, 110),
        ("SlidingWindowWithMaximumLifetime", 100, 120),  # capped by the maximum lifetime
    ],
)
def test_expiry_policies(policy, used_after_minutes, expected_minutes):
    expiry = refresh_token_expiry(
        config=_config(policy), started_at=T0, used_at=T0 + timedelta(minutes=used_after_minutes)
    )
    assert expiry == T0 + timedelta(minutes=expected_minutes)


def test_create_stores_only_the_digest():
    registration = RegistrationFactory()
    issued = refresh_token_create(
        user=registration.user,
        application=registration.application,
        device=DeviceInfo(name="phone", type="MOBILE", address="10.0.0.1"),
        now=T0,
    )
    row = RefreshToken.objects.get(pk=issued.token.pk)
    assert row.token_digest == secret_digest(issued.value)
    assert issued.value not in {str(v) for v in row.__dict__.values()}
    assert row.family_id == row.id
    assert row.expires_at == T0 + timedelta(minutes=43_200)
    assert (row.device_name, row.device_type, row.last_accessed_address) == ("phone", "MOBILE", "10.0.0.1")


def test_application_override_decides_the_lifetime():
    registration = RegistrationFactory()
    application_update(
        application=registration.application,
        jwt_enabled=True,
        refresh_token_ttl_minutes=5,
        refresh_token_max_ttl_minutes=5,
    )
    assert jwt_configuration_for(application=registration.application).refresh_token_ttl_minutes == 5
    issued = refresh_token_create(user=registration.user, application=registration.application, now=T0)
    assert issued.token.expires_at == T0 + timedelta(minutes=5)


def test_revoke_by_user_application_and_ids():
    user, other = UserFactory(), UserFactory()
    app_a, app_b = ApplicationFactory(), ApplicationFactory()
    tokens = {
        (u, a): refresh_token_create(user=u, application=a).token
        for u in (user, other)
        for a in (app_a, app_b)
    }
    assert refresh_tokens_revoke(user=user, application=app_a, reason=RevokeReason.API) == 1
    assert refresh_tokens_revoke(application=app_b, reason=RevokeReason.API) == 2
    assert (
        refresh_tokens_revoke(user=user, reason=RevokeReason.API) == 0
    )  # already revoked ones stay as they are
    assert refresh_tokens_revoke(token_ids=[tokens[(other, app_a)].pk], reason=RevokeReason.ADMIN) == 1
    assert not RefreshToken.objects.filter(revoked_at__isnull=True).exists()
    with pytest.raises(ValueError):
        refresh_tokens_revoke(reason=RevokeReason.API)


def test_purge_keeps_recent_revocations_and_live_tokens():
    now = datetime.now(UTC)
    registration = RegistrationFactory()
    user, app = registration.user, registration.application
    live = refresh_token_create(user=user, application=app).token
    long_expired = refresh_token_create(user=user, application=app, now=now - timedelta(days=60)).token
    recently_revoked = refresh_token_create(user=user, application=app).token
    long_revoked = refresh_token_create(user=user, application=app).token
    refresh_tokens_revoke(
        token_ids=[str(recently_revoked.pk)], reason=RevokeReason.API, now=now - timedelta(days=1)
    )
    refresh_tokens_revoke(
        token_ids=[str(long_revoked.pk)], reason=RevokeReason.API, now=now - timedelta(days=30)
    )
    out = StringIO()
    call_command("purge_refresh_tokens", "--dry-run", stdout=out)
    assert out.getvalue().startswith("2 refresh tokens")
    out = StringIO()
    call_command("purge_refresh_tokens", "--json", "--batch-size", "1", stdout=out)
    assert json.loads(out.getvalue()) == {"purgeable": 2, "deleted": 2, "expiredRevocations": 0}
    assert set(RefreshToken.objects.values_list("pk", flat=True)) == {live.pk, recently_revoked.pk}
    assert long_expired.pk not in set(RefreshToken.objects.values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("revoked", "expires_in", "usable"),
    [(False, 60, True), (True, 60, False), (False, 0, False), (False, -1, False)],
)
def test_a_session_is_usable_until_revoked_or_expired(revoked, expires_in, usable):
    now = timezone.now()
    token = RefreshToken(revoked_at=now if revoked else None, expires_at=now + timedelta(seconds=expires_in))
    assert token.is_usable(now) is usable
