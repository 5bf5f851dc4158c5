"""Encryption at rest for private signing keys and HMAC secrets (AES-256-GCM).

The stored form is `v1.<kek id>.<base64url(nonce || ciphertext)>`. The key-encryption key (KEK)
id is the first 8 hex characters of SHA-256 over the KEK, so during a KEK rotation old blobs
still find their key in `IDENTITY_KEY_ENCRYPTION_KEYS_OLD`. The caller passes associated data
(the signing key's id) so a ciphertext copied onto another row fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from identity import app_settings

VERSION = "v1"
NONCE_BYTES = 12


class KeyDecryptionError(Exception):
    """The blob is damaged, belongs to another row, or was made under a KEK we no longer have."""


def parse_kek(encoded: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("A key-encryption key must be URL-safe base64.") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured("A key-encryption key must decode to exactly 32 bytes (AES-256).")
    return raw


def kek_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:8]


def generate_kek() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


@lru_cache(maxsize=8)
def _keyring(current: str, old: tuple[str, ...]) -> tuple[str, dict[str, AESGCM]]:
    ring: dict[str, AESGCM] = {}
    for encoded in (current, *old):
        raw = parse_kek(encoded)
        ring.setdefault(kek_id(raw), AESGCM(raw))
    return kek_id(parse_kek(current)), ring


def _current_keyring() -> tuple[str, dict[str, AESGCM]]:
    current = settings.IDENTITY_KEY_ENCRYPTION_KEY
    if not current:
        raise ImproperlyConfigured("IDENTITY_KEY_ENCRYPTION_KEY is not set.")
    return _keyring(current, app_settings.key_encryption_keys_old())


def encrypt_secret(plaintext: bytes, *, associated_data: bytes) -> str:
    current_id, ring = _current_keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring[current_id].encrypt(nonce, plaintext, associated_data)
    return f"{VERSION}.{current_id}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def decrypt_secret(blob: str, *, associated_data: bytes) -> bytes:
    try:
        version, key_id, payload = blob.split(".", 2)
        raw = base64.urlsafe_b64decode(payload)
    except (ValueError, binascii.Error) as exc:
        raise KeyDecryptionError("Malformed encrypted key material.") from exc
    if version != VERSION:
        raise KeyDecryptionError(f"Unknown encryption format {version!r}.")
    _, ring = _current_keyring()
    aead = ring.get(key_id)
    if aead is None:
        raise KeyDecryptionError(f"No key-encryption key with id {key_id} is configured.")
    try:
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data)
    except InvalidTag as exc:
        raise KeyDecryptionError("Encrypted key material failed authentication.") from exc


def encrypted_under_current_key(blob: str) -> bool:
    current_id, _ = _current_keyring()
    return blob.split(".", 2)[1:2] == [current_id]
