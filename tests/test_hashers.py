"""Imported password hashes: each encoding verifies the right password, refuses a wrong one, and is
replaced by the preferred hasher's hash on the first right check (Django's must-update path)."""

from __future__ import annotations

import base64
import hashlib

import bcrypt
import pytest
from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    PBKDF2PasswordHasher,
    check_password,
    identify_hasher,
)

from identity.hashers import UnsupportedHash, imported_password

PASSWORD = "imported passphrase 7"
ALGORITHMS = {"fusionauth-pbkdf2-sha256", "fusionauth-salted-sha256", "bcrypt", "pbkdf2_sha256", "argon2"}
SALT = base64.b64encode(b"0123456789abcdef").decode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _fusionauth_pbkdf2(password: str, factor: int, length: int = 32) -> str:
    return _b64(hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(SALT), factor, length))


def _fusionauth_sha256(password: str, factor: int) -> str:
    digest = password.encode() + base64.b64decode(SALT)
    for _ in range(factor):
        digest = hashlib.sha256(digest).digest()
    return _b64(digest)


def _bcrypt_parts(password: str, cost: int = 4) -> tuple[str, str, int]:
    whole = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()
    return whole[7:29], whole[29:], cost  # FusionAuth's salt and hash fields


def _encodings() -> dict[str, str]:
    """Every supported import, for PASSWORD, built with the reference libraries (not our hashers)."""
    salt, checksum, cost = _bcrypt_parts(PASSWORD)
    return {
        "salted-pbkdf2-hmac-sha256": imported_password(
            password=_fusionauth_pbkdf2(PASSWORD, 1000), salt=SALT, scheme="salted-pbkdf2-hmac-sha256",
            factor=1000),
        "salted-pbkdf2-hmac-sha256-512": imported_password(
            password=_fusionauth_pbkdf2(PASSWORD, 1000, 64), salt=SALT,
            scheme="salted-pbkdf2-hmac-sha256-512", factor=1000),
        "default scheme (pbkdf2, 24000)": imported_password(
            password=_fusionauth_pbkdf2(PASSWORD, 24000), salt=SALT, scheme=None, factor=None),
        "salted-sha256": imported_password(
            password=_fusionauth_sha256(PASSWORD, 3), salt=SALT, scheme="salted-sha256", factor=3),
        "salted-sha256 without a factor (FusionAuth's default, 20000)": imported_password(
            password=_fusionauth_sha256(PASSWORD, 20000), salt=SALT, scheme="salted-sha256", factor=None),
        "bcrypt split": imported_password(password=checksum, salt=salt, scheme="bcrypt", factor=cost),
        "bcrypt whole": imported_password(
            password=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(), salt=None,
            scheme="bcrypt", factor=None),
        "django pbkdf2_sha256": imported_password(
            password=PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", 1000), salt=None, scheme=None,
            factor=None),
        "django argon2": imported_password(
            password=Argon2PasswordHasher().encode(PASSWORD, "saltsaltsalt"), salt=None, scheme=None,
            factor=None),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_encodings()))
def test_imported_hash_verifies_then_is_rehashed_with_the_preferred_hasher(name, settings):
    settings.PASSWORD_HASHERS = [
        "identity.hashers.Argon2idPasswordHasher",
        *settings.IMPORTED_PASSWORD_HASHERS,
    ]
    encoded = _encodings()[name]
    assert identify_hasher(encoded).algorithm in ALGORITHMS
    rehashed: list[str] = []
    assert not check_password("not the passphrase", encoded, setter=rehashed.append)
    assert rehashed == []
    assert check_password(PASSWORD, encoded, setter=rehashed.append)
    assert rehashed == [PASSWORD]  # Django's must-update path: the model saves an Argon2id hash


def test_the_stored_form_keeps_the_imported_hash_as_it_came():
    digest = _fusionauth_pbkdf2(PASSWORD, 1000)
    stored = imported_password(password=digest, salt=SALT, scheme="salted-pbkdf2-hmac-sha256", factor=1000)
    assert stored == f"fusionauth-pbkdf2-sha256$1000${SALT}${digest}"


def test_bcrypt_refuses_a_password_beyond_72_bytes_without_an_error():
    salt, checksum, cost = _bcrypt_parts("a" * 72)
    encoded = imported_password(password=checksum, salt=salt, scheme="bcrypt", factor=cost)
    assert check_password("a" * 72, encoded)
    assert not check_password("a" * 73, encoded)


def test_no_password_is_an_unusable_one():
    encoded = imported_password(password=None, salt=None, scheme=None, factor=None)
    assert encoded.startswith("!") and not check_password("", encoded)


@pytest.mark.parametrize(
    ("password", "salt", "scheme", "factor", "field"),
    [
        ("abc", SALT, "md5-crypt", 1, "encryptionScheme"),
        ("abc", SALT, "salted-md5", 1, "encryptionScheme"),
        ("not base64!", SALT, "salted-sha256", 1, "password"),
        (_fusionauth_sha256(PASSWORD, 1), None, "salted-sha256", 1, "salt"),
        (_fusionauth_sha256(PASSWORD, 1), "%%%", "salted-sha256", 1, "salt"),
        (_fusionauth_sha256(PASSWORD, 1), SALT, "salted-sha256", 0, "factor"),
        (_fusionauth_sha256(PASSWORD, 1), SALT, "salted-pbkdf2-hmac-sha256", 10**9, "factor"),
        ("x" * 31, "y" * 22, "bcrypt", None, "factor"),
        ("x" * 31, "y" * 22, "bcrypt", 3, "factor"),
        ("x" * 31, "y" * 22, "bcrypt", 31, "factor"),
        ("x" * 31, "short", "bcrypt", 10, "salt"),
        ("x$" * 15, "y" * 22, "bcrypt", 10, "password"),
        ("plain text password", None, None, None, "salt"),
    ],
)
def test_unusable_imports_name_the_field(password, salt, scheme, factor, field):
    with pytest.raises(UnsupportedHash) as info:
        imported_password(password=password, salt=salt, scheme=scheme, factor=factor)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        ("pbkdf2_sha256$abc$$", "malformed"),
        ("pbkdf2_sha256$99999999999$c2FsdA$aGFzaA==", "costs"),
        ("pbkdf2_sha256$20000000$c2FsdA$aGFzaA==", "costs"),
        ("pbkdf2_sha256$1000$c2FsdA$", "malformed"),
        ("pbkdf2_sha256$1000$c2FsdA$%%%", "malformed"),
        ("pbkdf2_sha1$0$c2FsdA$aGFzaA==", "costs"),
        ("argon2$garbage", "malformed"),
        ("argon2$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "costs"),
        ("argon2$argon2id$v=19$m=19456,t=99,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "costs"),
        ("bcrypt$$2b$31$" + "a" * 53, "costs"),
        ("bcrypt_sha256$$2b$xx$" + "a" * 53, "malformed"),
        ("scrypt$16384$salt$8$5$%%%", "malformed"),
        ("scrypt$3$salt$8$5$aGFzaA==", "costs"),
        ("scrypt$1048576$salt$8$1$aGFzaA==", "costs"),
        ("scrypt$16384$salt$8$99$aGFzaA==", "costs"),
    ],
)
def test_a_django_hash_that_would_fail_or_stall_a_login_is_refused_at_import(encoded, why):
    with pytest.raises(UnsupportedHash, match=why) as info:
        imported_password(password=encoded, salt=None, scheme=None, factor=None)
    assert info.value.field == "password"


def test_a_damaged_stored_hash_is_a_wrong_password_not_an_error():
    assert not check_password(PASSWORD, "fusionauth-pbkdf2-sha256$1000$%%%$%%%")
    assert not check_password(PASSWORD, "fusionauth-salted-sha256$0$" + SALT + "$" + SALT)
