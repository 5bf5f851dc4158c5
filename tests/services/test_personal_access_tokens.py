"""Personal access tokens (issue 12): creation rules, expiry choices, revocation, the allowlist,
exchange, bots, and no SQL when a PAT is verified."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.exceptions import LoginFailed, NotAuthenticated, TokenInvalid, ValidationFailed
from identity.models import PersonalAccessToken, RevokedToken, TokenExpiry, User
from identity.services import personal_access_tokens as pats
from identity.services.access_tokens import access_token_verify
from identity.services.jwt import jwt_issue, jwt_validate
from identity.services.login import password_login
from identity.services.personal_access_tokens import (
    EXPIRY_LIFETIMES,
    JWT_TOKEN_TYPE,
    address_allowed,
    pat_create,
    pat_exchange,
    pat_revoke,
    pat_verify,
    pats_revoke_for_user,
)
from identity.services.users import user_create, user_delete, user_set_password, user_update
from identity.signing import TokenKind
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def stamps(monkeypatch):
    """Usage stamps are recorded here instead of a background thread (which would talk to the test
    database from another connection); `pat_usage_record` is tested on its own."""
    recorded: list[tuple[str, object]] = []
    monkeypatch.setattr(pats, "usage_stamper", lambda jti, now: recorded.append((jti, now)))
    monkeypatch.setattr(pats, "_last_noted", {})
    return recorded


def header(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def snapshot() -> list:
    return list(PersonalAccessToken.objects.values_list("id", "name", "revoked_at", "last_used_at")) + list(
        RevokedToken.objects.values_list("jti", flat=True)
    )


@pytest.mark.parametrize("expiry", TokenExpiry.values)
def test_every_expiry_choice_gives_its_exp(world, expiry):
    now = timezone.now().replace(microsecond=0)
    created = pat_create(user=world.user, name="ci", expiry=expiry, now=now)
    claims = jwt_validate(token=created.value, now=now).claims
    lifetime = EXPIRY_LIFETIMES[expiry]
    if lifetime is None:
        assert "exp" not in claims
        assert created.token.expires_at is None
    else:
        assert claims["exp"] == int((now + lifetime).timestamp())
        assert created.token.expires_at == now + lifetime
    assert claims["jti"] == str(created.token.pk)
    assert header(created.value)["tkn"] == "pat"


def test_an_expired_pat_is_refused(world):
    now = timezone.now()
    created = pat_create(user=world.user, name="ci", expiry="OneHour", now=now)
    with pytest.raises(TokenInvalid):
        jwt_validate(token=created.value, now=now + timedelta(hours=1, seconds=10))


def test_the_value_is_not_stored(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    row = PersonalAccessToken.objects.filter(pk=created.token.pk).values()[0]
    assert all(created.value not in str(value) for value in row.values())
    assert created.value.split(".")[2] not in str(row)


def test_scopes_of_an_application_become_its_roles(world):
    created = pat_create(
        user=world.user, name="ci", expiry="7", scopes=["user"], application_id=world.application.pk
    )
    claims = jwt_validate(token=created.value, now=timezone.now()).claims
    assert claims["roles"] == ["user"]
    assert claims["applicationId"] == str(world.application.pk)
    assert claims["scope"] == "user"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"expiry": "2"}, "expiry", "[invalid]expiry"),
        ({"expiry": None}, "expiry", "[invalid]expiry"),
        ({"expiry": ["30"]}, "expiry", "[invalid]expiry"),
        ({"name": ""}, "name", "[blank]name"),
        ({"name": "   "}, "name", "[blank]name"),
        ({"name": 12}, "name", "[blank]name"),
        ({"name": "x" * 192}, "name", "[invalid]name"),
        ({"name": "bad\x00name"}, "name", "[invalid]name"),
        ({"scopes": ["admin"]}, "scopes", "[invalid]scopes"),  # not granted to the user
        ({"scopes": "user"}, "scopes", "[invalid]scopes"),
        ({"scopes": [{"a": 1}]}, "scopes", "[invalid]scopes"),
        ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ips", "[invalid]allowed_ips"),
        ({"allowed_ips": ["example.com"]}, "allowed_ips", "[invalid]allowed_ips"),
        ({"allowed_ips": "10.0.0.1"}, "allowed_ips", "[invalid]allowed_ips"),
        ({"allowed_ips": ["10.0.0.1"] * 51}, "allowed_ips", "[invalid]allowed_ips"),
        ({"application_id": uuid.uuid4()}, "application", "[invalid]application"),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(world, changes, field, code):
    pat_create(user=world.user, name="existing", expiry="30")
    before = snapshot()
    arguments = {"user": world.user, "name": "ci", "expiry": "30", **changes}
    with pytest.raises(ValidationFailed) as raised:
        pat_create(**arguments)
    assert raised.value.field_errors[field][0].code == code
    assert snapshot() == before


def test_a_duplicate_name_is_refused_until_the_first_is_revoked(world):
    first = pat_create(user=world.user, name="ci", expiry="30")
    before = snapshot()
    with pytest.raises(ValidationFailed) as raised:
        pat_create(user=world.user, name=" ci ", expiry="30")
    assert raised.value.field_errors["name"][0].code == "[duplicate]name"
    assert snapshot() == before
    pat_revoke(token=first.token, by="test")
    assert pat_create(user=world.user, name="ci", expiry="30").token.name == "ci"


def test_a_scope_granted_by_another_application_is_not_held_for_this_one(world):
    from identity.services.applications import RoleSpec, application_create
    from identity.services.registrations import registration_create

    other = application_create(tenant=world.tenant, name="Other", roles=[RoleSpec("ops", is_default=True)])
    registration_create(user=world.user, application=other)
    pat_create(user=world.user, name="any", expiry="30", scopes=["ops", "user"])  # held somewhere
    with pytest.raises(ValidationFailed):
        pat_create(
            user=world.user, name="app", expiry="30", scopes=["ops"], application_id=world.application.pk
        )


def test_a_deactivated_user_gets_no_token(world):
    user_update(user=world.user, is_active=False)
    with pytest.raises(ValidationFailed) as raised:
        pat_create(user=world.user, name="ci", expiry="30")
    assert "user" in raised.value.field_errors
    assert not PersonalAccessToken.objects.exists()


def test_revocation_is_refused_at_once_and_recorded(world):
    created = pat_create(user=world.user, name="ci", expiry="Unlimited")
    now = timezone.now()
    assert jwt_validate(token=created.value, now=now).kind == TokenKind.PAT
    pat_revoke(token=created.token, by="api key abc")
    with pytest.raises(TokenInvalid):
        jwt_validate(token=created.value, now=now)
    with pytest.raises(TokenInvalid):
        pat_verify(token=created.value, address="127.0.0.1", now=now)
    row = PersonalAccessToken.objects.get(pk=created.token.pk)
    assert row.revoked_at is not None and row.revoked_by == "api key abc"
    revoked = RevokedToken.objects.get(jti=str(created.token.pk))
    assert revoked.kind == "pat" and revoked.expires_at is None  # Unlimited: refused for good
    first = row.revoked_at
    pat_revoke(token=row, by="again")
    row.refresh_from_db()
    assert row.revoked_at == first and row.revoked_by == "api key abc"


@pytest.mark.parametrize("how", ["deactivate", "delete"])
def test_deactivating_or_deleting_the_user_ends_every_pat(world, how):
    tokens = [pat_create(user=world.user, name=f"t{i}", expiry="30").value for i in range(3)]
    other = pat_create(user=UserFactory(tenant=world.tenant), name="t0", expiry="30").value
    if how == "deactivate":
        user_update(user=world.user, is_active=False)
    else:
        user_delete(user=world.user)
    now = timezone.now()
    for token in tokens:
        with pytest.raises(TokenInvalid):
            jwt_validate(token=token, now=now)
    assert jwt_validate(token=other, now=now).kind == TokenKind.PAT
    assert RevokedToken.objects.filter(kind="pat").count() == 3


def test_a_password_change_ends_pats_when_the_tenant_says_so(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    world.tenant.revoke_access_tokens_on_password_changed = True
    world.tenant.save()
    world.user.tenant = world.tenant
    user_set_password(user=world.user, password="another long passphrase 42")
    with pytest.raises(TokenInvalid):
        jwt_validate(token=created.value, now=timezone.now())
    assert PersonalAccessToken.objects.get(pk=created.token.pk).revoked_by == "password changed"


def test_a_password_change_keeps_pats(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    user_set_password(user=world.user, password="another long passphrase 42")
    assert jwt_validate(token=created.value, now=timezone.now()).kind == TokenKind.PAT
    assert pats_revoke_for_user(user=world.user) == 1


@pytest.mark.parametrize(
    ("allowed", "address", "ok"),
    [
        ([], None, True),
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], "11.1.2.3", False),
        (["10.0.0.0/8"], None, False),
        (["10.0.0.0/8"], "not an ip", False),
        (["192.0.2.7"], "192.0.2.7", True),
        (["192.0.2.7"], "::ffff:192.0.2.7", True),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "10.0.0.1", False),
    ],
)
def test_address_allowed(allowed, address, ok):
    assert address_allowed(address=address, allowed=allowed) is ok


def test_the_allowlist_is_enforced_by_validate(world):
    created = pat_create(user=world.user, name="ci", expiry="30", allowed_ips=["10.0.0.0/8"])
    now = timezone.now()
    assert jwt_validate(token=created.value, now=now, address="10.9.9.9").kind == TokenKind.PAT
    with pytest.raises(TokenInvalid):
        jwt_validate(token=created.value, now=now, address="192.0.2.1")
    assert created.token.allowed_ips == ["10.0.0.0/8"]


def test_verifying_a_pat_costs_no_query(world, stamps):
    created = pat_create(user=world.user, name="ci", expiry="Unlimited", allowed_ips=["127.0.0.1"])
    now = timezone.now()
    jwt_validate(token=created.value, now=now, address="127.0.0.1")  # key and revocation sets loaded
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            jwt_validate(token=created.value, now=now, address="127.0.0.1")
            pat_verify(token=created.value, address="127.0.0.1", now=now)
    assert len(queries) == 0
    assert len(stamps) == 1  # one stamp a minute per token and process


def test_usage_is_recorded_at_most_once_a_minute(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    now = timezone.now()
    jti = str(created.token.pk)
    assert pats.pat_usage_record(uses={jti: now}) == 1
    assert pats.pat_usage_record(uses={jti: now + timedelta(seconds=30)}) == 0
    assert pats.pat_usage_record(uses={jti: now + timedelta(seconds=61)}) == 1
    created.token.refresh_from_db()
    assert created.token.last_used_at == now + timedelta(seconds=61)


def test_usage_stamps_lock_rows_in_id_order(world):
    """Two workers stamping the same tokens in one transaction each must take the row locks in the
    same order, or PostgreSQL breaks the deadlock by failing one of them (seen under the bench)."""
    jtis = [str(pat_create(user=world.user, name=f"t{i}", expiry="30").token.pk) for i in range(4)]
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        assert pats.pat_usage_record(uses={jti: now for jti in sorted(jtis, reverse=True)}) == 4
    updated = [
        next(j for j in jtis if j.replace("-", "") in q["sql"].replace("-", ""))
        for q in queries
        if q["sql"].startswith("UPDATE")
    ]
    assert updated == sorted(jtis)


def test_a_pat_is_not_a_user_access_token_where_one_is_required(world):
    created = pat_create(user=world.user, name="ci", expiry="30")
    now = timezone.now()
    with pytest.raises(TokenInvalid):
        access_token_verify(token=created.value, now=now)  # default kinds: user access tokens only
    verified = access_token_verify(token=created.value, now=now, kinds=(TokenKind.ACCESS, TokenKind.PAT))
    with pytest.raises(NotAuthenticated):
        jwt_issue(verified=verified, application_id=str(world.application.pk), refresh_value=None, now=now)


def test_exchange_gives_a_short_lived_token_carrying_the_scopes(world):
    created = pat_create(
        user=world.user, name="ci", expiry="Unlimited", scopes=["user"], application_id=world.application.pk
    )
    now = timezone.now().replace(microsecond=0)
    access = pat_exchange(
        subject_token=created.value, subject_token_type=JWT_TOKEN_TYPE, address="127.0.0.1", now=now
    )
    claims = jwt_validate(token=access.value, now=now).claims
    assert claims["exp"] - claims["iat"] == 300
    assert claims["roles"] == ["user"] and claims["scope"] == "user"
    assert claims["pat"] == str(created.token.pk)
    assert claims["act"] == {"sub": f"pat:{created.token.pk}"}
    assert header(access.value)["tkn"] == "access"
    # It cannot be widened through /api/jwt/issue, and it dies with its PAT.
    verified = access_token_verify(token=access.value, now=now)
    with pytest.raises(NotAuthenticated):
        jwt_issue(verified=verified, application_id=str(world.application.pk), refresh_value=None, now=now)
    pat_revoke(token=created.token, by="test")
    with pytest.raises(TokenInvalid):
        jwt_validate(token=access.value, now=now)


def test_exchange_never_outlives_the_pat(world):
    now = timezone.now().replace(microsecond=0)
    created = pat_create(user=world.user, name="ci", expiry="OneHour", now=now - timedelta(minutes=58))
    access = pat_exchange(
        subject_token=created.value, subject_token_type=JWT_TOKEN_TYPE, address="127.0.0.1", now=now
    )
    assert access.claims["exp"] == int(created.token.expires_at.timestamp())


@pytest.mark.parametrize(
    ("token_type", "error"),
    [
        ("urn:ietf:params:oauth:token-type:access_token", ValidationFailed),
        (None, ValidationFailed),
    ],
)
def test_exchange_refuses_other_token_types(world, token_type, error):
    created = pat_create(user=world.user, name="ci", expiry="30")
    with pytest.raises(error):
        pat_exchange(subject_token=created.value, subject_token_type=token_type, address=None)


def test_exchange_refuses_a_user_access_token_and_a_revoked_pat(world):
    access = password_login(
        tenant=world.tenant, application=world.application, login_id=world.user.email, password=world.password
    ).access_token
    assert access is not None
    with pytest.raises(TokenInvalid):
        pat_exchange(subject_token=access.value, subject_token_type=JWT_TOKEN_TYPE, address=None)
    created = pat_create(user=world.user, name="ci", expiry="30")
    pat_revoke(token=created.token, by="test")
    with pytest.raises(TokenInvalid):
        pat_exchange(subject_token=created.value, subject_token_type=JWT_TOKEN_TYPE, address=None)


def test_a_bot_has_no_password_and_cannot_log_in(world):
    bot = user_create(tenant=world.tenant, email="ci-bot@example.com", password=None, is_bot=True)
    assert not bot.has_usable_password()
    with pytest.raises(ValidationFailed):
        user_create(tenant=world.tenant, email="bot2@example.com", password="long enough pass 1", is_bot=True)
    with pytest.raises(ValidationFailed):
        user_set_password(user=bot, password="long enough pass 1")
    assert not User.objects.filter(email="bot2@example.com").exists()
    with pytest.raises(LoginFailed):
        password_login(tenant=world.tenant, application=None, login_id=bot.email, password="anything at all")
    # Even one whose row somehow holds a password is refused like a wrong password.
    User.objects.filter(pk=bot.pk).update(password=world.user.password)
    with pytest.raises(LoginFailed):
        password_login(tenant=world.tenant, application=None, login_id=bot.email, password=world.password)
    created = pat_create(user=bot, name="ci", expiry="30")
    assert jwt_validate(token=created.value, now=timezone.now()).claims["bot"] is True
