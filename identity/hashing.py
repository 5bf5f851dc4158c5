"""Secret values handed out once (API keys, refresh tokens) and the digests we keep instead."""

from __future__ import annotations

import hashlib
import secrets


def secret_digest(value: str) -> str:
    """SHA-256 hex of a high-entropy secret. No salt or stretching is needed: the values are random
    256-bit strings, so a digest cannot be brute-forced, and lookups stay a single index probe."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret(n_bytes: int = 32) -> str:
    """A URL-safe random value (43 characters for 32 bytes) that needs no encoding in a query."""
    return secrets.token_urlsafe(n_bytes)
