"""Pure checks of tenant and application values, keyed by model field.

Every bound lives here once: the services call these before writing, the admin forms call them in
clean(), and the API maps the model fields to FusionAuth's wire paths (identity.serializers.common).
Nothing here writes; the name checks read, to find a clash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from identity.exceptions import ValidationFailed
from identity.models import (
    Application,
    ClientAuthenticationMethod,
    ClientAuthenticationPolicy,
    ExpirationPolicy,
    KeyUse,
    OAuthGrant,
    SigningKey,
    Tenant,
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


# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,255}")
MAX_SCOPES = 100
MAX_INLINE_JWKS = 10
MAX_TOKEN_REQUESTS_PER_MINUTE = 10_000_000


def _choice_list(values: Mapping[str, Any], name: str, allowed: list[str], errors: ValidationFailed) -> None:
    if name not in values:
        return
    items = values[name]
    if not isinstance(items, list | tuple) or any(not isinstance(i, str) or i not in allowed for i in items):
        errors.add(name, "invalid", f"Must be a list of: {', '.join(allowed)}.")
    elif len(set(items)) != len(items):
        errors.add(name, "duplicate", "A value is listed twice.")


def oauth_configuration_validate(*, values: Mapping[str, Any], tenant: Tenant) -> None:
    """The OAuth client configuration an application would hold after the change: known grants,
    policy and methods, RFC 6749 scope tokens, assertion keys that are public keys of the tenant (or
    global) and a throttle in bounds. Inline JWKS members are parsed by the service (signing door)."""
    errors = ValidationFailed()
    _choice_list(values, "enabled_grants", OAuthGrant.values, errors)
    _choice_list(values, "client_authentication_methods", ClientAuthenticationMethod.values, errors)
    policy = values.get("client_authentication_policy", ClientAuthenticationPolicy.REQUIRED)
    if policy not in ClientAuthenticationPolicy.values:
        errors.add("client_authentication_policy", "invalid", "Unknown client authentication policy.")
    scopes = values.get("scopes", [])
    if (
        not isinstance(scopes, list | tuple)
        or len(scopes) > MAX_SCOPES
        or any(not isinstance(s, str) or not SCOPE_TOKEN.fullmatch(s) for s in scopes)
    ):
        errors.add(
            "scopes", "invalid", f'At most {MAX_SCOPES} scope tokens (printable ASCII, no space, " or \\).'
        )
    for key in values.get("assertion_keys", []):
        if not isinstance(key, SigningKey) or key.algorithm.startswith("HS") or not key.public_key:
            errors.add(
                "assertion_keys", "invalid", "Assertion keys must be public (RSA, EC or Ed25519) keys."
            )
        elif key.tenant_id is not None and key.tenant_id != tenant.pk:
            errors.add("assertion_keys", "invalid", "The key belongs to another tenant.")
    jwks = values.get("jwks", {})
    keys = jwks.get("keys", []) if isinstance(jwks, dict) else None
    if (
        not isinstance(keys, list)
        or len(keys) > MAX_INLINE_JWKS
        or any(not isinstance(k, dict) for k in keys)
    ):
        errors.add(
            "jwks", "invalid", f'Must be a JWKS: {{"keys": [...]}} with at most {MAX_INLINE_JWKS} keys.'
        )
    limit = values.get("token_requests_per_minute", 0)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 0 <= limit <= MAX_TOKEN_REQUESTS_PER_MINUTE
    ):
        errors.add(
            "token_requests_per_minute",
            "invalid",
            f"Must be a whole number from 0 to {MAX_TOKEN_REQUESTS_PER_MINUTE}.",
        )
    if errors:
        raise errors
