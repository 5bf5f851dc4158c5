"""Path protection with our tokens for any Django project (the "REST API Token Authorization
Worksheet"): `TokenAuthorizationMiddleware`, configured by `settings.IDENTITY_TOKEN_AUTHORIZATION`.

    MIDDLEWARE = [..., "identity.middleware.TokenAuthorizationMiddleware"]
    IDENTITY_TOKEN_AUTHORIZATION = {
        "protected_paths": ["/api/**"], "exclude_paths": ["/api/health"],
        "key_source": "jwks", "jwks_url": "https://id.example.com/.well-known/jwks.json",
        "issuer": "https://id.example.com", "audience": "<application id>",
    }

A request to a protected path must carry a valid token (header `Authorization: Bearer <jwt>` by
default, or any header or cookie); otherwise it gets 401 with `invalid_token_json`, its
`${errorMessage}` filled in. A valid token's claims are `request.token_claims`. `token_kinds` says
which of our tokens pass (users' access tokens by default; `client` adds /oauth2/token's), and
`path_requirements` what a token must also hold on some paths (a user, a role, scopes): 403 if not. With
`refresh_interval_ms`, a valid token older than that is re-signed (new `iat`, `exp` in
`expiration_ms`) and returned in the same header or cookie, when the middleware holds a signing key
(HMAC secret or our key store; never with a JWKS URL). No database query per request in any mode.

`identity.middleware_drf.TokenAuthorizationAuthentication` is the matching DRF authentication class.
Used standalone (JWKS or HMAC), nothing here imports the identity models: add
`identity.middleware_app.TokenAuthorizationAppConfig` to INSTALLED_APPS for the system check.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from identity.exceptions import TokenExpired, TokenInvalid
from identity.middleware_config import ConfigError, Decision, TokenAuthorizationConfig, config_read
from identity.middleware_keys import KeySource, Verified, key_source_for
from identity.signing import TokenKind, sign, unverified_header

MESSAGES = {
    "missing": "No token was sent.",
    "scheme": "The {name} header must be '{scheme} <token>'.",
    "malformed": "The token is not a well-formed signed JWT.",
    "expired": "The token has expired.",
    "refused": "The token was not signed by a trusted key, or its issuer or audience is not accepted.",
}


class Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Authorized:
    claims: dict[str, Any]
    refreshed: str | None
    """A re-signed token to hand back, when the one sent was older than the refresh interval."""


class Authorizer:
    """Reads the token where the configuration says, verifies it with the key source, and re-signs
    it when due. Shared by the middleware and the DRF authentication class (one per configuration
    and process, so a JWKS cache is fetched once)."""

    def __init__(self, config: TokenAuthorizationConfig) -> None:
        self.config = config
        self.source: KeySource = key_source_for(config)
        self._cache: dict[bytes, tuple[Verified, object, float]] = {}
        self._cache_lock = threading.Lock()

    def token_from(self, request: HttpRequest) -> str | None:
        """The token sent, None when nothing was sent; Refused when a header has the wrong scheme."""
        config = self.config
        if config.in_cookie:
            raw = request.COOKIES.get(config.token_name)
        else:
            raw = request.META.get(config.header_key)
        if not raw:
            return None
        if not config.token_scheme:
            return raw.strip()
        scheme, _, token = raw.strip().partition(" ")
        if scheme.lower() != config.token_scheme.lower() or not token.strip():
            name = config.token_name if not config.in_cookie else f"{config.token_name} cookie"
            raise Refused(MESSAGES["scheme"].format(name=name, scheme=config.token_scheme))
        return token.strip()

    def authorize(self, token: str, *, now: datetime) -> Authorized:
        verified = self._cached(token, now)
        if verified is None:
            generation = self.source.generation()
            try:
                verified = self.source.verify(token=token, now=now)
            except TokenExpired as exc:
                raise Refused(MESSAGES["expired"]) from exc
            except TokenInvalid as exc:
                try:
                    unverified_header(token, require_kid=False)
                except TokenInvalid:
                    raise Refused(MESSAGES["malformed"]) from exc
                raise Refused(MESSAGES["refused"]) from exc
            self._remember(token, verified, generation, now)
        return Authorized(claims=verified.claims, refreshed=self._refreshed(token, verified, now))

    def unmet(self, decision: Decision, claims: dict[str, Any]) -> str | None:
        """Why a verified token may not use this path (its `path_requirements`), None if it may."""
        for requirement in decision.requirements:
            reason = requirement.unmet(claims)
            if reason is not None:
                return reason
        return None

    # Verified tokens, so a client sending the same token again costs a dict lookup and a clock
    # check, not a signature check. The key is a digest of the whole token (a changed byte is
    # another entry); an entry holds only while the key source is the same generation (no JWKS
    # refetch, no key-store change since it was verified), for at most CACHE_SECONDS, and never past
    # the token's `exp` (`cache_seconds`, default 60; 0 turns the cache off). Bounded: the oldest
    # entries go first.
    CACHE_SIZE = 4096

    def _cached(self, token: str, now: datetime) -> Verified | None:
        if not self.config.cache_seconds:
            return None
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        entry = self._cache.get(key)
        if entry is None:
            return None
        verified, generation, until = entry
        if until <= now.timestamp() or not _same(generation, self.source.generation()):
            self._cache.pop(key, None)
            return None
        return verified

    def _remember(self, token: str, verified: Verified, generation: object, now: datetime) -> None:
        exp = verified.claims.get("exp")
        if not isinstance(exp, int | float):
            return  # every source requires exp; a token without one is simply never cached
        if not self.config.cache_seconds:
            return
        until = min(now.timestamp() + self.config.cache_seconds, float(exp))
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        with self._cache_lock:
            while len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)), None)
            self._cache[key] = (verified, generation, until)

    def _refreshed(self, token: str, verified: Verified, now: datetime) -> str | None:
        """A user's access token re-signed when older than the interval. An OAuth client's own
        token is never refreshed (nor turned into another kind): the client asks /oauth2/token.
        Nor is a token exchanged from a personal access token (`pat`: it never outlives its PAT),
        nor one whose user may no longer log in or whose session ended, where the key source
        knows (`Verified.renewable`: the identity service's own key store): a renewal extends
        access, so a deleted user or a logged-out session is not kept alive by it."""
        claims, signer = verified.claims, verified.signer
        interval = self.config.refresh_interval_ms
        issued = claims.get("iat")
        if not interval or signer is None or not isinstance(issued, int | float):
            return None
        if (now.timestamp() - issued) * 1000 < interval:
            return None
        if unverified_header(token, require_kid=False).get("tkn", TokenKind.ACCESS) != TokenKind.ACCESS:
            return None
        if "pat" in claims or (verified.renewable is not None and not verified.renewable(now)):
            return None
        current = int(now.timestamp())
        renewed = {**claims, "iat": current, "exp": current + self.config.expiration_ms // 1000}
        if "jti" in claims:
            renewed["jti"] = str(uuid.uuid4())
        return sign(claims=renewed, key=signer, kind=TokenKind.ACCESS, now=now)

    def error_response(self, message: str, *, status: int = 401) -> HttpResponse:
        """The `invalid_token_json` template: 401 for no or a bad token; 403 (RFC 6750
        `insufficient_scope`) for a good token that does not meet the path's requirements."""
        body = self.config.error_body(message)
        response = HttpResponse(body, status=status, content_type="application/json")
        if not self.config.in_cookie and self.config.token_name.lower() == "authorization":
            scheme = self.config.token_scheme or "Bearer"
            error = "insufficient_scope" if status == 403 else "invalid_token"
            description = json.dumps(message)
            response["WWW-Authenticate"] = f'{scheme} error="{error}", error_description={description}'
        response["Cache-Control"] = "no-store"
        return response

    def hand_back(self, response: HttpResponse, token: str) -> None:
        """Return a refreshed token where the old one came from."""
        config = self.config
        if config.in_cookie:
            response.set_cookie(
                config.token_name,
                token,
                max_age=config.expiration_ms // 1000,
                secure=config.cookie_secure,
                httponly=True,
                samesite="Lax",
            )
        else:
            response[config.token_name] = f"{config.token_scheme} {token}" if config.token_scheme else token
            patch_vary_headers(response, [config.token_name])
        response["Cache-Control"] = "no-store"


def _same(held: object, current: object) -> bool:
    """Identity, element by element for a tuple (the cache entry keeps them alive, so no id is
    reused while compared)."""
    if isinstance(held, tuple) and isinstance(current, tuple):
        return len(held) == len(current) and all(a is b for a, b in zip(held, current, strict=True))
    return held is current


_authorizers: dict[str, Authorizer] = {}
_authorizers_lock = threading.Lock()


def authorizer_for(config: TokenAuthorizationConfig) -> Authorizer:
    """The process's Authorizer for this configuration (settings overridden in tests get their own)."""
    # The settings dict, and what it was read with (DEBUG decides the cookie's Secure flag).
    fingerprint = json.dumps([config.raw, config.cookie_secure], sort_keys=True, default=repr)
    found = _authorizers.get(fingerprint)
    if found is None:
        with _authorizers_lock:
            found = _authorizers.setdefault(fingerprint, Authorizer(config))
    return found


def configured_authorizer() -> Authorizer | None:
    """The Authorizer for the project's settings; None when token authorization is absent or off."""
    try:
        config = config_read()
    except ConfigError as exc:
        raise ImproperlyConfigured(f"IDENTITY_TOKEN_AUTHORIZATION: {exc}") from exc
    return authorizer_for(config) if config is not None and config.enabled else None


class TokenAuthorizationMiddleware:
    """Refuses requests to protected paths without a valid token (401, the configured JSON)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        authorizer = configured_authorizer()  # a bad configuration stops the worker here, at start
        if authorizer is None:
            raise MiddlewareNotUsed("IDENTITY_TOKEN_AUTHORIZATION is absent or not enabled")
        self.authorizer = authorizer

    def __call__(self, request: HttpRequest) -> HttpResponse:
        authorizer = self.authorizer
        decision = authorizer.config.rules.decide(request.path_info)
        if not decision.protected:
            return self.get_response(request)
        try:
            token = authorizer.token_from(request)
            if token is None:
                raise Refused(MESSAGES["missing"])
            authorized = authorizer.authorize(token, now=datetime.now(UTC))
        except Refused as refused:
            return authorizer.error_response(refused.message)
        if decision.requirements:
            reason = authorizer.unmet(decision, authorized.claims)
            if reason is not None:
                return authorizer.error_response(reason, status=403)
        request.token_claims = authorized.claims  # type: ignore[attr-defined]
        response = self.get_response(request)
        if authorized.refreshed is not None:
            authorizer.hand_back(response, authorized.refreshed)
        return response
