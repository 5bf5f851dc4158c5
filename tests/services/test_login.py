"""The login rules: one answer for unknown users and wrong passwords, lockout per account, states."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import RefreshToken, User
from identity.services.login import (
    LoginFailed,
    LoginPrevented,
    LoginStatus,
    UserExpired,
    UserLocked,
    login,
)
from identity.services.refresh_tokens import refresh_token_create
from identity.services.registrations import registration_create
from identity.services.tenants import tenant_update
from identity.services.users import user_set_password, user_update
from identity.signing import TokenKind, unverified_header
from tests.factories import ApplicationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _login(world, password=None, **kwargs):
    kwargs.setdefault("application", world.application)
    kwargs.setdefault("login_id", "ann@example.com")
    return login(tenant=world.tenant, password=password or world.password, **kwargs)


def test_registered_user_gets_claims_and_a_refresh_token(world):
    result = _login(world)
    assert result.status == LoginStatus.OK
    claims = result.access_token.claims
    assert claims["applicationId"] == str(world.application.pk) and claims["roles"] == ["user"]
    assert claims["sid"] == str(result.refresh_token.pk) == str(claims["sid"])
    assert claims["authenticationType"] == "PASSWORD" and claims["tid"] == str(world.tenant.pk)
    assert claims["iss"] == world.tenant.issuer and claims["sub"] == str(world.user.pk)
    assert {"aud", "exp", "iat", "jti", "email", "email_verified", "auth_time"} <= set(claims)
    assert result.refresh_token_value and RefreshToken.objects.filter(pk=result.refresh_token.pk).exists()


@pytest.mark.parametrize("login_id", ["ann@example.com", "ANN@EXAMPLE.COM", "ann", "Ann"])
def test_email_or_username_ignoring_case(world, login_id):
    assert _login(world, login_id=login_id).status == LoginStatus.OK


def test_login_id_types_order_is_respected(world):
    with pytest.raises(LoginFailed):
        _login(world, login_id="ann", login_id_types=("email",))


def test_unregistered_user_gets_202_without_app_claims_or_refresh_token(world):
    other = ApplicationFactory(tenant=world.tenant, generate_refresh_tokens=True)
    result = _login(world, application=other)
    assert result.status == LoginStatus.NOT_REGISTERED
    assert "roles" not in result.access_token.claims and "applicationId" not in result.access_token.claims
    assert result.refresh_token is None


def test_no_jwt(world):
    result = _login(world, no_jwt=True)
    assert result.access_token is None and result.refresh_token is None


def test_no_refresh_token_when_the_application_does_not_generate_them(world):
    app = ApplicationFactory(tenant=world.tenant)
    registration_create(user=world.user, application=app)
    assert _login(world, application=app).refresh_token is None


@pytest.mark.parametrize("login_id", ["nobody@example.com", "ann@example.com"])
def test_unknown_user_and_wrong_password_are_the_same_failure(world, login_id):
    with pytest.raises(LoginFailed) as info:
        _login(world, login_id=login_id, password="wrong password here")
    assert str(info.value) == "Invalid login credentials."


def test_user_of_another_tenant_is_unknown(world):
    stranger = UserFactory(tenant=TenantFactory(), email="zed@example.com")
    with pytest.raises(LoginFailed):
        _login(world, login_id=stranger.email)


def test_lockout_after_the_tenants_limit_and_right_password_refused_while_locked(world):
    now = timezone.now()
    for attempt in range(5):
        with pytest.raises(LoginFailed):
            _login(world, password="wrong", now=now + timedelta(seconds=attempt))
    world.user.refresh_from_db()
    assert world.user.locked_until == now + timedelta(seconds=4 + 60)
    with pytest.raises(LoginPrevented):
        _login(world, now=now + timedelta(seconds=10))
    with pytest.raises(LoginFailed):  # a wrong password while locked reveals nothing more
        _login(world, password="wrong", now=now + timedelta(seconds=11))
    assert _login(world, now=now + timedelta(seconds=70)).status == LoginStatus.OK
    world.user.refresh_from_db()
    assert (world.user.failed_login_count, world.user.locked_until) == (0, None)


def test_failures_outside_the_window_do_not_add_up(world):
    now = timezone.now()
    for attempt in range(8):
        with pytest.raises(LoginFailed):
            _login(world, password="wrong", now=now + timedelta(seconds=attempt * 20))  # 3 per minute
    assert _login(world, now=now + timedelta(seconds=200)).status == LoginStatus.OK


def test_lockout_revokes_sessions_when_the_policy_says_so(world):
    token = refresh_token_create(user=world.user, application=world.application).token
    for _ in range(5):
        with pytest.raises(LoginFailed):
            _login(world, password="wrong")
    token.refresh_from_db()
    assert token.revoke_reason == "login_prevented"


def test_lockout_keeps_sessions_when_the_policy_is_off(world):
    tenant_update(tenant=world.tenant, revoke_on_login_prevented=False)
    token = refresh_token_create(user=world.user, application=world.application).token
    for _ in range(5):
        with pytest.raises(LoginFailed):
            _login(world, password="wrong")
    token.refresh_from_db()
    assert token.revoked_at is None


def test_expired_user_is_410_only_with_the_right_password(world):
    user_update(user=world.user, expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(UserExpired):
        _login(world)
    with pytest.raises(LoginFailed):
        _login(world, password="wrong")


def test_deactivated_user_is_423(world):
    User.objects.filter(pk=world.user.pk).update(is_active=False)
    with pytest.raises(UserLocked):
        _login(world)


def test_access_token_kind(world):
    assert unverified_header(_login(world).access_token.value)["tkn"] == TokenKind.ACCESS


def test_unknown_user_costs_the_same_as_a_wrong_password(world, settings):
    """Indistinguishable timing (checklist 33), with the production hasher."""
    settings.PASSWORD_HASHERS = ["identity.hashers.Argon2idPasswordHasher"]
    user_set_password(user=world.user, password=world.password)
    tenant_update(tenant=world.tenant, failed_login_max_attempts=1000)

    def cost(login_id: str) -> float:
        started = time.perf_counter()
        with pytest.raises(LoginFailed):
            _login(world, login_id=login_id, password="not the password")
        return time.perf_counter() - started

    cost("nobody@example.com"), cost("ann@example.com")  # warm up both paths
    unknown = statistics.median(cost("nobody@example.com") for _ in range(9))
    wrong = statistics.median(cost("ann@example.com") for _ in range(9))
    assert unknown > 0.005  # the dummy hash really runs
    assert abs(unknown - wrong) / max(unknown, wrong) < 0.35, (unknown, wrong)
