"""Tenants and their token configuration."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from identity.exceptions import Conflict, ValidationFailed
from identity.key_store import key_store_invalidate
from identity.models import ExpirationPolicy, KeyUse, SigningKey, Tenant, UsagePolicy
from identity.services.signing_keys import signers_check, signers_retire

# The JWT configuration shared by tenants and applications (JWTConfigurationFields), in form order.
JWT_CONFIGURATION_FIELDS = (
    "access_token_ttl_seconds",
    "refresh_token_ttl_minutes",
    "refresh_token_expiration_policy",
    "refresh_token_max_ttl_minutes",
    "refresh_token_usage_policy",
    "refresh_token_grace_period_seconds",
    "access_token_signing_key",
    "id_token_signing_key",
)
# Fields of the JWT configuration and login policies that callers may set on a tenant.
TENANT_FIELDS = frozenset(
    {
        "name",
        "issuer",
        *JWT_CONFIGURATION_FIELDS,
        "revoke_on_password_changed",
        "revoke_on_login_prevented",
        "revoke_on_one_time_token_reuse",
        "require_authentication",
        "validate_checks_state",
        "failed_login_max_attempts",
        "failed_login_window_seconds",
        "failed_login_lockout_seconds",
    }
)
MAX_GRACE_PERIOD_SECONDS = 86_400


def jwt_configuration_validate(
    *, values: Mapping[str, Any], tenant: Tenant | None, prefix: str = "tenant.jwtConfiguration"
) -> None:
    """Check a JWT configuration as a whole, so the admin, the API and the commands refuse the same
    impossible settings (a sliding cap shorter than the TTL, a key of another tenant) with the same
    field codes. Raises ValidationFailed listing every problem at once."""
    errors = ValidationFailed()
    for name, path in (
        ("access_token_ttl_seconds", "timeToLiveInSeconds"),
        ("refresh_token_ttl_minutes", "refreshTokenTimeToLiveInMinutes"),
        (
            "refresh_token_max_ttl_minutes",
            "refreshTokenSlidingWindowConfiguration.maximumTimeToLiveInMinutes",
        ),
    ):
        if name in values and (not isinstance(values[name], int) or values[name] <= 0):
            errors.add(f"{prefix}.{path}", "invalid", "Must be a whole number greater than zero.")
    ttl, cap = values.get("refresh_token_ttl_minutes"), values.get("refresh_token_max_ttl_minutes")
    if isinstance(ttl, int) and isinstance(cap, int) and cap < ttl:
        errors.add(
            f"{prefix}.refreshTokenSlidingWindowConfiguration.maximumTimeToLiveInMinutes",
            "invalid",
            "The maximum lifetime must be at least the refresh-token time to live.",
        )
    grace = values.get("refresh_token_grace_period_seconds")
    if grace is not None and (not isinstance(grace, int) or not 0 <= grace < MAX_GRACE_PERIOD_SECONDS):
        errors.add(
            f"{prefix}.refreshTokenOneTimeUseConfiguration.gracePeriodInSeconds",
            "invalid",
            "Must be between 0 (off) and 86399 seconds.",
        )
    if values.get("refresh_token_expiration_policy", ExpirationPolicy.FIXED) not in ExpirationPolicy.values:
        errors.add(f"{prefix}.refreshTokenExpirationPolicy", "invalid", "Unknown expiration policy.")
    if values.get("refresh_token_usage_policy", UsagePolicy.REUSABLE) not in UsagePolicy.values:
        errors.add(f"{prefix}.refreshTokenUsagePolicy", "invalid", "Unknown usage policy.")
    for name, path in (
        ("access_token_signing_key", "accessTokenKeyId"),
        ("id_token_signing_key", "idTokenKeyId"),
    ):
        key = values.get(name)
        if key is None:
            continue
        if not isinstance(key, SigningKey) or key.use != KeyUse.SIGN_AND_VERIFY or not key.has_private_key:
            errors.add(f"{prefix}.{path}", "invalid", "The key must be a signing key with private material.")
        elif key.tenant_id is not None and (tenant is None or key.tenant_id != tenant.pk):
            errors.add(f"{prefix}.{path}", "invalid", "The key belongs to another tenant.")
    if errors:
        raise errors


def _check_issuer(issuer: str, *, tenant_id: uuid.UUID | None) -> str:
    """Issuers are unique per tenant: a token's `iss` names one tenant, never several."""
    issuer = (issuer or "").strip()
    if not issuer:
        raise ValidationFailed.on_field("tenant.issuer", "blank", "An issuer is required.")
    others = Tenant.objects.filter(issuer__iexact=issuer)
    if (others.exclude(pk=tenant_id) if tenant_id is not None else others).exists():
        raise ValidationFailed.on_field("tenant.issuer", "duplicate", "Another tenant has this issuer.")
    return issuer


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
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.on_field("tenant.name", "blank", "A name is required.")
    if Tenant.objects.filter(name__iexact=name).exists():
        raise ValidationFailed.on_field("tenant.name", "duplicate", "A tenant with this name already exists.")
    tenant_id = tenant_id or uuid.uuid4()
    issuer = _check_issuer(f"urn:uuid:{tenant_id}" if issuer is None else issuer, tenant_id=None)
    defaults = {f.name: f.get_default() for f in Tenant._meta.concrete_fields if f.name in TENANT_FIELDS}
    jwt_configuration_validate(values={**defaults, **config}, tenant=None)
    signers_check(current={}, changes=config, tenant=None, tenant_locked=False)
    if Tenant.objects.filter(pk=tenant_id).exists():
        raise ValidationFailed.on_field("tenantId", "duplicate", "A tenant with this id already exists.")
    tenant = Tenant(id=tenant_id, name=name, issuer=issuer, **config)
    tenant.save()
    if tenant.access_token_signing_key_id is None:
        # Like FusionAuth, a new tenant can sign tokens at once: it gets a key of its own.
        from identity.services.signing_keys import signing_key_generate

        key = signing_key_generate(
            tenant=tenant,
            algorithm=str(settings.IDENTITY_DEFAULT_SIGNING_ALGORITHM),
            name=f"{name} signing key",
        ).key
        tenant.access_token_signing_key = key
        tenant.id_token_signing_key = tenant.id_token_signing_key or key
        tenant.save(update_fields=["access_token_signing_key", "id_token_signing_key", "updated_at"])
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
    if "issuer" in changes:
        changes["issuer"] = _check_issuer(changes["issuer"], tenant_id=tenant.pk)
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise ValidationFailed.on_field("tenant.name", "blank", "A name is required.")
        if Tenant.objects.filter(name__iexact=name).exclude(pk=tenant.pk).exists():
            raise ValidationFailed.on_field(
                "tenant.name", "duplicate", "A tenant with this name already exists."
            )
        changes["name"] = name
    current = {f: getattr(tenant, f) for f in TENANT_FIELDS}
    jwt_configuration_validate(values={**current, **changes}, tenant=tenant)
    signers_check(current=current, changes=changes, tenant=tenant, tenant_locked=tenant_locked)
    signers = (tenant.access_token_signing_key_id, tenant.id_token_signing_key_id)
    for field_name, value in changes.items():
        setattr(tenant, field_name, value)
    tenant.save()
    if signers != (tenant.access_token_signing_key_id, tenant.id_token_signing_key_id):
        signers_retire(owner=tenant, tenant=tenant, before=signers, verify_until=verify_until)
    key_store_invalidate()
    return tenant


@transaction.atomic
def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant with everything in it. The default tenant holds the console staff and cannot go."""
    if tenant.is_default:
        raise Conflict("The default tenant cannot be deleted.")
    tenant.delete()
    key_store_invalidate()
