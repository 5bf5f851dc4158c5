"""users_import: all or nothing, existing hashes kept and upgraded at the first login, every
problem of a batch named on its own path with the database left as it was."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import replace

import bcrypt
import pytest
from django.contrib.auth.hashers import identify_hasher

from identity.caller import Caller
from identity.exceptions import LoginFailed, ValidationFailed
from identity.models import APIKey, Registration, User
from identity.services.login import login
from identity.services.user_import import ImportedRegistration, ImportedUser, users_import
from tests.factories import ApplicationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "imported passphrase 7"
SALT = base64.b64encode(b"sixteen byte salt").decode()


def _pbkdf2_user(email: str, **changes) -> ImportedUser:
    digest = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(SALT), 1000, 32)
    user = ImportedUser(email=email, password=base64.b64encode(digest).decode(), salt=SALT,
                        encryption_scheme="salted-pbkdf2-hmac-sha256", factor=1000)  # fmt: skip
    return replace(user, **changes)


def _bcrypt_user(email: str) -> ImportedUser:
    whole = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    return ImportedUser(
        email=email, password=whole[29:], salt=whole[7:29], encryption_scheme="bcrypt", factor=4
    )


def _caller(world) -> Caller:
    """The world's global API key naming the world's tenant, as the login API would build it."""
    return Caller.build(api_key=APIKey.objects.get(name="world"), header=str(world.tenant.pk))


def _counts() -> tuple[int, int]:
    return User.objects.count(), Registration.objects.count()


def test_imports_users_with_registrations_and_hashes(world):
    registration = ImportedRegistration(application_id=world.application.pk)
    admin = ImportedRegistration(application_id=world.application.pk, roles=["ADMIN"])
    created = users_import(
        tenant=world.tenant,
        users=[
            _pbkdf2_user("Bob@Example.com", username="bob", registrations=[registration],
                         fields={"first_name": "Bob", "verified": True}),
            replace(_bcrypt_user("cy@example.com"), registrations=[admin]),
            ImportedUser(email="nopass@example.com"),
        ],
    )  # fmt: skip
    assert created == 3
    bob = User.objects.get(tenant=world.tenant, email_key="bob@example.com")
    assert bob.first_name == "Bob" and bob.verified and bob.username == "bob"
    assert identify_hasher(bob.password).algorithm == "fusionauth-pbkdf2-sha256"
    assert list(bob.registrations.values_list("roles", flat=True)) == [["user"]]  # default role
    cy = User.objects.get(email_key="cy@example.com")
    assert cy.password.startswith("bcrypt$$2b$04$")
    assert list(cy.registrations.values_list("roles", flat=True)) == [["admin"]]
    assert not User.objects.get(email_key="nopass@example.com").has_usable_password()


@pytest.mark.parametrize("make", [_pbkdf2_user, _bcrypt_user])
def test_first_login_verifies_the_imported_hash_and_rehashes_it_to_argon2id(world, settings, make):
    settings.PASSWORD_HASHERS = [
        "identity.hashers.Argon2idPasswordHasher",
        *settings.IMPORTED_PASSWORD_HASHERS,
    ]
    users_import(tenant=world.tenant, users=[make("dee@example.com")])
    with pytest.raises(LoginFailed):
        login(caller=_caller(world), application_id=None, login_id="dee@example.com", password="wrong one")
    before = User.objects.get(email_key="dee@example.com").password
    login(caller=_caller(world), application_id=None, login_id="dee@example.com", password=PASSWORD)
    after = User.objects.get(email_key="dee@example.com").password
    assert identify_hasher(before).algorithm != "argon2"
    assert after.startswith("argon2$argon2id$") and after != before
    login(caller=_caller(world), application_id=None, login_id="dee@example.com", password=PASSWORD)
    assert User.objects.get(email_key="dee@example.com").password == after  # upgraded once


def _hostile(world, other_app_id):
    app, u, reg = world.application.pk, _pbkdf2_user, ImportedRegistration
    return {
        "same email twice (case folded)": ([u("a@example.com"), u("A@example.com")], "users[1].email",
                                           "[duplicate]"),
        "same username twice": ([u("a@example.com", username="al"), u("b@example.com", username="AL")],
                                "users[1].username", "[duplicate]"),
        "same id twice": ([u("a@example.com", user_id=uuid.UUID(int=7)),
                           u("b@example.com", user_id=uuid.UUID(int=7))], "users[1].id", "[duplicate]"),
        "email already taken": ([u("ok@example.com"), u("ANN@example.com")], "users[1].email", "[duplicate]"),
        "username already taken": ([u("x@example.com", username="Ann")], "users[0].username", "[duplicate]"),
        "id already taken": ([u("x@example.com", user_id=world.user.pk)], "users[0].id", "[duplicate]"),
        "invalid email": ([u("not-an-email")], "users[0].email", "[invalid]"),
        "look-alike email": ([u("\u212aim@example.com")], "users[0].email", "[invalid]"),
        "unknown scheme": ([u("x@example.com", encryption_scheme="rot13")], "users[0].encryptionScheme",
                           "[invalid]"),
        "salt not base64": ([u("x@example.com", salt="***")], "users[0].salt", "[invalid]"),
        "other tenant's application": ([u("x@example.com", registrations=[reg(application_id=other_app_id)])],
                                       "users[0].registrations[0].applicationId", "[invalid]"),
        "registered twice": ([u("x@example.com", registrations=[reg(application_id=app)] * 2)],
                             "users[0].registrations[1].applicationId", "[duplicate]"),
        "unknown role": ([u("x@example.com", registrations=[reg(application_id=app, roles=["x"])])],
                         "users[0].registrations[0].roles", "[invalid]"),
    }  # fmt: skip


HOSTILE = [
    "same email twice (case folded)", "same username twice", "same id twice", "email already taken",
    "username already taken", "id already taken", "invalid email", "look-alike email", "unknown scheme",
    "salt not base64", "other tenant's application", "registered twice", "unknown role",
]  # fmt: skip


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_batches_change_nothing_and_name_the_user(world, case):
    other = ApplicationFactory(tenant=TenantFactory())
    users, path, code = _hostile(world, other.pk)[case]
    users = [*users, _pbkdf2_user("last@example.com")]  # a good user too: it must not stay behind
    before = _counts()
    with pytest.raises(ValidationFailed) as info:
        users_import(tenant=world.tenant, users=users, validate_db_constraints=True)
    assert path in info.value.field_errors, info.value.as_json()
    assert info.value.field_errors[path][0].code == f"{code}{path}"
    assert _counts() == before


def test_without_validate_db_constraints_the_database_refuses_as_a_whole(world):
    before = _counts()
    with pytest.raises(ValidationFailed) as info:
        users_import(
            tenant=world.tenant, users=[_pbkdf2_user("new@example.com"), _pbkdf2_user("ann@EXAMPLE.com")]
        )
    assert info.value.field_errors["users"][0].code == "[duplicate]users"
    # Named on PostgreSQL (by the constraint) and SQLite (by its columns) alike.
    assert info.value.field_errors["users"][0].message == "A user with an imported email already exists."
    assert _counts() == before


def test_the_same_email_in_another_tenant_is_no_clash(world):
    UserFactory(tenant=TenantFactory(), email="shared@example.com")
    assert users_import(tenant=world.tenant, users=[_pbkdf2_user("shared@example.com")],
                        validate_db_constraints=True) == 1  # fmt: skip


def test_staff_flags_cannot_be_imported(world):
    with pytest.raises(TypeError):
        users_import(tenant=world.tenant, users=[_pbkdf2_user("x@example.com", fields={"is_staff": True})])
    assert not User.objects.filter(email_key="x@example.com").exists()
