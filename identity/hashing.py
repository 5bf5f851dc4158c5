"""Secret values handed out once (API keys, refresh tokens) and the digests we keep instead."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from django.conf import settings


def secret_digest(value: str) -> str:
    """SHA-256 hex of a high-entropy secret. No salt or stretching is needed: the values are random
    256-bit strings, so a digest cannot be brute-forced, and lookups stay a single index probe."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret(n_bytes: int = 32) -> str:
    """A URL-safe random value (43 characters for 32 bytes) that needs no encoding in a query."""
    return secrets.token_urlsafe(n_bytes)


@lru_cache(maxsize=16)
def _derived_key(salt: str, secret: str) -> bytes:
    return hashlib.sha256((salt + secret).encode("utf-8")).digest()


def keyed_mac(salt: str, message: str | bytes) -> bytes:
    """HMAC-SHA256 of `message` under a key derived from `salt` and SECRET_KEY: the same bytes as
    Django's `salted_hmac(salt, message, algorithm="sha256").digest()`, with the derived key kept
    per (salt, SECRET_KEY) instead of hashed again on every call (every refresh computes one)."""
    data = message if isinstance(message, bytes) else message.encode("utf-8")
    return hmac.digest(_derived_key(salt, settings.SECRET_KEY), data, "sha256")
