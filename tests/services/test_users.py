from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.db.models import QuerySet
from django.utils import timezone

from identity.exceptions import ValidationFailed
from identity.login_ids import login_id_key
from identity.models import RefreshToken, User
from identity.services.tenants import tenant_update
from identity.services.users import user_create, user_set_password, user_update
from tests.factories import DEFAULT_PASSWORD, ApplicationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _refresh_token(user, application):
    now = timezone.now()
    return RefreshToken.objects.create(
        family_id=uuid.uuid4(),
        tenant=user.tenant,
        application=application,
        user=user,
        token_digest=uuid.uuid4().hex * 2,
        started_at=now,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )


@pytest.mark.parametrize(
    ("email", "code"),
    [("", "[blank]user.email"), ("not-an-email", "[invalid]user.email"), ("a@b@c", "[invalid]user.email")],
)
def test_bad_email(default_tenant, email, code):
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email=email, password=DEFAULT_PASSWORD)
    assert info.value.field_errors["user.email"][0].code == code


def test_duplicate_email_and_username_ignore_case(default_tenant):
    UserFactory(email="ann@example.com", username="ann")
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email="ANN@example.com", password=DEFAULT_PASSWORD)
    assert info.value.field_errors["user.email"][0].code == "[duplicate]user.email"
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email="b@example.com", username="ANN", password=DEFAULT_PASSWORD)
    assert info.value.field_errors["user.username"][0].code == "[duplicate]user.username"
    # The same email in another tenant is a different person.
    user_create(tenant=TenantFactory(), email="ann@example.com", password=DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("email", "username", "field"),
    [("ANN@example.com", None, "user.email"), ("b@example.com", "ANN", "user.username")],
)
def test_a_unique_violation_behind_the_checks_is_a_duplicate_error(
    default_tenant, monkeypatch, email, username, field
):
    """A twin created between the check and the insert (a race) hits the constraint: the answer is
    the same `[duplicate]` field error, not an IntegrityError (a 500)."""
    UserFactory(email="ann@example.com", username="ann")
    before = list(User.objects.values_list("id", "email", "username"))
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the check loses the race
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email=email, username=username, password=DEFAULT_PASSWORD)
    assert info.value.field_errors[field][0].code == f"[duplicate]{field}"
    assert list(User.objects.values_list("id", "email", "username")) == before


def test_an_id_taken_behind_the_checks_is_a_duplicate_error(default_tenant, monkeypatch):
    """The same race on a caller-chosen id (POST /api/user/{userId}): `[duplicate]userId`."""
    taken = UserFactory(email="ann@example.com")
    before = list(User.objects.values_list("id", "email", "username"))
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the check loses the race
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email="b@example.com", user_id=taken.pk, password=DEFAULT_PASSWORD)
    assert info.value.field_errors["userId"][0].code == "[duplicate]userId"
    assert list(User.objects.values_list("id", "email", "username")) == before


@pytest.mark.parametrize(
    "value",
    [
        "\u212aim@example.com",
        "\uff4bim@example.com",
        "\ufb01@example.com",
        "\U0001d424im@example.com",
        "\u0131an@example.com",  # dotless i: NFKC-stable, but not ASCII
        "\u0130an@example.com",
        "\u017fam@example.com",
    ],
)
def test_look_alike_emails_are_refused(default_tenant, value):
    """Refused, where they were accepted and (KELVIN SIGN) collided with kim@ in PostgreSQL."""
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email=value, password=DEFAULT_PASSWORD)
    assert info.value.field_errors["user.email"][0].code == "[invalid]user.email"
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Kim@Example.COM", "kim@example.com"),
        ("\u212aim@example.com", "kim@example.com"),
        ("  stra\u00dfe ", "strasse"),
        ("\u0130stanbul", "i\u0307stanbul"),
    ],
)
def test_login_id_key_is_nfkc_case_folded(typed, key):
    assert login_id_key(typed) == key
    assert login_id_key(login_id_key(typed)) == key


@pytest.mark.parametrize("password", ["short", "12345678901", "password"])
def test_weak_passwords_are_refused(default_tenant, password):
    with pytest.raises(ValidationFailed) as info:
        user_create(tenant=default_tenant, email="x@example.com", password=password)
    assert "user.password" in info.value.field_errors
    assert not User.objects.filter(email="x@example.com").exists()


def test_user_without_password_cannot_log_in_with_one(default_tenant):
    user = user_create(tenant=default_tenant, email="x@example.com", password=None)
    assert not user.has_usable_password()


def test_argon2id_is_the_production_hasher(default_tenant, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    user = user_create(tenant=default_tenant, email="x@example.com", password=DEFAULT_PASSWORD)
    assert user.password.startswith("argon2$argon2id$")
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("revoke", [True, False])
def test_password_change_applies_the_tenant_revocation_policy(revoke):
    tenant = TenantFactory()
    tenant_update(tenant=tenant, revoke_on_password_changed=revoke)
    user = UserFactory(tenant=tenant)
    token = _refresh_token(user, ApplicationFactory(tenant=tenant))
    user_set_password(user=user, password="another good passphrase")
    token.refresh_from_db()
    assert (token.revoked_at is not None) is revoke
    assert user.check_password("another good passphrase")


def test_deactivation_revokes_refresh_tokens():
    user = UserFactory()
    token = _refresh_token(user, ApplicationFactory())
    user_update(user=user, is_active=False)
    token.refresh_from_db()
    assert token.revoke_reason == "user_deactivated"


def test_internationalised_domains_and_usernames_are_kept(default_tenant):
    user = user_create(
        tenant=default_tenant,
        email="ann@b\u00fccher.example",
        username="J\u00f6rg",
        password=DEFAULT_PASSWORD,
    )
    assert (user.email_key, user.username_key) == ("ann@b\u00fccher.example", "j\u00f6rg")
    with pytest.raises(ValidationFailed) as info:
        user_create(
            tenant=default_tenant, email="x@example.com", username="J\u00d6RG", password=DEFAULT_PASSWORD
        )
    assert info.value.field_errors["user.username"][0].code == "[duplicate]user.username"
