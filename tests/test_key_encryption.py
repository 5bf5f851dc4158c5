from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from identity.key_encryption import (
    KeyDecryptionError,
    decrypt_secret,
    encrypt_secret,
    encrypted_under_current_key,
    generate_kek,
    parse_kek,
)


def test_round_trip_and_fresh_nonce():
    a = encrypt_secret(b"private", associated_data=b"row-1")
    b = encrypt_secret(b"private", associated_data=b"row-1")
    assert a != b  # a new nonce every time
    assert b"private" not in a.encode()
    assert decrypt_secret(a, associated_data=b"row-1") == b"private"
    assert encrypted_under_current_key(a)


def test_ciphertext_bound_to_its_row():
    blob = encrypt_secret(b"private", associated_data=b"row-1")
    with pytest.raises(KeyDecryptionError):
        decrypt_secret(blob, associated_data=b"row-2")


@pytest.mark.parametrize(
    "mangle", [lambda s: s[:-2] + "AA", lambda s: "v2" + s[2:], lambda s: "garbage", lambda s: ""]
)
def test_tampered_or_malformed_blobs_fail(mangle):
    blob = encrypt_secret(b"private", associated_data=b"row")
    with pytest.raises(KeyDecryptionError):
        decrypt_secret(mangle(blob), associated_data=b"row")


def test_old_keys_still_decrypt_during_rotation(settings):
    old = settings.IDENTITY_KEY_ENCRYPTION_KEY
    blob = encrypt_secret(b"s", associated_data=b"r")
    settings.IDENTITY_KEY_ENCRYPTION_KEY = generate_kek()
    with pytest.raises(KeyDecryptionError):
        decrypt_secret(blob, associated_data=b"r")
    settings.IDENTITY_KEY_ENCRYPTION_KEYS_OLD = [old]
    assert decrypt_secret(blob, associated_data=b"r") == b"s"
    assert not encrypted_under_current_key(blob)


@pytest.mark.parametrize("value", ["", "short", "!!!!", "a" * 44])
def test_bad_key_encryption_keys_are_refused(value):
    with pytest.raises(ImproperlyConfigured):
        parse_kek(value)
