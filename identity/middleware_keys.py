"""Where identity.middleware gets its keys: a shared HMAC secret, a remote JWKS URL, or (inside the
identity service itself) the in-process key store. The HMAC and JWKS sources import nothing from the
identity models or database; the key-store source lives in identity.middleware_keystore and is
imported only when configured. All cryptography goes through identity.signing."""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from identity.exceptions import TokenInvalid
from identity.middleware_config import TokenAuthorizationConfig
from identity.signing import LoadedKey, TokenKind, hmac_key, jwks_keys, unverified_header, verify

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 512 * 1024


@dataclasses.dataclass(frozen=True)
class Verified:
    claims: dict[str, Any]
    signer: LoadedKey | None
    """A key this process may re-sign the token with (refresh), or None."""
    renewable: Callable[[datetime], bool] | None = None
    """Whether the token's user and session may still be given a later expiry (asked only when it
    is due for a refresh); None where the source knows no state (HMAC and JWKS tokens)."""


class KeySource(Protocol):
    def verify(self, *, token: str, now: datetime) -> Verified:
        """The token's claims, or TokenInvalid (TokenExpired when only time ran out)."""
        ...

    def generation(self) -> object:
        """An object (or tuple of objects) replaced whenever the keys or revocations may have
        changed: cached verifications of an older generation are not used."""
        ...


def _kinds(config: TokenAuthorizationConfig) -> tuple[TokenKind, ...] | None:
    return None if config.token_kinds is None else tuple(TokenKind(kind) for kind in config.token_kinds)


class HmacSource:
    """A secret shared with the issuer ("JWT Secret"): verifies, and can sign refreshed tokens."""

    def __init__(self, config: TokenAuthorizationConfig) -> None:
        self.config = config
        self.key = hmac_key(secret=config.hmac_secret, algorithm=config.hmac_algorithm, kid=config.hmac_kid)

    def generation(self) -> object:
        return self.key  # the secret never changes in a running process

    def verify(self, *, token: str, now: datetime) -> Verified:
        kid = unverified_header(token, require_kid=False).get("kid")
        if self.config.hmac_kid and kid != self.config.hmac_kid:
            raise TokenInvalid()
        # Without a configured kid the one secret verifies whatever kid the issuer wrote; a refreshed
        # token keeps that kid so the issuer still recognises it.
        key = dataclasses.replace(self.key, kid=kid) if isinstance(kid, str) else self.key
        claims, _ = verify(
            token=token,
            trusted={key.kid or "": key},
            kinds=_kinds(self.config),
            now=now,
            issuer=self.config.issuer,
            audience=self.config.audience,
            require=("exp",),
            leeway_seconds=self.config.leeway_seconds,
        )
        return Verified(claims=claims, signer=key)


class JwksSource:
    """Public keys from a JWKS URL, held in memory. Fetched on first use and when older than
    `jwks_max_age_seconds`; an unknown kid refetches at once, but never more often than once per
    `jwks_refetch_interval_seconds` (failed fetches count too), so garbage kids cannot turn the
    resource server into a flood against the issuer. A failed fetch keeps the keys already held."""

    def __init__(self, config: TokenAuthorizationConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._keys: dict[str, LoadedKey] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self.fetches = 0
        """Fetch attempts so far in this process (what tests and operators count)."""

    def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        self.fetches += 1
        request = urllib.request.Request(self.config.jwks_url, headers={"Accept": "application/json"})  # noqa: S310 (http(s) only, checked at startup)
        try:
            with urllib.request.urlopen(request, timeout=self.config.jwks_timeout_seconds) as answer:  # noqa: S310
                body = answer.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError("JWKS document too large")
            keys = jwks_keys(json.loads(body))
        except (OSError, ValueError) as exc:
            logger.warning("JWKS fetch from %s failed: %s", self.config.jwks_url, exc)
            return
        self._keys, self._fetched_at = keys, time.monotonic()
        logger.info("JWKS fetched from %s: %d keys", self.config.jwks_url, len(keys))

    def generation(self) -> object:
        return self._keys  # replaced, never mutated, on every successful fetch

    def keys(self, kid: str | None) -> dict[str, LoadedKey]:
        now = time.monotonic()
        stale = now - self._fetched_at >= self.config.jwks_max_age_seconds
        missing = kid is None or kid not in self._keys
        if (stale or missing) and now - self._attempted_at >= self.config.jwks_refetch_interval_seconds:
            with self._lock:
                now = time.monotonic()
                if now - self._attempted_at >= self.config.jwks_refetch_interval_seconds:
                    self._fetch()
        return self._keys

    def verify(self, *, token: str, now: datetime) -> Verified:
        kid = unverified_header(token, require_kid=False).get("kid")
        claims, _ = verify(
            token=token,
            trusted=self.keys(kid if isinstance(kid, str) else None),
            kinds=_kinds(self.config),
            now=now,
            issuer=self.config.issuer,
            audience=self.config.audience,
            require=("exp",),
            leeway_seconds=self.config.leeway_seconds,
        )
        return Verified(claims=claims, signer=None)


def key_source_for(config: TokenAuthorizationConfig) -> KeySource:
    if config.key_source == "hmac":
        return HmacSource(config)
    if config.key_source == "jwks":
        return JwksSource(config)
    # Imported only here: it needs the identity models, which a resource server does not have.
    keystore = importlib.import_module("identity.middleware_keystore")
    source: KeySource = keystore.KeyStoreSource(config)
    return source
