"""The official FusionAuth SDK against a live server: `import_users` brings users in with their
pbkdf2, bcrypt and salted-sha256 hashes, they log in with `login` and are re-hashed to Argon2id; the search
calls find them, and only them, for a tenant-locked key."""

from __future__ import annotations

import base64
import hashlib
import uuid

import bcrypt
import pytest
from django.contrib.auth.hashers import identify_hasher
from fusionauth.fusionauth_client import FusionAuthClient

from identity.models import User
from tests.factories import TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORDS = {
    "pbkdf2@example.com": "pbkdf2 passphrase 1",
    "bcrypt@example.com": "bcrypt passphrase 2",
    "sha256@example.com": "sha256 passphrase 3 é",
}


@pytest.fixture
def sdk(live_server, world, settings) -> FusionAuthClient:
    settings.PASSWORD_HASHERS = [
        "identity.hashers.Argon2idPasswordHasher",
        *settings.IMPORTED_PASSWORD_HASHERS,
    ]
    _, raw = make_api_key(name="migration", tenant=world.tenant)
    return FusionAuthClient(raw, live_server.url)


def _fusionauth_users(application_id: str) -> list[dict]:
    """Users as a FusionAuth export carries them: pbkdf2 (FusionAuth's default scheme), bcrypt
    split into factor, salt and hash, and salted-sha256 without a factor. The salted-sha256 hash is
    FusionAuth's construction (its BaseDigestPasswordEncryptor): SHA-256 applied `factor` times to
    UTF-8(password) ‖ base64-decoded salt, base64; a left-out factor is the encryptor's default,
    20,000."""
    salt = base64.b64encode(b"a sixteen b salt").decode()
    pbkdf2 = hashlib.pbkdf2_hmac(
        "sha256", PASSWORDS["pbkdf2@example.com"].encode(), base64.b64decode(salt), 24000
    )
    whole = bcrypt.hashpw(PASSWORDS["bcrypt@example.com"].encode(), bcrypt.gensalt(10)).decode()
    sha256 = PASSWORDS["sha256@example.com"].encode() + base64.b64decode(salt)
    for _round in range(20_000):
        sha256 = hashlib.sha256(sha256).digest()
    registration = {"applicationId": application_id, "roles": ["user"]}
    return [
        {"id": str(uuid.uuid4()), "email": "pbkdf2@example.com", "username": "pb", "firstName": "Pat",
         "password": base64.b64encode(pbkdf2).decode(), "salt": salt, "factor": 24000,
         "encryptionScheme": "salted-pbkdf2-hmac-sha256", "verified": True, "registrations": [registration]},
        {"email": "bcrypt@example.com", "firstName": "Bea", "password": whole[29:], "salt": whole[7:29],
         "factor": 10, "encryptionScheme": "bcrypt", "registrations": [registration]},
        {"email": "sha256@example.com", "password": base64.b64encode(sha256).decode(), "salt": salt,
         "encryptionScheme": "salted-sha256", "registrations": [registration]},
    ]  # fmt: skip


def test_imported_users_log_in_and_are_rehashed_to_argon2id(sdk, world):
    app = str(world.application.pk)
    response = sdk.import_users({"users": _fusionauth_users(app), "validateDbConstraints": True})
    assert response.status == 200, response.error_response
    for email, password in PASSWORDS.items():
        before = User.objects.get(email_key=email).password
        algorithms = {"fusionauth-pbkdf2-sha256", "bcrypt", "fusionauth-salted-sha256"}
        assert identify_hasher(before).algorithm in algorithms
        login = sdk.login({"loginId": email, "password": password, "applicationId": app})
        assert login.status == 200, login.error_response
        assert login.success_response["user"]["email"] == email and login.success_response["token"]
        after = User.objects.get(email_key=email).password
        assert after.startswith("argon2$argon2id$") and after != before
        again = sdk.login({"loginId": email, "password": password, "applicationId": app})
        assert again.status == 200 and User.objects.get(email_key=email).password == after


def test_a_wrong_password_leaves_the_imported_hash_alone(sdk, world):
    assert sdk.import_users({"users": _fusionauth_users(str(world.application.pk))}).status == 200
    before = User.objects.get(email_key="bcrypt@example.com").password
    wrong = sdk.login({"loginId": "bcrypt@example.com", "password": "not the passphrase"})
    assert wrong.status == 404
    assert User.objects.get(email_key="bcrypt@example.com").password == before


def test_a_refused_import_changes_nothing(sdk, world):
    users = _fusionauth_users(str(world.application.pk))
    users[1]["email"] = "PBKDF2@example.com"
    response = sdk.import_users({"users": users, "validateDbConstraints": True})
    assert response.status == 400
    assert response.error_response["fieldErrors"]["users[1].email"][0]["code"] == "[duplicate]users[1].email"
    assert not User.objects.filter(email_key__in=list(PASSWORDS)).exists()


def test_search_by_query_and_by_ids_see_only_the_keys_tenant(sdk, world):
    stranger = UserFactory(tenant=TenantFactory(), email="pat@elsewhere.example", first_name="Pat")
    assert sdk.import_users({"users": _fusionauth_users(str(world.application.pk))}).status == 200
    found = sdk.search_users_by_query(
        {"search": {"queryString": "pat", "numberOfResults": 10, "startRow": 0}}
    )
    assert found.status == 200, found.error_response
    assert [u["email"] for u in found.success_response["users"]] == ["pbkdf2@example.com"]
    assert found.success_response["total"] == 1
    every = sdk.search_users_by_query({"search": {"queryString": "*", "sortFields": [{"name": "email"}]}})
    emails = ["ann@example.com", "bcrypt@example.com", "pbkdf2@example.com", "sha256@example.com"]
    assert [u["email"] for u in every.success_response["users"]] == emails
    by_ids = sdk.search_users_by_ids([str(world.user.pk), str(stranger.pk)])
    assert by_ids.status == 200 and [u["id"] for u in by_ids.success_response["users"]] == [
        str(world.user.pk)
    ]


def test_unserved_user_paths_are_404_for_the_sdk(sdk, world):
    forgot = sdk.forgot_password({"loginId": "ann@example.com"})
    assert (forgot.status, forgot.error_response) == (404, None)
    verify = sdk.verify_email_address({"verificationId": "abc"})
    assert (verify.status, verify.error_response) == (404, None)
