"""External JWT identity providers for /api/jwt/reconcile."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from identity.exceptions import errors_keyed
from identity.key_store import key_store_invalidate
from identity.models import Application, ExternalJWTProvider, IdentityProviderLink, SigningKey, Tenant
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.validators import external_jwt_provider_validate

# The API's error paths for the validators' model fields (identity.validators).
PROVIDER_ERROR_PATHS = {
    "name": "identityProvider.name",
    "verification_keys": "identityProvider.keys",
    "applications": "identityProvider.applicationIds",
    "claim_map": "identityProvider.claimMap",
}


def _validate(
    *,
    tenant: Tenant,
    name: str,
    keys: list[SigningKey],
    applications: list[Application],
    claim_map: Any,
    provider: ExternalJWTProvider | None = None,
) -> str:
    values = {"name": name, "verification_keys": keys, "applications": applications, "claim_map": claim_map}
    with errors_keyed(PROVIDER_ERROR_PATHS):
        external_jwt_provider_validate(values=values, tenant=tenant, provider=provider)
    return name.strip()


@transaction.atomic
def external_jwt_provider_create(
    *,
    tenant: Tenant,
    name: str,
    keys: Iterable[SigningKey],
    applications: Iterable[Application],
    unique_identity_claim: str = "email",
    claim_map: dict[str, Any] | None = None,
    issuer: str = "",
    audience: str = "",
    enabled: bool = True,
) -> ExternalJWTProvider:
    """Register a provider whose tokens may log users into the given applications of the tenant.
    Its keys are our key records (import the provider's public keys first); applications of other
    tenants and claim mappings onto anything but profile fields are refused."""
    keys, applications, claim_map = list(keys), list(applications), claim_map or {}
    name = _validate(tenant=tenant, name=name, keys=keys, applications=applications, claim_map=claim_map)
    provider = ExternalJWTProvider.objects.create(
        tenant=tenant,
        name=name,
        enabled=enabled,
        unique_identity_claim=unique_identity_claim.strip() or "email",
        claim_map=claim_map,
        issuer=issuer.strip(),
        audience=audience.strip(),
    )
    provider.verification_keys.set(keys)
    provider.applications.set(applications)
    audit_record(action="identity_provider.create", obj=provider)
    key_store_invalidate()  # its keys now speak for the provider only (never verify at validate)
    return provider


@transaction.atomic
def external_jwt_provider_update(
    *,
    provider: ExternalJWTProvider,
    name: str,
    keys: Iterable[SigningKey],
    applications: Iterable[Application],
    unique_identity_claim: str,
    claim_map: dict[str, Any],
    issuer: str,
    audience: str,
    enabled: bool,
) -> ExternalJWTProvider:
    """Replace a provider's settings, validated like a new one (its tenant cannot change)."""
    keys, applications = list(keys), list(applications)
    before = audit_snapshot(provider)
    provider.name = _validate(
        tenant=provider.tenant,
        name=name,
        keys=keys,
        applications=applications,
        claim_map=claim_map,
        provider=provider,
    )
    provider.unique_identity_claim = unique_identity_claim.strip() or "email"
    provider.claim_map, provider.issuer, provider.audience = claim_map, issuer.strip(), audience.strip()
    provider.enabled = enabled
    provider.save()
    provider.verification_keys.set(keys)
    provider.applications.set(applications)
    audit_record(action="identity_provider.update", obj=provider, diff=audit_changes(before, provider))
    key_store_invalidate()  # its keys now speak for the provider only (never verify at validate)
    return provider


@transaction.atomic
def external_jwt_provider_delete(*, provider: ExternalJWTProvider) -> None:
    """Delete a provider with its user links; the users it created stay (they belong to the tenant)
    and its verification keys stay (they are the tenant's keys)."""
    audit_record(action="identity_provider.delete", obj=provider, diff=audit_snapshot(provider))
    provider.delete()


@transaction.atomic
def identity_provider_link_delete(*, link: IdentityProviderLink) -> None:
    """Unlink a user from a provider: the next token with that subject reconciles it again."""
    audit_record(
        action="identity_provider_link.delete", object_type="identityproviderlink", object_id=link.pk
    )
    link.delete()
