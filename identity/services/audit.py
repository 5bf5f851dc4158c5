"""The audit trail: one append-only entry per change, written in the caller's transaction.

Services call `audit_record(action=..., obj=..., diff=...)` once per create/update/delete (a mass
revocation once, with `count`). The actor and client address come from `identity.audit`'s context,
set once per request or command. Only the fields listed in `AUDIT_FIELDS` for the object's model
ever reach `diff`; digests, key material, passwords and client secrets are not listed, so they are
dropped even if a caller passes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from identity.audit import current_actor
from identity.models import (
    JWT_CONFIGURATION_FIELDS,
    APIKey,
    Application,
    ApplicationRole,
    AuditEntry,
    ExternalJWTProvider,
    LoginBackend,
    OAuthConfiguration,
    PersonalAccessToken,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
    Webhook,
)

# What may appear in a diff, per model: configuration and profile fields, never secrets.
AUDIT_FIELDS: dict[type[models.Model], frozenset[str]] = {
    Tenant: frozenset(
        {
            "name",
            "issuer",
            *JWT_CONFIGURATION_FIELDS,
            "access_token_signing_key_id",
            "id_token_signing_key_id",
            "revoke_on_password_changed",
            "revoke_access_tokens_on_password_changed",
            "revoke_on_login_prevented",
            "revoke_on_one_time_token_reuse",
            "require_authentication",
            "validate_checks_state",
            "refresh_token_limit_per_user",
            "failed_login_max_attempts",
            "failed_login_window_seconds",
            "failed_login_lockout_seconds",
        }
    ),
    Application: frozenset(
        {
            "tenant_id",
            "name",
            "active",
            "jwt_enabled",
            "generate_refresh_tokens",
            "allow_token_refresh",
            "require_authentication",
            *JWT_CONFIGURATION_FIELDS,
            "access_token_signing_key_id",
            "id_token_signing_key_id",
        }
    ),
    ApplicationRole: frozenset({"application_id", "name", "description", "is_default", "is_super_role"}),
    User: frozenset(
        {
            "tenant_id",
            "email",
            "username",
            "first_name",
            "middle_name",
            "last_name",
            "full_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "is_bot",
            "verified",
            "expires_at",
            "locked_until",
        }
    ),
    Registration: frozenset({"user_id", "application_id", "roles", "username", "verified"}),
    APIKey: frozenset({"tenant_id", "name", "description", "permissions", "key_manager", "expires_at"}),
    SigningKey: frozenset({"tenant_id", "name", "algorithm", "kid", "use", "length", "issuer", "expires_at"}),
    RefreshToken: frozenset({"tenant_id", "application_id", "user_id", "revoke_reason"}),
    PersonalAccessToken: frozenset(
        {
            "tenant_id",
            "user_id",
            "name",
            "expiry",
            "expires_at",
            "scopes",
            "application_id",
            "allowed_ips",
            "signing_key_id",
            "revoked_by",
        }
    ),
    ExternalJWTProvider: frozenset({"tenant_id", "name", "enabled", "issuer", "audience"}),
    OAuthConfiguration: frozenset(
        {
            "application_id",
            "enabled_grants",
            "client_authentication_policy",
            "client_authentication_methods",
            "scopes",
            "token_requests_per_minute",
        }
    ),
    LoginBackend: frozenset(
        {
            "application_id",
            "name",
            "transport",
            "lifetime_seconds",
            "cookie_name",
            "cookie_domain",
            "cookie_path",
            "cookie_secure",
            "cookie_samesite",
        }
    ),
    Webhook: frozenset(
        {
            "url",
            "description",
            "is_global",
            "tenant_ids",
            "events",
            "connect_timeout_ms",
            "read_timeout_ms",
            "max_attempts",
        }
    ),
}

_BY_NAME = {model._meta.model_name: model for model in AUDIT_FIELDS}

# Never written, whatever a list above says (a second net under the allowlists).
NEVER = frozenset(
    {
        "password",
        "key_digest",
        "token_digest",
        "value_salt",
        "encrypted_secret",
        "secret",
        "client_secret",
        "client_secret_digest",
        "previous_secret_digest",
    }
)


def _allowed(model: type[models.Model] | None) -> frozenset[str]:
    if model is None:
        return frozenset()
    for cls in model.__mro__:
        if cls in AUDIT_FIELDS:
            return AUDIT_FIELDS[cls] - NEVER
    return frozenset()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def audit_snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's auditable fields and their values (for a create, or before an update)."""
    allowed = _allowed(type(obj))
    values: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        name = field.attname
        if name in allowed:
            values[name] = getattr(obj, name)
    return _jsonable(values)


def audit_changes(before: Mapping[str, Any], obj: models.Model) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for the auditable fields that differ between `before` and `obj` now."""
    after = audit_snapshot(obj)
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def audit_record(
    *,
    action: str,
    obj: models.Model | None = None,
    diff: Mapping[str, Any] | None = None,
    count: int | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    tenant_id: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the current transaction. `diff` defaults to the object's snapshot for a
    `*.create`; its keys are filtered through the object's AUDIT_FIELDS (no model: no diff)."""
    entry = audit_entry_build(
        action=action,
        obj=obj,
        diff=diff,
        count=count,
        object_type=object_type,
        object_id=object_id,
        tenant_id=tenant_id,
        at=at,
    )
    entry.save(force_insert=True)
    return entry


def audit_entry_build(
    *,
    action: str,
    obj: models.Model | None = None,
    diff: Mapping[str, Any] | None = None,
    count: int | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    tenant_id: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """The entry audit_record appends, not yet saved (a statement that writes it together with the
    change it records, such as the login's, inserts it itself)."""
    model = type(obj) if obj is not None else _BY_NAME.get(object_type or "")
    if diff is None and obj is not None and action.endswith(".create"):
        diff = audit_snapshot(obj)
    allowed = _allowed(model)
    kept = {k: v for k, v in (diff or {}).items() if k in allowed}
    actor = current_actor()
    entry = AuditEntry(
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=object_type or (obj._meta.model_name if obj is not None else "") or "",
        object_id=str(object_id if object_id is not None else (obj.pk if obj is not None else ""))[:64],
        tenant_id=tenant_id if tenant_id is not None else _tenant_of(obj),
        diff=_jsonable(kept),
        count=count,
        client_ip=actor.ip,
    )
    if at is not None:
        entry.created_at = at
    return entry


def _tenant_of(obj: models.Model | None) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Tenant):
        return obj.pk
    tenant_id = getattr(obj, "tenant_id", None)
    if tenant_id is not None:
        return tenant_id
    if isinstance(obj, ApplicationRole | Registration | OAuthConfiguration | LoginBackend):
        return getattr(obj.application, "tenant_id", None)
    return None


@transaction.atomic
def audit_log_purge(*, older_than: datetime, batch_size: int = 5000) -> int:
    """Delete one batch of entries created before `older_than`; returns how many (0 when done).
    Called in a loop by `purge_audit_log`, one short transaction per batch, which also records the
    batch (`audit_log.purge` with its count): a purge stopped half-way leaves the record of what
    it did delete."""
    ids = list(
        AuditEntry.objects.filter(created_at__lt=older_than)
        .order_by("id")
        .values_list("id", flat=True)[:batch_size]
    )
    if not ids:
        return 0
    deleted, _ = AuditEntry.objects.filter(id__in=ids).delete()
    audit_record(action="audit_log.purge", object_type="auditentry", count=deleted)
    return deleted
