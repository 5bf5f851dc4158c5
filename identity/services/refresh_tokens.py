"""Refresh-token revocation. Issue, refresh and reuse detection build on the same model."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from identity.models import Application, RefreshToken, User


class RevokeReason(StrEnum):
    ADMIN = "admin"
    API = "api"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"
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
