"""Revoking self-contained tokens by id (`jti`)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from identity.models import RevokedToken, Tenant
from identity.revocations import REVOKED
from identity.services.audit import audit_record


@transaction.atomic
def token_revoke(
    *, jti: str, tenant: Tenant | None, expires_at: datetime | None, kind: str, audited: bool = True
) -> None:
    """Refuse a token everywhere from now on. A JWT cannot be recalled, so its id is kept until
    the token would have expired anyway (`expires_at`; None keeps it for good, for tokens without
    `exp`), and every process learns of it within a second through the revocation channel.
    Revoking twice keeps the first revocation time. `audited=False`: the caller writes the audit
    entry itself (one per record revoked, or one with the count for a mass revocation)."""
    _, created = RevokedToken.objects.get_or_create(
        jti=jti,
        defaults={"tenant": tenant, "kind": kind, "expires_at": expires_at, "revoked_at": timezone.now()},
    )
    if created and audited:
        audit_record(
            action=f"{kind}.revoke",
            object_type="revokedtoken",
            object_id=jti,
            tenant_id=tenant.pk if tenant else None,
        )
    REVOKED.invalidate()


def revoked_tokens_purgeable(*, now: datetime | None = None) -> int:
    """How many revocations `revoked_tokens_purge` would forget."""
    return RevokedToken.objects.filter(expires_at__lte=now or timezone.now()).count()


@transaction.atomic
def revoked_tokens_purge(*, now: datetime | None = None) -> int:
    """Forget revocations of tokens that have expired since (they fail on `exp` by themselves)."""
    deleted, _ = RevokedToken.objects.filter(expires_at__lte=now or timezone.now()).delete()
    if deleted:
        REVOKED.invalidate()
        audit_record(action="revoked_token.purge", object_type="revokedtoken", count=deleted)
    return deleted
