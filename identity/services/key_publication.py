"""Which keys are published, and to whom: JWKS, `/api/jwt/public-key`, OpenID discovery.

Only asymmetric keys that have not expired are published (an HMAC secret never leaves), each in
the scope asked for: everything, what a tenant trusts, or what an application's tokens may be
signed with. Keys come from the in-memory key store; the only SQL is resolving a named tenant or
application.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from identity.exceptions import NotFound
from identity.key_store import key_snapshot
from identity.models import KeyAlgorithm, Tenant
from identity.selectors import application_tenant_id, tenant_for_server_root, tenant_get
from identity.signing import LoadedKey

ASYMMETRIC_ALGORITHMS = [a for a in KeyAlgorithm.values if not a.startswith("HS")]


def _published(keys: dict[str, LoadedKey], now: datetime) -> list[LoadedKey]:
    return sorted(
        (k for k in keys.values() if not k.algorithm.startswith("HS") and not k.expired(now)),
        key=lambda k: k.kid,
    )


def _tenant(tenant_id: uuid.UUID) -> Tenant:
    tenant = tenant_get(tenant_id=tenant_id)
    if tenant is None:
        raise NotFound()
    return tenant


def keys_published(*, tenant_id: uuid.UUID | None = None) -> list[LoadedKey]:
    """The JWKS: every published key, or with `tenant_id` those the tenant trusts (an unknown
    tenant is NotFound, not an empty set)."""
    snapshot = key_snapshot()
    if tenant_id is None:
        return _published(snapshot.by_kid, timezone.now())
    tenant = _tenant(tenant_id)
    return _published(snapshot.trusted(tenant_id=tenant.pk), timezone.now())


def public_keys(*, kid: str | None = None, application_id: uuid.UUID | None = None) -> list[LoadedKey]:
    """`/api/jwt/public-key`: the published key with this `kid` (exactly one, else NotFound), else
    those an application's tokens may be signed with (none is NotFound), else all of them."""
    snapshot, now = key_snapshot(), timezone.now()
    if kid is not None:
        match = [k for k in _published(snapshot.by_kid, now) if k.kid == kid]
        if not match:
            raise NotFound()
        return match[:1]
    if application_id is not None:
        tenant_id = application_tenant_id(application_id=application_id)
        keys = _published(snapshot.trusted(tenant_id=tenant_id, application_id=application_id), now)
        if not keys:
            raise NotFound()
        return keys
    return _published(snapshot.by_kid, now)


@dataclass(frozen=True)
class Discovery:
    tenant: Tenant
    signing_algorithms: list[str]


def discovery_for(*, tenant_id: uuid.UUID | None = None, origin: str) -> Discovery:
    """OpenID discovery's facts for a tenant (the one named, else the one whose issuer is this
    server's `origin`, else the default: selectors.tenant_for_server_root): its issuer and the
    algorithms of the keys it publishes (every asymmetric one while it has none)."""
    tenant = _tenant(tenant_id) if tenant_id is not None else tenant_for_server_root(origin=origin)
    keys = _published(key_snapshot().trusted(tenant_id=tenant.pk), timezone.now())
    algorithms = sorted({k.algorithm for k in keys})
    return Discovery(tenant=tenant, signing_algorithms=algorithms or ASYMMETRIC_ALGORITHMS)
