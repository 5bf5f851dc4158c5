"""The login rules: one answer for unknown users and wrong passwords, lockout per account, states."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.caller import Caller
from identity.exceptions import NotAuthenticated, NotFound, ValidationFailed
from identity.models import APIKey, RefreshToken, User
from identity.services.login import (
    LoginFailed,
    LoginPrevented,
    LoginStatus,
    UserExpired,
    UserLocked,
    login,
    login_ping,
)
from identity.services.refresh_tokens import refresh_token_create
from identity.services.registrations import registration_create
from identity.services.tenants import tenant_update
from identity.services.users import user_change_password, user_set_password, user_update
from identity.signing import TokenKind, unverified_header
from tests.factories import DEFAULT_PASSWORD, ApplicationFactory, TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def _caller(world):
    """The world's global API key naming the world's tenant, as the API would build it."""
    return Caller.build(api_key=APIKey.objects.get(name="world"), header=str(world.tenant.pk))


def _login(world, password=None, application=None, **kwargs):
    kwargs.setdefault("login_id", "ann@example.com")
    return login(
        caller=_caller(world),
        application_id=(application or world.application).pk,
        password=password or world.password,
        **kwargs,
    )


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


@pytest.mark.parametrize(
    "stored", ["pbkdf2_sha256$abc$$", "argon2$garbage", "pbkdf2_sha256$99999999999$c$aA=="]
)
def test_a_stored_hash_that_does_not_parse_is_a_wrong_password_and_a_log_line(world, stored, caplog):
    """Hashes imported before the import checked them: the same failure as a wrong password,
    counted, never a 500, and the log names the user (not the hash)."""
    User.objects.filter(pk=world.user.pk).update(password=stored)
    with pytest.raises(LoginFailed):
        _login(world)
    world.user.refresh_from_db()
    assert world.user.failed_login_count == 1 and world.user.password == stored
    assert f"user {world.user.pk} has an unusable stored password hash" in caplog.text
    assert stored not in caplog.text


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
    with pytest.raises(LoginPrevented):  # while locked the password is not even checked
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
    # Interleaved, and the fastest of each: load from other processes (the suite runs two
    # pytest workers) slows single samples, never makes one cheaper than its own work.
    samples = [(cost("nobody@example.com"), cost("ann@example.com")) for _ in range(9)]
    unknown = min(pair[0] for pair in samples)
    wrong = min(pair[1] for pair in samples)
    assert unknown > 0.005  # the dummy hash really runs
    assert abs(unknown - wrong) / max(unknown, wrong) < 0.35, (unknown, wrong)


# --- one door for every password check and every login (issue 18) ----------------------------


def _lock(world, now=None):
    User.objects.filter(pk=world.user.pk).update(locked_until=(now or timezone.now()) + timedelta(minutes=5))


def test_while_locked_no_password_is_checked(world, monkeypatch):
    _lock(world)
    checked = []
    monkeypatch.setattr(User, "check_password", lambda self, raw: checked.append(raw) or True)
    for password in (world.password, "wrong"):
        with pytest.raises(LoginPrevented):
            _login(world, password=password)
    assert checked == []
    world.user.refresh_from_db()
    assert world.user.failed_login_count == 0  # nothing counted while locked


def test_attempts_beyond_the_limit_are_refused_before_hashing(world, monkeypatch):
    """The count is taken before the hash: with the limit already used up by attempts still in
    flight, the next one is refused without a password check."""
    User.objects.filter(pk=world.user.pk).update(
        failed_login_count=world.tenant.failed_login_max_attempts,
        failed_login_window_started_at=timezone.now(),
    )
    monkeypatch.setattr(User, "check_password", lambda self, raw: pytest.fail("hashed"))
    with pytest.raises(LoginPrevented):
        _login(world)


def test_the_right_password_clears_the_count_even_when_another_state_refuses(world):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            _login(world, password="wrong")
    User.objects.filter(pk=world.user.pk).update(is_active=False)
    for _ in range(6):  # a deactivated user knowing the password stays 423, never becomes 409
        with pytest.raises(UserLocked):
            _login(world)
    world.user.refresh_from_db()
    assert (world.user.failed_login_count, world.user.locked_until) == (0, None)


def test_a_lock_that_lands_during_a_login_refuses_it(world):
    """login_success records the login only if the state rule still holds at write time."""
    from identity.services.access_tokens import AuthenticationType
    from identity.services.login import login_success

    user = User.objects.get(pk=world.user.pk)
    _lock(world)  # after the request read the user
    with pytest.raises(LoginPrevented):
        login_success(
            user=user,
            tenant=world.tenant,
            application=world.application,
            no_jwt=False,
            device=None,
            now=timezone.now(),
            authentication_type=AuthenticationType.PING,
        )
    assert not RefreshToken.objects.filter(user=world.user).exists()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"locked_until": timezone.now() + timedelta(days=1)}, LoginPrevented),
        ({"is_active": False}, UserLocked),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, UserExpired),
    ],
)
def test_login_ping_applies_the_login_state_rule_and_keeps_the_counter(world, change, error):
    User.objects.filter(pk=world.user.pk).update(failed_login_count=3, **change)
    with pytest.raises(error):
        login_ping(caller=_caller(world), user_id=world.user.pk, application_id=world.application.pk)
    assert User.objects.filter(pk=world.user.pk).values_list("failed_login_count", flat=True).get() == 3


def test_login_ping_never_resets_the_failure_counter(world):
    User.objects.filter(pk=world.user.pk).update(
        failed_login_count=3, failed_login_window_started_at=timezone.now()
    )
    login_ping(caller=_caller(world), user_id=world.user.pk, application_id=world.application.pk)
    assert User.objects.filter(pk=world.user.pk).values_list("failed_login_count", flat=True).get() == 3


def test_unknown_and_password_less_users_are_not_counted(world):
    user_set_password_less = UserFactory(tenant=world.tenant, email="fed@example.com", password=None)
    for login_id in ("nobody@example.com", "fed@example.com"):
        with pytest.raises(LoginFailed):
            _login(world, login_id=login_id, password="anything")
    user_set_password_less.refresh_from_db()
    assert user_set_password_less.failed_login_count == 0


def test_a_locked_attempt_costs_less_than_one_hash_and_the_same_for_right_and_wrong(world, settings):
    """Checked with the production hasher: a locked account answers without hashing, so guessing
    while locked costs the server (nearly) nothing and tells the guesser nothing by time."""
    settings.PASSWORD_HASHERS = ["identity.hashers.Argon2idPasswordHasher"]
    user_set_password(user=world.user, password=world.password)
    tenant_update(tenant=world.tenant, failed_login_max_attempts=1000)

    def cost(password: str, error: type[Exception]) -> float:
        started = time.perf_counter()
        with pytest.raises(error):
            _login(world, password=password)
        return time.perf_counter() - started

    cost("wrong", LoginFailed)
    hashing = statistics.median(cost("wrong", LoginFailed) for _ in range(5))
    _lock(world)
    # The fastest locked attempts against the typical hash: other processes' load only slows samples.
    right = min(cost(world.password, LoginPrevented) for _ in range(9))
    wrong = min(cost("wrong", LoginPrevented) for _ in range(9))
    assert max(right, wrong) < hashing / 3, (right, wrong, hashing)


# --- change-password goes through the same door ------------------------------------------------


def _change(world, current, new="a brand new passphrase 7"):
    return user_change_password(
        tenant=world.tenant, login_id="ann@example.com", current_password=current, password=new
    )


def test_change_password_counts_failures_and_refuses_while_locked(world):
    for _ in range(world.tenant.failed_login_max_attempts):
        with pytest.raises(LoginFailed):
            _change(world, "wrong")
    with pytest.raises(LoginPrevented):
        _change(world, world.password)
    with pytest.raises(LoginPrevented):  # the login shares the lock
        _login(world)
    assert User.objects.get(pk=world.user.pk).check_password(world.password)


@pytest.mark.parametrize("login_id", ["ann@example.com", "nobody@example.com"])
@pytest.mark.parametrize("current", ["correct horse battery staple", "wrong"])
def test_change_password_validates_the_new_password_first(world, login_id, current):
    with pytest.raises(ValidationFailed) as info:
        user_change_password(
            tenant=world.tenant, login_id=login_id, current_password=current, password="short"
        )
    assert set(info.value.field_errors) == {"password"}
    assert User.objects.filter(pk=world.user.pk).values_list("failed_login_count", flat=True).get() == 0


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"is_active": False}, UserLocked),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, UserExpired),
    ],
)
def test_change_password_refuses_whom_login_refuses(world, change, error):
    User.objects.filter(pk=world.user.pk).update(**change)
    with pytest.raises(error):
        _change(world, world.password)
    assert User.objects.get(pk=world.user.pk).check_password(world.password)


def test_change_password_with_the_right_password_clears_the_count(world):
    with pytest.raises(LoginFailed):
        _change(world, "wrong")
    _change(world, world.password)
    user = User.objects.get(pk=world.user.pk)
    assert user.check_password("a brand new passphrase 7") and user.failed_login_count == 0


# --- the admin console checks passwords through the same door -----------------------------------


def test_console_sign_in_counts_failures_and_honours_the_lock(default_tenant):
    from django.contrib.auth import authenticate

    staff = UserFactory(email="boss@example.com", is_staff=True)
    for _ in range(default_tenant.failed_login_max_attempts):
        assert authenticate(username="boss@example.com", password="wrong") is None
    staff.refresh_from_db()
    assert staff.is_locked(timezone.now())
    assert authenticate(username="boss@example.com", password=DEFAULT_PASSWORD) is None
    User.objects.filter(pk=staff.pk).update(locked_until=None)
    assert authenticate(username="BOSS@example.com", password=DEFAULT_PASSWORD) == staff


def test_change_password_compares_with_the_accounts_attributes_only_after_the_proof(world):
    """Before the current password is checked, the new one is judged the same way for every login
    id (against the login id alone), so a 400 cannot tell whether an account exists or what its
    names are; the account's own attributes are compared once the caller has proven the password."""
    User.objects.filter(pk=world.user.pk).update(first_name="Marmaduke")
    with pytest.raises(LoginFailed):
        _change(world, "wrong", new="Marmaduke1")
    with pytest.raises(ValidationFailed) as info:
        _change(world, world.password, new="Marmaduke1")
    assert set(info.value.field_errors) == {"password"}
    user = User.objects.get(pk=world.user.pk)
    assert user.check_password(world.password) and user.failed_login_count == 0  # the proof cleared it


# --- the login's target: which tenant and application the caller may log in to -----------------


@pytest.mark.parametrize("case", ["foreign application", "unknown application", "no api key"])
def test_login_refuses_a_target_out_of_the_callers_reach_before_counting(world, case):
    foreign = ApplicationFactory(tenant=TenantFactory())
    locked = Caller.build(api_key=make_api_key(tenant=world.tenant)[0])
    caller, application_id, error = {
        "foreign application": (locked, foreign.pk, ValidationFailed),
        "unknown application": (locked, uuid.uuid4(), ValidationFailed),
        "no api key": (Caller.build(header=str(world.tenant.pk)), world.application.pk, NotAuthenticated),
    }[case]
    with pytest.raises(error):
        login(caller=caller, application_id=application_id, login_id="ann@example.com", password="wrong")
    assert User.objects.get(pk=world.user.pk).failed_login_count == 0  # refused before any attempt
    assert not RefreshToken.objects.exists()


def test_login_ping_needs_an_api_key_and_an_application_in_reach(world):
    with pytest.raises(NotAuthenticated):
        login_ping(caller=Caller.build(), user_id=world.user.pk, application_id=world.application.pk)
    other = Caller.build(api_key=make_api_key(tenant=TenantFactory())[0])
    with pytest.raises(NotFound):
        login_ping(caller=other, user_id=world.user.pk, application_id=world.application.pk)
    stranger = UserFactory(tenant=TenantFactory(), email="bob@example.com")
    with pytest.raises(NotFound):  # a user of another tenant than the application's
        login_ping(caller=_caller(world), user_id=stranger.pk, application_id=world.application.pk)
    assert User.objects.get(pk=world.user.pk).last_login is None
