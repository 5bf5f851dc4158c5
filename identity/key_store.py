"""Which keys each tenant and application trusts, held in memory so verifying a token costs no SQL.

A snapshot maps tenant and application ids to `{kid: LoadedKey}`. It is rebuilt when a service
that changes keys, tenants or applications bumps the shared version (kept in Django's cache, so
every process sees it when the cache is shared, e.g. Redis), and at the latest after
`SNAPSHOT_MAX_AGE_SECONDS` (the bound on staleness when processes share no cache).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from identity.models import Application, SigningKey, Tenant
from identity.signing import LoadedKey, load_key

VERSION_CACHE_KEY = "identity:key-store:version"
SNAPSHOT_MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True)
class KeySnapshot:
    version: int
    built_at: float
    keys: dict[uuid.UUID, LoadedKey]
    by_kid: dict[str, LoadedKey]
    tenant_trust: dict[uuid.UUID, dict[str, LoadedKey]]
    issuers: dict[uuid.UUID, str] = field(default_factory=dict)
    validate_state: dict[uuid.UUID, bool] = field(default_factory=dict)
    """Tenants whose /api/jwt/validate also checks user, application and session state."""
    application_trust: dict[uuid.UUID, tuple[uuid.UUID, dict[str, LoadedKey]]] = field(default_factory=dict)
    """Applications with keys of their own: application id → (its tenant id, trusted keys)."""

    def trusted(
        self, *, tenant_id: uuid.UUID, application_id: uuid.UUID | None = None
    ) -> dict[str, LoadedKey]:
        """Keys an application of the tenant trusts (its own override keys plus its tenant's), or the
        tenant's. An application of another tenant never widens the set."""
        own = self.application_trust.get(application_id) if application_id is not None else None
        if own is not None and own[0] == tenant_id:
            return own[1]
        return self.tenant_trust.get(tenant_id, {})


_lock = threading.Lock()
_snapshot: KeySnapshot | None = None


def _current_version() -> int:
    version = cache.get(VERSION_CACHE_KEY)
    if version is None:
        cache.add(VERSION_CACHE_KEY, 1, timeout=None)
        version = cache.get(VERSION_CACHE_KEY, 1)
    return int(version)


def _build(version: int) -> KeySnapshot:
    now = timezone.now()
    records = list(SigningKey.objects.all())
    keys = {record.pk: load_key(record) for record in records}
    usable = {key_id: key for key_id, key in keys.items() if not key.expired(now)}

    def pick(ids: Sequence[uuid.UUID | None]) -> dict[str, LoadedKey]:
        return {usable[i].kid: usable[i] for i in ids if i is not None and i in usable}

    tenant_verifiers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, key_id in Tenant.verification_keys.through.objects.values_list(
        "tenant_id", "signingkey_id"
    ):
        tenant_verifiers.setdefault(tenant_id, []).append(key_id)
    tenant_rows = list(
        Tenant.objects.values_list(
            "id", "issuer", "access_token_signing_key_id", "id_token_signing_key_id", "validate_checks_state"
        )
    )
    tenant_trust = {
        tenant_id: pick([access_key, id_key, *tenant_verifiers.get(tenant_id, [])])
        for tenant_id, _, access_key, id_key, _ in tenant_rows
    }
    app_verifiers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for app_id, key_id in Application.verification_keys.through.objects.values_list(
        "application_id", "signingkey_id"
    ):
        app_verifiers.setdefault(app_id, []).append(key_id)
    application_trust: dict[uuid.UUID, tuple[uuid.UUID, dict[str, LoadedKey]]] = {}
    for app_id, tenant_id, enabled, access_key, id_key in Application.objects.values_list(
        "id", "tenant_id", "jwt_enabled", "access_token_signing_key_id", "id_token_signing_key_id"
    ):
        own = (
            [access_key, id_key, *app_verifiers.get(app_id, [])] if enabled else app_verifiers.get(app_id, [])
        )
        if any(own):
            application_trust[app_id] = (tenant_id, {**tenant_trust.get(tenant_id, {}), **pick(own)})
    return KeySnapshot(
        version=version,
        built_at=time.monotonic(),
        keys=keys,
        by_kid={key.kid: key for key in usable.values()},
        tenant_trust=tenant_trust,
        issuers={tenant_id: issuer for tenant_id, issuer, _, _, _ in tenant_rows},
        validate_state={tenant_id: checks for tenant_id, _, _, _, checks in tenant_rows},
        application_trust=application_trust,
    )


def key_snapshot() -> KeySnapshot:
    """The current snapshot; rebuilt only when the shared version moved or it grew too old."""
    global _snapshot
    version = _current_version()
    current = _snapshot
    if current is not None and current.version == version:
        if time.monotonic() - current.built_at < SNAPSHOT_MAX_AGE_SECONDS:
            return current
    with _lock:
        current = _snapshot
        if (
            current is None
            or current.version != version
            or time.monotonic() - current.built_at >= SNAPSHOT_MAX_AGE_SECONDS
        ):
            current = _snapshot = _build(version)
        return current


def key_store_invalidate() -> None:
    """Forget the snapshot in this process now (its own transaction sees the change at once), and
    tell every process once the transaction commits."""
    global _snapshot
    _snapshot = None

    def bump() -> None:
        global _snapshot
        _snapshot = None
        try:
            cache.incr(VERSION_CACHE_KEY)
        except ValueError:
            cache.set(VERSION_CACHE_KEY, 2, timeout=None)

    transaction.on_commit(bump)
