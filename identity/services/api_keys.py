"""API keys: created with a value shown once, stored as a SHA-256 digest, checked per request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from identity.exceptions import NotAuthenticated, ValidationFailed
from identity.hashing import new_secret, secret_digest
from identity.models import APIKey, Tenant

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
PREFIX_LENGTH = 8
MIN_SUPPLIED_KEY_LENGTH = 32


def api_key_permissions_clean(permissions: Any) -> dict[str, list[str]]:
    """Normalise `{"/api/path": ["GET", ...]}`; anything else is a field error, not a silent super key."""
    if permissions in (None, {}):
        return {}
    if not isinstance(permissions, dict):
        raise ValidationFailed.on_field(
            "apiKey.permissions.endpoints", "invalid", "Permissions map endpoints to lists of methods."
        )
    cleaned: dict[str, list[str]] = {}
    for endpoint, methods in permissions.items():
        if (
            not isinstance(endpoint, str)
            or not endpoint.startswith("/api/")
            or any(c.isspace() for c in endpoint)
        ):
            raise ValidationFailed.on_field(
                "apiKey.permissions.endpoints", "invalid", f"{endpoint!r} is not an API endpoint path."
            )
        if not isinstance(methods, list) or not methods:
            raise ValidationFailed.on_field(
                "apiKey.permissions.endpoints", "invalid", f"{endpoint} needs a non-empty list of methods."
            )
        upper = sorted({str(m).upper() for m in methods})
        bad = [m for m in upper if m not in HTTP_METHODS]
        if bad:
            raise ValidationFailed.on_field(
                "apiKey.permissions.endpoints",
                "invalid",
                f"Unknown HTTP methods for {endpoint}: {', '.join(bad)}.",
            )
        cleaned[endpoint.rstrip("/") or endpoint] = upper
    return cleaned


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant | None,
    name: str = "",
    description: str = "",
    permissions: Any = None,
    key_manager: bool = False,
    expires_at: datetime | None = None,
    key: str | None = None,
    key_id: uuid.UUID | None = None,
    creator: APIKey | None = None,
) -> tuple[APIKey, str]:
    """Create an API key and return it with its value. The value is returned this once and never
    stored: only its SHA-256 digest and an 8-character prefix (to recognise it in lists) are kept.
    A caller-supplied value must be long enough to be unguessable. Created through the API, a key
    never holds more than its `creator`: the same tenant lock and a subset of its permissions."""
    if key is not None and len(key) < MIN_SUPPLIED_KEY_LENGTH:
        raise ValidationFailed.on_field(
            "apiKey.key", "tooShort", f"A supplied key needs at least {MIN_SUPPLIED_KEY_LENGTH} characters."
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed.on_field(
            "apiKey.expirationInstant", "invalid", "The expiry must be in the future."
        )
    cleaned = api_key_permissions_clean(permissions)
    if creator is not None:
        _within(creator=creator, tenant=tenant, permissions=cleaned)
    if key_id is not None and APIKey.objects.filter(pk=key_id).exists():
        raise ValidationFailed.on_field("apiKeyId", "duplicate", "An API key with this id already exists.")
    raw = key or new_secret(36)
    digest = secret_digest(raw)
    if APIKey.objects.filter(key_digest=digest).exists():
        raise ValidationFailed.on_field("apiKey.key", "duplicate", "This key is already in use.")
    api_key = APIKey.objects.create(
        id=key_id or uuid.uuid4(),
        tenant=tenant,
        name=name.strip(),
        description=description.strip(),
        key_digest=digest,
        prefix=raw[:PREFIX_LENGTH],
        permissions=cleaned,
        key_manager=key_manager,
        expires_at=expires_at,
    )
    return api_key, raw


def _within(*, creator: APIKey, tenant: Tenant | None, permissions: dict[str, list[str]]) -> None:
    """A key manager hands out at most what it holds."""
    if creator.tenant_id is not None and (tenant is None or tenant.pk != creator.tenant_id):
        raise ValidationFailed.on_field(
            "apiKey.tenantId", "invalid", "A tenant-locked key creates keys of its tenant."
        )
    if not creator.permissions:
        return
    if not permissions:
        raise ValidationFailed.on_field(
            "apiKey.permissions.endpoints",
            "invalid",
            "A key with limited permissions cannot create a super key.",
        )
    for endpoint, methods in permissions.items():
        if not all(creator.allows(endpoint, method) for method in methods):
            raise ValidationFailed.on_field(
                "apiKey.permissions.endpoints",
                "invalid",
                f"The calling key may not grant {endpoint} {methods}.",
            )


@transaction.atomic
def api_key_update(
    *,
    api_key: APIKey,
    name: str,
    description: str,
    permissions: Any,
    expires_at: datetime | None,
    editor: APIKey | None = None,
) -> APIKey:
    """Change a key's name, description, permissions or expiry (its tenant lock, manager flag and
    value never change). Through the API an editor cannot grant more than it holds itself."""
    cleaned = api_key_permissions_clean(permissions)
    if editor is not None:
        _within(creator=editor, tenant=api_key.tenant, permissions=cleaned)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed.on_field(
            "apiKey.expirationInstant", "invalid", "The expiry must be in the future."
        )
    api_key.name, api_key.description = name.strip(), description.strip()
    api_key.permissions, api_key.expires_at = cleaned, expires_at
    api_key.save()
    return api_key


@transaction.atomic
def api_key_delete(*, api_key: APIKey, caller: APIKey | None = None) -> None:
    """Delete a key; a key cannot delete itself through the API (it would lock its caller out)."""
    if caller is not None and caller.pk == api_key.pk:
        raise ValidationFailed.general("[CannotDeleteSelf]", "An API key cannot delete itself.")
    api_key.delete()


def api_key_authenticate(*, raw: str, endpoint: str, method: str, now: datetime | None = None) -> APIKey:
    """Find the key for a presented value and check it may call `method endpoint` (the endpoint's
    name, not the request path: see APIKey.allows).

    Every failure (unknown, expired, not permitted) is the same NotAuthenticated, so a caller learns
    nothing about which keys exist. The lookup is by digest, so no comparison leaks timing."""
    api_key = APIKey.objects.select_related("tenant").filter(key_digest=secret_digest(raw)).first()
    if api_key is None or api_key.is_expired(now or timezone.now()) or not api_key.allows(endpoint, method):
        raise NotAuthenticated()
    return api_key
