"""Tenants and their token configuration."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from identity import app_settings
from identity.exceptions import Conflict, ValidationFailed
from identity.key_store import key_store_invalidate
from identity.models import JWT_CONFIGURATION_FIELDS, Tenant
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.services.signing_keys import signers_check, signers_retire
from identity.services.webhooks import public_key_update_emit
from identity.validators import tenant_validate

# Fields of the JWT configuration and login policies that callers may set on a tenant.
TENANT_FIELDS = frozenset(
    {
        "name",
        "issuer",
        *JWT_CONFIGURATION_FIELDS,
        "revoke_on_password_changed",
        "revoke_on_login_prevented",
        "revoke_on_one_time_token_reuse",
        "revoke_access_tokens_on_password_changed",
        "require_authentication",
        "validate_checks_state",
        "refresh_token_limit_per_user",
        "failed_login_max_attempts",
        "failed_login_window_seconds",
        "failed_login_lockout_seconds",
    }
)


def _check_fields(values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"Unknown tenant fields: {', '.join(sorted(unknown))}")


@transaction.atomic
def tenant_create(
    *, name: str, issuer: str | None = None, tenant_id: uuid.UUID | None = None, **config: Any
) -> Tenant:
    """Create a tenant with FusionAuth's defaults for anything not given, and its own signing key
    (IDENTITY_DEFAULT_SIGNING_ALGORITHM) unless one is chosen. Issuers are unique, so a tenant
    created without one gets `urn:uuid:<tenant id>` (FusionAuth's shared `acme.com` would let one
    tenant's tokens claim another's issuer)."""
    _check_fields(config, TENANT_FIELDS)
    defaults = {f.name: f.get_default() for f in Tenant._meta.concrete_fields if f.name in TENANT_FIELDS}
    tenant_id = tenant_id or uuid.uuid4()
    issuer = f"urn:uuid:{tenant_id}" if issuer is None else issuer
    tenant_validate(values={**defaults, **config, "name": name, "issuer": issuer}, tenant=None)
    signers_check(current={}, changes=config, tenant=None, tenant_locked=False)
    if Tenant.objects.filter(pk=tenant_id).exists():
        raise ValidationFailed.on_field("tenantId", "duplicate", "A tenant with this id already exists.")
    name, issuer = name.strip(), issuer.strip()
    tenant = Tenant(id=tenant_id, name=name, issuer=issuer, **config)
    tenant.save()
    if tenant.access_token_signing_key_id is None:
        # Like FusionAuth, a new tenant can sign tokens at once: it gets a key of its own.
        from identity.services.signing_keys import signing_key_generate

        key = signing_key_generate(
            tenant=tenant,
            algorithm=app_settings.default_signing_algorithm(),
            name=f"{name} signing key",
        ).key
        tenant.access_token_signing_key = key
        tenant.id_token_signing_key = tenant.id_token_signing_key or key
        tenant.save(update_fields=["access_token_signing_key", "id_token_signing_key", "updated_at"])
    audit_record(action="tenant.create", obj=tenant)
    key_store_invalidate()
    return tenant


@transaction.atomic
def tenant_update(
    *, tenant: Tenant, tenant_locked: bool = False, verify_until: datetime | None = None, **changes: Any
) -> Tenant:
    """Change a tenant's settings; the whole resulting configuration is validated, not just the diff.
    A new signer goes through `signers_retire`: the previous one keeps verifying (until
    `verify_until`, by default the longest token lifetime). `tenant_locked`: the caller is an API key
    locked to this tenant."""
    _check_fields(changes, TENANT_FIELDS)
    before = audit_snapshot(tenant)
    current = {f: getattr(tenant, f) for f in TENANT_FIELDS}
    tenant_validate(values={**current, **changes}, tenant=tenant)
    signers_check(current=current, changes=changes, tenant=tenant, tenant_locked=tenant_locked)
    signers = (tenant.access_token_signing_key_id, tenant.id_token_signing_key_id)
    for stripped in ("name", "issuer"):
        if stripped in changes:
            changes[stripped] = changes[stripped].strip()
    for field_name, value in changes.items():
        setattr(tenant, field_name, value)
    tenant.save()
    if signers != (tenant.access_token_signing_key_id, tenant.id_token_signing_key_id):
        signers_retire(owner=tenant, tenant=tenant, before=signers, verify_until=verify_until)
        public_key_update_emit(tenant=tenant)
    audit_record(action="tenant.update", obj=tenant, diff=audit_changes(before, tenant))
    key_store_invalidate()
    return tenant


@transaction.atomic
def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant with everything in it. The default tenant holds the console staff and cannot go."""
    if tenant.is_default:
        raise Conflict("The default tenant cannot be deleted.")
    audit_record(action="tenant.delete", obj=tenant, diff=audit_snapshot(tenant))
    tenant.delete()
    key_store_invalidate()
