"""Pure checks of tenant and application values, keyed by model field.

Every bound lives here once: the services call these before writing, the admin forms call them in
clean(), and the API maps the model fields to FusionAuth's wire paths (identity.serializers.common).
Nothing here writes; the name checks read, to find a clash.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from typing import Any

from identity.exceptions import ValidationFailed
from identity.models import (
    Application,
    ExpirationPolicy,
    KeyUse,
    SigningKey,
    Tenant,
    TokenExpiry,
    UsagePolicy,
)

INT_MAX = 2**31 - 1
# The database refuses a grace period of a day or more (identity_*_grace_lt_day): the backstop.
MAX_GRACE_PERIOD_SECONDS = 86_399
# Inclusive (minimum, maximum) of every whole-number field callers may set.
BOUNDS: dict[str, tuple[int, int]] = {
    "access_token_ttl_seconds": (1, INT_MAX),
    "refresh_token_ttl_minutes": (1, INT_MAX),
    "refresh_token_max_ttl_minutes": (1, INT_MAX),
    "refresh_token_grace_period_seconds": (0, MAX_GRACE_PERIOD_SECONDS),
    "failed_login_max_attempts": (1, 1000),
    "failed_login_window_seconds": (1, 86_400 * 30),
    "failed_login_lockout_seconds": (1, 86_400 * 365),
}


def _bounds_check(values: Mapping[str, Any], errors: ValidationFailed) -> None:
    for name, (minimum, maximum) in BOUNDS.items():
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            errors.add(name, "invalid", f"Must be a whole number from {minimum} to {maximum}.")


def _jwt_configuration_check(
    values: Mapping[str, Any], tenant: Tenant | None, errors: ValidationFailed
) -> None:
    """A JWT configuration as a whole (tenant or application override): a sliding cap shorter than
    the TTL, an unknown policy or a key of another tenant is refused the same way everywhere."""
    ttl, cap = values.get("refresh_token_ttl_minutes"), values.get("refresh_token_max_ttl_minutes")
    capped = "refresh_token_max_ttl_minutes" not in errors.field_errors
    if capped and isinstance(ttl, int) and isinstance(cap, int) and cap < ttl:
        errors.add(
            "refresh_token_max_ttl_minutes",
            "invalid",
            "The maximum lifetime must be at least the refresh-token time to live.",
        )
    if values.get("refresh_token_expiration_policy", ExpirationPolicy.FIXED) not in ExpirationPolicy.values:
        errors.add("refresh_token_expiration_policy", "invalid", "Unknown expiration policy.")
    if values.get("refresh_token_usage_policy", UsagePolicy.REUSABLE) not in UsagePolicy.values:
        errors.add("refresh_token_usage_policy", "invalid", "Unknown usage policy.")
    for name in ("access_token_signing_key", "id_token_signing_key"):
        key = values.get(name)
        if key is None:
            continue
        if not isinstance(key, SigningKey) or key.use != KeyUse.SIGN_AND_VERIFY or not key.has_private_key:
            errors.add(name, "invalid", "The key must be a signing key with private material.")
        elif key.tenant_id is not None and (tenant is None or key.tenant_id != tenant.pk):
            errors.add(name, "invalid", "The key belongs to another tenant.")


def _name_check(name: Any, errors: ValidationFailed, field: str = "name") -> str:
    name = (name if isinstance(name, str) else "").strip()
    if not name:
        errors.add(field, "blank", "A name is required." if field == "name" else "An issuer is required.")
    return name


def tenant_validate(*, values: Mapping[str, Any], tenant: Tenant | None) -> None:
    """The values a tenant would hold after the change (`tenant` None when creating): name and
    issuer present, name and issuer unique ignoring case, the lockout policy and JWT configuration in
    bounds."""
    errors = ValidationFailed()
    if "name" in values:
        name = _name_check(values["name"], errors)
        clash = Tenant.objects.filter(name__iexact=name)
        clash = clash.exclude(pk=tenant.pk) if tenant is not None else clash
        if name and clash.exists():
            errors.add("name", "duplicate", "A tenant with this name already exists.")
    if "issuer" in values:
        # Issuers are unique per tenant: a token's `iss` names one tenant, never several.
        issuer = _name_check(values["issuer"], errors, field="issuer")
        clash = Tenant.objects.filter(issuer__iexact=issuer)
        clash = clash.exclude(pk=tenant.pk) if tenant is not None else clash
        if issuer and clash.exists():
            errors.add("issuer", "duplicate", "Another tenant has this issuer.")
    _bounds_check(values, errors)
    _jwt_configuration_check(values, tenant, errors)
    if errors:
        raise errors


def application_validate(
    *, values: Mapping[str, Any], tenant: Tenant, application: Application | None
) -> None:
    """The values an application would hold after the change (`application` None when creating):
    a name unique in its tenant ignoring case, and its JWT configuration override in bounds."""
    errors = ValidationFailed()
    if "name" in values:
        name = _name_check(values["name"], errors)
        clash = Application.objects.filter(tenant=tenant, name__iexact=name)
        clash = clash.exclude(pk=application.pk) if application is not None else clash
        if name and clash.exists():
            errors.add("name", "duplicate", "An application with this name already exists in the tenant.")
    _bounds_check(values, errors)
    _jwt_configuration_check(values, tenant, errors)
    if errors:
        raise errors


# --- Personal access tokens ------------------------------------------------------------------------
MAX_PAT_NAME = 191
MAX_PAT_SCOPES = 100
MAX_PAT_ALLOWED_IPS = 50


def _allowed_ips_check(value: Any, errors: ValidationFailed) -> None:
    if not isinstance(value, list) or len(value) > MAX_PAT_ALLOWED_IPS:
        errors.add("allowed_ips", "invalid", f"Must be a list of at most {MAX_PAT_ALLOWED_IPS} addresses.")
        return
    for item in value:
        try:
            if not isinstance(item, str) or len(item) > 64:
                raise ValueError(item)
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            errors.add("allowed_ips", "invalid", f"{str(item)[:64]!r} is not an IP address or CIDR network.")
            return


def personal_access_token_validate(
    *, values: Mapping[str, Any], held_roles: Collection[str], name_taken: bool
) -> None:
    """A new personal access token: a name unique among the user's live tokens (`name_taken`), an
    expiry from seed 000's list, scopes the user holds through their registrations (`held_roles`),
    and addresses or CIDR networks to allow. Keyed by model field; the caller reads the facts."""
    errors = ValidationFailed()
    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "blank", "A name is required.")
    elif len(name.strip()) > MAX_PAT_NAME or not name.isprintable():
        errors.add("name", "invalid", f"Must be printable text of at most {MAX_PAT_NAME} characters.")
    elif name_taken:
        errors.add("name", "duplicate", "The user already has a live token with this name.")
    if values.get("expiry") not in TokenExpiry.values:
        errors.add("expiry", "invalid", f"Must be one of {', '.join(TokenExpiry.values)}.")
    scopes = values.get("scopes", [])
    if (
        not isinstance(scopes, list)
        or len(scopes) > MAX_PAT_SCOPES
        or not all(isinstance(scope, str) for scope in scopes)
    ):
        errors.add("scopes", "invalid", f"Must be a list of at most {MAX_PAT_SCOPES} role names.")
    else:
        missing = sorted(set(scopes) - set(held_roles))
        if missing:
            errors.add(
                "scopes", "invalid", f"The user's registrations do not grant: {', '.join(missing)[:500]}."
            )
    _allowed_ips_check(values.get("allowed_ips", []), errors)
    if errors:
        raise errors
