"""API keys: created with a value shown once, stored as a SHA-256 digest, checked per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast

from django.db import transaction
from django.utils import timezone

from identity.exceptions import NotAuthenticated, ValidationFailed, errors_keyed
from identity.hashing import new_secret, secret_digest
from identity.key_store import key_store_invalidate
from identity.models import APIKey, Tenant
from identity.selectors import tenant_get
from identity.selectors.rows import Join, row_by_unique_key
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.validators import api_key_validate
from identity.validators import api_key_value_well_formed as api_key_value_well_formed  # authentication

if TYPE_CHECKING:
    from identity.caller import Caller

PREFIX_LENGTH = 8
# The API's error paths for the validators' model fields (identity.validators).
API_KEY_ERROR_PATHS = {
    "key": "apiKey.key",
    "permissions": "apiKey.permissions.endpoints",
    "expires_at": "apiKey.expirationInstant",
    "name": "apiKey.name",
    "description": "apiKey.metaData.attributes.description",
}


def _validated_permissions(*, values: dict[str, Any]) -> dict[str, list[str]]:
    """Validate the key's values (identity.validators.api_key_validate) and return its permissions
    in normal form: upper-case methods, sorted, endpoints without a trailing slash."""
    with errors_keyed(API_KEY_ERROR_PATHS):
        api_key_validate(values=values)
    permissions = values.get("permissions") or {}
    return {
        endpoint.rstrip("/") or endpoint: sorted({str(method).upper() for method in methods})
        for endpoint, methods in permissions.items()
    }


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
    A caller-supplied value must be long enough to be unguessable and use the key alphabet. Created
    through the API, a key never holds more than its `creator` (see `_within`)."""
    cleaned = _validated_permissions(
        values={
            "key": key,
            "permissions": permissions,
            "expires_at": expires_at,
            "name": name,
            "description": description,
        }
    )
    if creator is not None:
        _within(actor=creator, target=_Reach(tenant.pk if tenant else None, cleaned, expires_at))
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
    audit_record(action="api_key.create", obj=api_key)
    return api_key, raw


class NewAPIKey(TypedDict, total=False):
    """`api_key_create`'s choices of a key, as the API sends them."""

    name: str
    description: str
    permissions: Any
    key_manager: bool
    expires_at: datetime | None
    key: str | None
    key_id: uuid.UUID | None


@transaction.atomic
def api_key_create_as(
    *, caller: Caller, tenant_id: uuid.UUID | None = None, **fields: Unpack[NewAPIKey]
) -> tuple[APIKey, str]:
    """`POST /api/api-key` by a key manager (`caller`): the new key is locked to the tenant named
    by id, else to the caller's tenant when the caller is confined to one, else global; and it
    reaches no further than the caller (`api_key_create`'s `creator`)."""
    tenant: Tenant | None
    if tenant_id is not None:
        tenant = tenant_get(tenant_id=tenant_id)
        if tenant is None:
            raise ValidationFailed.on_field("apiKey.tenantId", "invalid", "No tenant has this id.")
    else:
        tenant = caller.tenant() if caller.tenant_id is not None else None
    return api_key_create(tenant=tenant, creator=caller.key(), **fields)


@dataclass(frozen=True)
class _Reach:
    """What a key can do: its tenant lock (None: every tenant), permissions ({}: every endpoint)
    and expiry (None: never)."""

    tenant_id: uuid.UUID | None
    permissions: dict[str, list[str]]
    expires_at: datetime | None

    @classmethod
    def of(cls, api_key: APIKey) -> _Reach:
        return cls(api_key.tenant_id, api_key.permissions or {}, api_key.expires_at)


def _within(*, actor: APIKey, target: _Reach) -> None:
    """A key manager creates, changes or deletes only keys that reach no further than itself: the
    same tenant lock (or it is global), a subset of its permissions (or it is a super key) and an
    expiry no later than its own (or it never expires). Judged on a target's current values and on
    its new ones, so a limited key can neither mint a broader twin nor downgrade, expire, delete or
    outlive a broader key (the bootstrap key included), nor lift its own expiry."""
    if actor.tenant_id is not None and target.tenant_id != actor.tenant_id:
        raise ValidationFailed.on_field(
            "apiKey.tenantId", "invalid", "The calling key may only manage keys of its own tenant."
        )
    if actor.expires_at is not None and (target.expires_at is None or target.expires_at > actor.expires_at):
        raise ValidationFailed.on_field(
            "apiKey.expirationInstant",
            "invalid",
            "The calling key may only manage keys that expire no later than itself.",
        )
    if not actor.permissions:
        return
    if not target.permissions:
        raise ValidationFailed.on_field(
            "apiKey.permissions.endpoints",
            "invalid",
            "A key with limited permissions cannot manage a super key.",
        )
    for endpoint, methods in target.permissions.items():
        if not all(actor.allows(endpoint, method) for method in methods):
            raise ValidationFailed.on_field(
                "apiKey.permissions.endpoints",
                "invalid",
                f"The calling key may not manage {endpoint} {methods}.",
            )


class APIKeyChanges(TypedDict, total=False):
    """What may change on a key; its tenant lock, manager flag and value never do."""

    name: str
    description: str
    permissions: Any
    expires_at: datetime | None


@transaction.atomic
def api_key_update(
    *, api_key: APIKey, editor: APIKey | None = None, **changes: Unpack[APIKeyChanges]
) -> APIKey:
    """Change a key's name, description, permissions or expiry; what is not given stays. Through
    the API an editor changes only a key within its own reach, and only into one within it
    (`_within`)."""
    expires_at = changes.get("expires_at", api_key.expires_at)
    cleaned = _validated_permissions(
        values={
            "permissions": changes.get("permissions", api_key.permissions),
            "expires_at": expires_at,
            **{name: changes[name] for name in ("name", "description") if name in changes},
        }
    )
    if editor is not None:
        _within(actor=editor, target=_Reach.of(api_key))
        _within(actor=editor, target=_Reach(api_key.tenant_id, cleaned, expires_at))
    before = audit_snapshot(api_key)
    api_key.name = changes.get("name", api_key.name).strip()
    api_key.description = changes.get("description", api_key.description).strip()
    api_key.permissions, api_key.expires_at = cleaned, expires_at
    api_key.save()
    audit_record(action="api_key.update", obj=api_key, diff=audit_changes(before, api_key))
    key_store_invalidate()  # processes remember keys they authenticated (api_key_authenticate)
    return api_key


@transaction.atomic
def api_key_delete(*, api_key: APIKey, caller: APIKey | None = None) -> None:
    """Delete a key; a key cannot delete itself through the API (it would lock its caller out), nor
    a key that reaches further than itself (`_within`)."""
    if caller is not None and caller.pk == api_key.pk:
        raise ValidationFailed.general("[CannotDeleteSelf]", "An API key cannot delete itself.")
    if caller is not None:
        _within(actor=caller, target=_Reach.of(api_key))
    audit_record(action="api_key.delete", obj=api_key, diff=audit_snapshot(api_key))
    api_key.delete()
    key_store_invalidate()  # processes remember keys they authenticated (api_key_authenticate)


def api_key_authenticate(*, raw: str, endpoint: str, method: str, now: datetime | None = None) -> APIKey:
    """Find the key for a presented value and check it may call `method endpoint` (the endpoint's
    name, not the request path: see APIKey.allows).

    Every failure (unknown, expired, not permitted) is the same NotAuthenticated, so a caller learns
    nothing about which keys exist. The lookup is by digest, so no comparison leaks timing. A key
    found is remembered by the process until the key store's channel moves (row_by_unique_key), so
    a key changed or deleted (api_key_update, api_key_delete) is refused everywhere within the
    same interval as a revoked signing key, and a busy key costs no query per request."""
    found = row_by_unique_key(
        APIKey,
        {"key_digest": secret_digest(raw)},
        joins=(Join(Tenant, "tenant", optional=True),),
        remember=True,
    )
    api_key = cast(APIKey, found[0]) if found is not None else None
    if api_key is None or api_key.is_expired(now or timezone.now()) or not api_key.allows(endpoint, method):
        raise NotAuthenticated()
    return api_key
