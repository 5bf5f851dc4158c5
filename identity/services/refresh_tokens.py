"""Refresh-token revocation. Issue, refresh and reuse detection build on the same model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from identity.hashing import new_secret, secret_digest
from identity.models import Application, ExpirationPolicy, RefreshToken, User
from identity.selectors import JWTConfiguration, jwt_configuration_for


class RevokeReason(StrEnum):
    ADMIN = "admin"
    API = "api"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    LOGIN_PREVENTED = "login_prevented"
    USER_DEACTIVATED = "user_deactivated"
    REUSE_DETECTED = "reuse_detected"


@transaction.atomic
def refresh_tokens_revoke(
    *,
    user: User | None = None,
    application: Application | None = None,
    token_ids: list[str] | None = None,
    reason: RevokeReason,
    now: datetime | None = None,
) -> int:
    """Revoke every live token matching all the given filters and return how many were revoked.

    Revoked rows are kept (with the instant and reason) until the purge removes them, so a revoked
    value presented again is recognised and refused rather than looking unknown. At least one
    filter is required: revoking every token of every tenant is never an accident this allows.
    """
    if user is None and application is None and token_ids is None:
        raise ValueError("refresh_tokens_revoke needs a user, an application or token ids.")
    tokens = RefreshToken.objects.filter(revoked_at__isnull=True)
    if user is not None:
        tokens = tokens.filter(user=user)
    if application is not None:
        tokens = tokens.filter(application=application)
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    return tokens.update(revoked_at=now or timezone.now(), revoke_reason=reason.value)


@dataclass(frozen=True)
class DeviceInfo:
    name: str = ""
    description: str = ""
    type: str = ""
    address: str = ""


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: RefreshToken
    value: str
    """The refresh-token value: returned to the client once, never stored."""


def refresh_token_expiry(*, config: JWTConfiguration, started_at: datetime, used_at: datetime) -> datetime:
    """When a token expires under the expiration policy: a fixed TTL from the start, a TTL from the
    last use (sliding), or a sliding TTL that never passes the start plus the maximum lifetime."""
    ttl = timedelta(minutes=config.refresh_token_ttl_minutes)
    if config.refresh_token_expiration_policy == ExpirationPolicy.FIXED:
        return started_at + ttl
    sliding = used_at + ttl
    if config.refresh_token_expiration_policy == ExpirationPolicy.SLIDING_WINDOW_WITH_MAXIMUM_LIFETIME:
        return min(sliding, started_at + timedelta(minutes=config.refresh_token_max_ttl_minutes))
    return sliding


@transaction.atomic
def refresh_token_create(
    *,
    user: User,
    application: Application,
    device: DeviceInfo | None = None,
    scopes: list[str] | None = None,
    started_at: datetime | None = None,
    family_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> IssuedRefreshToken:
    """Start a refresh-token session for a user of an application and return its value once.

    The value is 256 random bits; only its SHA-256 digest is written. `started_at` and `family_id`
    let a token issued for another application keep the original session's start and family."""
    now = now or timezone.now()
    started = started_at or now
    device = device or DeviceInfo()
    value = new_secret(32)
    token_id = uuid.uuid4()
    token = RefreshToken.objects.create(
        id=token_id,
        family_id=family_id or token_id,
        tenant_id=application.tenant_id,
        application=application,
        user=user,
        token_digest=secret_digest(value),
        started_at=started,
        created_at=now,
        expires_at=refresh_token_expiry(
            config=jwt_configuration_for(application=application), started_at=started, used_at=now
        ),
        device_name=device.name[:255],
        device_description=device.description[:255],
        device_type=device.type[:64],
        last_accessed_address=device.address[:64],
        scopes=scopes or [],
    )
    return IssuedRefreshToken(token=token, value=value)
