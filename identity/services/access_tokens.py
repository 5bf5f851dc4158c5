"""Access tokens: the claims FusionAuth puts in them, signed with the key in force, and verified
against the keys the token's tenant trusts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from identity.exceptions import SigningKeyMissing, TokenInvalid
from identity.key_store import KEYS, KeySnapshot, key_snapshot
from identity.models import Application, Tenant, User
from identity.revocations import token_revoked
from identity.selectors import JWTConfiguration, jwt_configuration_for
from identity.signing import LoadedKey, TokenKind, sign, unverified_header, verify


class AuthenticationType(StrEnum):
    PASSWORD = "PASSWORD"  # noqa: S105 (a method's name, not a password)
    REFRESH_TOKEN = "REFRESH_TOKEN"  # noqa: S105
    JWT_SSO = "JWT_SSO"
    PING = "PING"
    FEDERATED_JWT = "FEDERATED_JWT"
    PERSONAL_ACCESS_TOKEN = "PERSONAL_ACCESS_TOKEN"  # noqa: S105 (a method's name)


@dataclass(frozen=True)
class AccessToken:
    value: str
    claims: dict[str, Any]
    expires_at: datetime


def _signing_key(*, tenant: Tenant, config: JWTConfiguration | None, now: datetime) -> LoadedKey:
    key_id = config.access_token_signing_key_id if config is not None else tenant.access_token_signing_key_id
    if key_id is None:
        raise SigningKeyMissing()
    key = key_snapshot().keys.get(key_id)
    if key is None:
        # The row names a key this process has not loaded yet (a signer changed on another worker
        # or node moments ago): read the keys again now rather than fail the login.
        key = KEYS.reload(reason="signer not loaded").keys.get(key_id)
    if key is None or not key.can_sign or key.expired(now):
        raise SigningKeyMissing()
    return key


def access_token_signing_key(*, tenant: Tenant, application: Application | None, now: datetime) -> LoadedKey:
    """The key that signs access tokens for the application (or tenant) now: also the signer of
    OAuth client-credentials tokens (identity.services.oauth)."""
    config = jwt_configuration_for(application=application) if application is not None else None
    return _signing_key(tenant=tenant, config=config, now=now)


def access_token_issue(
    *,
    user: User,
    tenant: Tenant,
    application: Application | None,
    roles: list[str] | None,
    authentication_type: AuthenticationType,
    now: datetime,
    session_id: uuid.UUID | None = None,
    auth_time: datetime | None = None,
    ttl_seconds: int | None = None,
    expires_at: datetime | None = None,
    config: JWTConfiguration | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> AccessToken:
    """Sign a user's access token with FusionAuth's claims. `roles` None means the user is not
    registered for the application: the token then carries no `applicationId` and no `roles`.
    `expires_at` pins the expiry (a token issued for another application keeps the original's).
    `config` is the application's effective JWT configuration when the caller already has it (the
    refresh grant reads it with the token); otherwise it is computed here, once."""
    if application is not None and config is None:
        config = jwt_configuration_for(application=application)
    if expires_at is None:
        default_ttl = (
            config.access_token_ttl_seconds if config is not None else tenant.access_token_ttl_seconds
        )
        expires_at = now + timedelta(seconds=min(ttl_seconds or default_ttl, default_ttl))
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "aud": str(application.pk) if application is not None else str(tenant.pk),
        "exp": int(expires_at.timestamp()),
        "iat": issued,
        "iss": tenant.issuer,
        "sub": str(user.pk),
        "jti": str(uuid.uuid4()),
        "authenticationType": authentication_type.value,
        "email": user.email,
        "email_verified": user.verified,
        "auth_time": int((auth_time or now).timestamp()),
        "tid": str(tenant.pk),
    }
    if user.username:
        claims["preferred_username"] = user.username
    if application is not None and roles is not None:
        claims["applicationId"] = str(application.pk)
        claims["roles"] = roles
    if session_id is not None:
        claims["sid"] = str(session_id)
    claims.update(extra_claims or {})
    key = _signing_key(tenant=tenant, config=config, now=now)
    return AccessToken(
        value=sign(claims=claims, key=key, kind=TokenKind.ACCESS, now=now),
        claims=claims,
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    tenant_id: uuid.UUID
    key: LoadedKey
    kind: TokenKind = TokenKind.ACCESS


def access_token_verify(
    *, token: str, now: datetime, kinds: tuple[TokenKind, ...] = (TokenKind.ACCESS,)
) -> VerifiedToken:
    """Verify a token of one of our tenants without touching the database.

    The kid must be trusted by the tenant the token names in `tid`; a token signed by tenant A's
    key that claims tenant B therefore fails, as does one naming a tenant that does not trust the
    key. The issuer must be that tenant's issuer. A kid or trust this process does not know yet
    (a key added on another node a moment ago) costs one rate-limited reload, then the answer."""
    header = unverified_header(token)
    if header.get("tkn") == TokenKind.PAT and TokenKind.PAT in kinds:
        kinds = (TokenKind.PAT,)  # an Unlimited personal access token has no `exp`
    snapshot = key_snapshot()
    verified = _verified_by(
        snapshot, token=token, kid=header["kid"], now=now, kinds=kinds, header_kind=header.get("tkn")
    )
    if verified is None:
        fresh = KEYS.reload_on_miss(reason="unknown kid or trust")
        if fresh is not None:
            verified = _verified_by(
                fresh, token=token, kid=header["kid"], now=now, kinds=kinds, header_kind=header.get("tkn")
            )
    # A token exchanged from a personal access token (`pat` claim) dies with it.
    if (
        verified is None
        or token_revoked(verified.claims.get("jti"))
        or token_revoked(verified.claims.get("pat"))
    ):
        raise TokenInvalid()
    return verified


def _verified_by(
    snapshot: KeySnapshot,
    *,
    token: str,
    kid: str,
    now: datetime,
    kinds: tuple[TokenKind, ...],
    header_kind: str | None = None,
) -> VerifiedToken | None:
    """The verified token, None when the snapshot does not know the key or its tenant does not
    trust it (maybe stale), TokenInvalid for everything else."""
    key = snapshot.by_kid.get(kid)
    if key is None:
        return None
    require = ("iat", "sub", "jti") if kinds == (TokenKind.PAT,) else ("exp", "iat", "sub")
    claims, _ = verify(token=token, trusted={key.kid: key}, kinds=kinds, now=now, require=require)
    try:
        tenant_id = uuid.UUID(str(claims.get("tid")))
    except ValueError as exc:
        raise TokenInvalid() from exc
    trusted = snapshot.trusted(tenant_id=tenant_id, application_id=uuid_or_none(claims.get("aud")))
    if trusted.get(key.kid) is not key or claims.get("iss") != snapshot.issuers.get(tenant_id):
        return None
    return VerifiedToken(
        claims=claims, tenant_id=tenant_id, key=key, kind=TokenKind(header_kind or TokenKind.ACCESS)
    )


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """A claim's value as a UUID, or None when it is absent or not one."""
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None
