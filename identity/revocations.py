"""Which token ids are revoked, known to every process without a query per request.

Access tokens and personal access tokens are self-contained JWTs; revoking one before it expires
means every verifier must refuse its `jti`. The set of live revocations is a `Coherent` channel of
`identity.key_store` (one invalidation path for all in-memory state): built from
`identity_revoked_token`, checked against the shared version at most once a second, so a revocation
reaches every worker of every node within a second and a verification costs a set lookup.
Expired rows are left out of the set (the token fails on `exp` anyway) and purged by
`revoked_tokens_purge`.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from identity.key_store import Coherent
from identity.models import RevokedToken


def _build() -> frozenset[str]:
    now = timezone.now()
    live = RevokedToken.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    return frozenset(live.values_list("jti", flat=True))


REVOKED: Coherent[frozenset[str]] = Coherent("revoked-jtis", _build)


def token_revoked(jti: object) -> bool:
    """True when the token id was revoked (no SQL unless the check interval has passed)."""
    return isinstance(jti, str) and jti in REVOKED.get()
