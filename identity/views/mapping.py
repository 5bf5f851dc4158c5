"""FusionAuth's nested JSON ↔ the flat keyword arguments of our services, declared once per object.

Each spec names a JSON path, the model field behind it and how to read the value. Reading checks
types and reports errors on FusionAuth's field paths (`[invalid]tenant.jwtConfiguration.…`);
writing builds the nested response from the same table, so input and output cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from identity.exceptions import ErrorItem, ValidationFailed
from identity.models import ExpirationPolicy, SigningKey, Tenant, UsagePolicy
from identity.serializers.common import instant

Reader = Callable[[Any, str], Any]


def read_int(value: Any, path: str) -> int:
    """A whole number; its bounds are the field's, checked by identity.validators in the service."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.on_field(path, "invalid", "Must be a whole number.")
    return value


def read_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed.on_field(path, "invalid", "Must be true or false.")
    return value


def read_str(max_length: int = 255, blank: bool = True) -> Reader:
    def read(value: Any, path: str) -> str:
        if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
            raise ValidationFailed.on_field(
                path, "invalid", f"Must be text of at most {max_length} characters."
            )
        if not blank and not value.strip():
            raise ValidationFailed.on_field(path, "blank", "Must not be blank.")
        return value

    return read


def read_optional_str(max_length: int = 255) -> Reader:
    inner = read_str(max_length)
    return lambda value, path: None if value is None else inner(value, path)


def read_choice(choices: Sequence[str]) -> Reader:
    def read(value: Any, path: str) -> str:
        if value not in choices:
            raise ValidationFailed.on_field(path, "invalid", f"Must be one of {', '.join(choices)}.")
        return str(value)

    return read


def read_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed.on_field(path, "invalid", "Must be a JSON object.")
    return value


def read_instant(value: Any, path: str) -> datetime | None:
    """Epoch milliseconds, FusionAuth's instants (null clears)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 253_402_300_799_000:
        raise ValidationFailed.on_field(path, "invalid", "Must be epoch milliseconds.")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def read_uuid(value: Any, path: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed.on_field(path, "couldNotConvert", "Must be a UUID.") from exc


def key_reader(tenant: Tenant | None) -> Reader:
    """A signing-key id that the tenant may use (its own or a global key), as the key record."""

    def read(value: Any, path: str) -> SigningKey | None:
        if value is None:
            return None
        key = SigningKey.objects.filter(pk=read_uuid(value, path)).first()
        if key is None or (key.tenant_id is not None and (tenant is None or key.tenant_id != tenant.pk)):
            raise ValidationFailed.on_field(path, "invalid", "No signing key of this tenant has this id.")
        return key

    return read


@dataclass(frozen=True)
class Spec:
    path: tuple[str, ...]
    field: str
    read: Reader
    write: Callable[[Any], Any] = lambda value: value


def _key_id(key: SigningKey | None) -> str | None:
    return str(key.pk) if key is not None else None


def jwt_specs(tenant: Tenant | None) -> list[Spec]:
    """The JWT configuration shared by tenants and applications."""
    base = ("jwtConfiguration",)
    return [
        Spec((*base, "timeToLiveInSeconds"), "access_token_ttl_seconds", read_int),
        Spec((*base, "refreshTokenTimeToLiveInMinutes"), "refresh_token_ttl_minutes", read_int),
        Spec((*base, "refreshTokenExpirationPolicy"), "refresh_token_expiration_policy",
             read_choice(ExpirationPolicy.values)),
        Spec((*base, "refreshTokenUsagePolicy"), "refresh_token_usage_policy",
             read_choice(UsagePolicy.values)),
        Spec((*base, "refreshTokenSlidingWindowConfiguration", "maximumTimeToLiveInMinutes"),
             "refresh_token_max_ttl_minutes", read_int),
        Spec((*base, "refreshTokenOneTimeUseConfiguration", "gracePeriodInSeconds"),
             "refresh_token_grace_period_seconds", read_int),
        Spec((*base, "accessTokenKeyId"), "access_token_signing_key", key_reader(tenant), _key_id),
        Spec((*base, "idTokenKeyId"), "id_token_signing_key", key_reader(tenant), _key_id),
    ]  # fmt: skip


def tenant_specs(tenant: Tenant | None) -> list[Spec]:
    revocation = ("jwtConfiguration", "refreshTokenRevocationPolicy")
    failed = ("failedAuthenticationConfiguration",)
    return [
        Spec(("name",), "name", read_str(191, blank=False)),
        Spec(("issuer",), "issuer", read_str(255, blank=False)),
        *jwt_specs(tenant),
        Spec((*revocation, "onPasswordChanged"), "revoke_on_password_changed", read_bool),
        Spec((*revocation, "onLoginPrevented"), "revoke_on_login_prevented", read_bool),
        Spec((*revocation, "onOneTimeTokenReuse"), "revoke_on_one_time_token_reuse", read_bool),
        Spec(("jwtConfiguration", "validateChecksState"), "validate_checks_state", read_bool),
        Spec(("loginConfiguration", "requireAuthentication"), "require_authentication", read_bool),
        Spec((*failed, "tooManyAttempts"), "failed_login_max_attempts", read_int),
        Spec((*failed, "resetCountInSeconds"), "failed_login_window_seconds", read_int),
        Spec((*failed, "actionDurationInSeconds"), "failed_login_lockout_seconds", read_int),
    ]


def application_specs(tenant: Tenant | None) -> list[Spec]:
    login = ("loginConfiguration",)
    return [
        Spec(("name",), "name", read_str(191, blank=False)),
        Spec(("jwtConfiguration", "enabled"), "jwt_enabled", read_bool),
        *jwt_specs(tenant),
        Spec((*login, "generateRefreshTokens"), "generate_refresh_tokens", read_bool),
        Spec((*login, "allowTokenRefresh"), "allow_token_refresh", read_bool),
        Spec((*login, "requireAuthentication"), "require_authentication", read_bool),
    ]


USER_SPECS = [
    Spec(("email",), "email", read_str(254, blank=False)),
    Spec(("username",), "username", read_optional_str(191)),
    Spec(("firstName",), "first_name", read_str(150)),
    Spec(("middleName",), "middle_name", read_str(150)),
    Spec(("lastName",), "last_name", read_str(150)),
    Spec(("fullName",), "full_name", read_str(300)),
    Spec(("active",), "is_active", read_bool),
    Spec(("verified",), "verified", read_bool),
    Spec(("expiry",), "expires_at", read_instant, instant),
    Spec(("data",), "data", read_dict),
]


def wire_paths(root: str, specs: list[Spec]) -> dict[str, str]:
    """Model field → FusionAuth error path, e.g. failed_login_max_attempts →
    tenant.failedAuthenticationConfiguration.tooManyAttempts."""
    return {spec.field: ".".join((root, *spec.path)) for spec in specs}


@contextmanager
def errors_on_wire(root: str, specs: list[Spec]) -> Iterator[None]:
    """Re-key a service's ValidationFailed from model fields to the wire paths of `specs`; other
    keys (e.g. `tenantId`, `role.name`) pass through unchanged."""
    try:
        yield
    except ValidationFailed as exc:
        paths = wire_paths(root, specs)
        if not any(key in paths for key in exc.field_errors):
            raise
        field_errors = {
            paths.get(key, key): [
                ErrorItem(item.code.removesuffix(key) + paths.get(key, key), item.message, item.data)
                for item in items
            ]
            for key, items in exc.field_errors.items()
        }
        raise ValidationFailed(field_errors, exc.general_errors) from exc


def read_object(payload: Any, root: str, specs: list[Spec]) -> dict[str, Any]:
    """The service keyword arguments for the members present in `payload` (absent members are
    left out, so PATCH and PUT change only what they send)."""
    if not isinstance(payload, dict):
        raise ValidationFailed.on_field(root, "invalid", f"{root} must be a JSON object.")
    values: dict[str, Any] = {}
    errors = ValidationFailed()
    for spec in specs:
        node: Any = payload
        for part in spec.path:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            try:
                values[spec.field] = spec.read(node, ".".join((root, *spec.path)))
            except ValidationFailed as exc:
                errors.field_errors.update(exc.field_errors)
    if errors:
        raise errors
    return values


def write_object(instance: Any, specs: list[Spec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in specs:
        node = out
        for part in spec.path[:-1]:
            node = node.setdefault(part, {})
        node[spec.path[-1]] = spec.write(getattr(instance, spec.field))
    return out
