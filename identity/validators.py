"""Pure checks of the values callers may set, keyed by model field.

Every bound lives here once: the services call these before writing, the admin forms call them in
clean(), and the API maps the model fields to FusionAuth's wire paths (identity.serializers.common).
Nothing here writes; the name checks read, to find a clash.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import Model, QuerySet
from django.utils import timezone

from identity.exceptions import ValidationFailed
from identity.login_ids import MAX_KEY_LENGTH, login_id_in_normal_form, login_id_key
from identity.models import (
    APIKey,
    Application,
    ClientAuthenticationMethod,
    ClientAuthenticationPolicy,
    CookieSameSite,
    ExpirationPolicy,
    ExternalJWTProvider,
    KeyAlgorithm,
    KeyUse,
    LoginBackend,
    LoginTransport,
    OAuthGrant,
    Registration,
    SigningKey,
    Tenant,
    TokenExpiry,
    UsagePolicy,
    User,
)
from identity.parsers import storable_text

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
    # At least one session, or no login could issue a refresh token; FusionAuth users report one
    # user with 200k tokens taking their admin down, so the limit is itself bounded.
    "refresh_token_limit_per_user": (1, 100_000),
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


def _unique_check(
    *,
    field: str,
    value: Any,
    others: QuerySet[Any],
    current: Model | None,
    errors: ValidationFailed,
    message: str,
) -> None:
    """A required name-like value, unique among `others` ignoring case (`current` itself excepted)."""
    value = _name_check(value, errors, field=field)
    clash = others.filter(**{f"{field}__iexact": value})
    if value and (clash.exclude(pk=current.pk) if current is not None else clash).exists():
        errors.add(field, "duplicate", message)


def _lengths_check(model: type[Model], values: Mapping[str, Any], errors: ValidationFailed) -> None:
    """Text longer than its column: the same refusal at every door (the API's serializers say it
    first; a command or a service call reached the database with it: a DataError traceback on
    PostgreSQL, a silently long value on SQLite). The limits are the model's."""
    for name, value in values.items():
        if not isinstance(value, str) or name in errors.field_errors:  # one refusal a field
            continue
        try:
            limit = getattr(model._meta.get_field(name), "max_length", None)
        except FieldDoesNotExist:
            continue
        if limit is not None and len(value) > limit:
            errors.add(name, "invalid", f"Must be text of at most {limit} characters.")


def text_length_validate(*, model: type[Model], values: Mapping[str, Any]) -> None:
    """_lengths_check alone, for the values a service writes without a validator of their own
    (a role's name, a user's profile fields)."""
    errors = ValidationFailed()
    _lengths_check(model, values, errors)
    if errors:
        raise errors


def tenant_validate(*, values: Mapping[str, Any], tenant: Tenant | None) -> None:
    """The values a tenant would hold after the change (`tenant` None when creating): name and
    issuer present, name and issuer unique ignoring case, the lockout policy and JWT configuration in
    bounds."""
    errors = ValidationFailed()
    _lengths_check(Tenant, values, errors)
    tenants = Tenant.objects.all()
    if "name" in values:
        message = "A tenant with this name already exists."
        _unique_check(
            field="name", value=values["name"], others=tenants, current=tenant, errors=errors, message=message
        )
    if "issuer" in values:
        # Issuers are unique per tenant: a token's `iss` names one tenant, never several.
        message = "Another tenant has this issuer."
        _unique_check(
            field="issuer",
            value=values["issuer"],
            others=tenants,
            current=tenant,
            errors=errors,
            message=message,
        )
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
    _lengths_check(Application, values, errors)
    if "name" in values:
        _unique_check(
            field="name",
            value=values["name"],
            others=Application.objects.filter(tenant=tenant),
            current=application,
            errors=errors,
            message="An application with this name already exists in the tenant.",
        )
    _bounds_check(values, errors)
    _jwt_configuration_check(values, tenant, errors)
    if errors:
        raise errors


# --- users, registrations, API keys, signing keys, external JWT providers --------------------------
# Keyed by model field like the checks above. The services call these and, until the API maps model
# fields to FusionAuth's paths itself, re-key the errors to the paths the API has always answered
# (`ValidationFailed.keyed`); the admin forms call them in clean() and get the model fields.


def _login_id_key(*, field: str, value: str, errors: ValidationFailed) -> str | None:
    """The key of a new email or username (`field`), which must be in normal form (no look-alikes,
    identity.login_ids) and short enough; None (with the error added) otherwise."""
    if not login_id_in_normal_form(value):
        errors.add(
            field, "invalid", f"The {field} contains look-alike characters; type it in its plain form."
        )
        return None
    key = login_id_key(value)
    if len(key) > MAX_KEY_LENGTH:
        errors.add(field, "tooLong", f"The {field} is too long.")
        return None
    return key


def login_id_validate(*, field: str, value: str) -> str:
    """The key of a new email or username (`field` is "email" or "username"), without the
    uniqueness check (the caller's: one query, or one per batch of imported users)."""
    errors = ValidationFailed()
    key = _login_id_key(field=field, value=value, errors=errors)
    if key is None:
        raise errors
    return key


def _email_check(email: Any, errors: ValidationFailed) -> bool:
    """The email's form. The local part must be ASCII: Django's validator means it to be, but its
    case-insensitive pattern also lets through exactly four look-alike letters (KELVIN SIGN, long s,
    dotless i, dotted capital I). The domain may be internationalised."""
    email = (email if isinstance(email, str) else "").strip()
    if not email:
        errors.add("email", "blank", "An email address is required.")
        return False
    try:
        validate_email(email)
    except DjangoValidationError:
        errors.add("email", "invalid", "This is not a valid email address.")
        return False
    if not email.rpartition("@")[0].isascii():
        errors.add("email", "invalid", "The part before @ may only use ASCII letters, digits and symbols.")
        return False
    return True


def email_validate(*, email: Any) -> None:
    """An email's form only (see `_email_check`), keyed `email`."""
    errors = ValidationFailed()
    if not _email_check(email, errors):
        raise errors


MAX_DATA_DEPTH = 64
"""How deep a user's or registration's `data` may nest (the API's JSON parser allows as much)."""


def _data_problem(value: Any) -> str | None:
    """What makes `value` unfit as free-form `data`, else None: it must be a JSON object that
    PostgreSQL's jsonb, SQLite's JSON and every API answer can hold (no NUL or unpaired surrogate,
    no non-finite number), at most MAX_DATA_DEPTH deep."""
    if not isinstance(value, dict):
        return "Must be a JSON object."
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DATA_DEPTH:
            return f"Must nest at most {MAX_DATA_DEPTH} levels deep."
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not storable_text(key):
                    return "A member name holds a NUL character or an unpaired surrogate."
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if not storable_text(item):
                return "A value holds a NUL character or an unpaired surrogate."
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "A number is out of range (NaN or infinite)."
        elif item is not None and not isinstance(item, bool | int):
            return "Must hold only JSON values."
    return None


def _data_check(values: Mapping[str, Any], errors: ValidationFailed) -> None:
    if "data" in values and values["data"] is not None:
        problem = _data_problem(values["data"])
        if problem is not None:
            errors.add("data", "invalid", problem)


def user_validate(*, values: Mapping[str, Any], tenant: Tenant, user: User | None) -> None:
    """The email and username a user would have (`user` None when creating), when in `values`:
    a valid email, both in normal form and unique in the tenant by their keys; and its `data`, a
    JSON object every store and answer can hold (the console's form would otherwise keep a list
    that makes the user's every login and API answer fail)."""
    errors = ValidationFailed()
    _data_check(values, errors)
    login_ids = {}
    if "email" in values and _email_check(values["email"], errors):
        login_ids["email"] = values["email"].strip()
    username = values.get("username")
    if isinstance(username, str) and username.strip():
        login_ids["username"] = username.strip()
    for field, value in login_ids.items():
        key = _login_id_key(field=field, value=value, errors=errors)
        clash = User.objects.filter(tenant=tenant, **{f"{field}_key": key})
        if key is not None and (clash.exclude(pk=user.pk) if user is not None else clash).exists():
            errors.add(field, "duplicate", f"A user with this {field} already exists.")
    _lengths_check(User, values, errors)  # last: a login id already refused keeps its one error
    if errors:
        raise errors


def user_password_validate(*, password: str, user: User) -> None:
    """Django's password validators (settings.AUTH_PASSWORD_VALIDATORS) for `user`, keyed `password`."""
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        errors = ValidationFailed()
        for message in exc.messages:
            errors.add("password", "invalid", message)
        raise errors from exc


def registration_validate(
    *, values: Mapping[str, Any], user: User, application: Application, registration: Registration | None
) -> None:
    """A registration (`registration` None when creating): an application of the user's tenant, one
    registration per user and application, only role names of the application (any case), and
    `data` as user_validate checks it."""
    errors = ValidationFailed()
    _data_check(values, errors)
    if registration is None:
        if application.tenant_id != user.tenant_id:
            errors.add("application", "invalid", "The application belongs to another tenant.")
        elif Registration.objects.filter(user=user, application=application).exists():
            errors.add("application", "duplicate", "The user is already registered for this application.")
    _roles_check(application=application, roles=values.get("roles"), errors=errors)
    if errors:
        raise errors


def _roles_check(*, application: Application, roles: Iterable[Any] | None, errors: ValidationFailed) -> None:
    if roles is None:
        return
    known = {role.name.lower() for role in application.roles.all()}
    unknown = [str(name) for name in roles if str(name).strip().lower() not in known]
    if unknown:
        errors.add("roles", "invalid", f"Not roles of the application: {', '.join(unknown)}.")


def roles_validate(*, application: Application, roles: Iterable[Any] | None) -> None:
    """Role names of the application (any case), keyed `roles`; None: its default roles."""
    errors = ValidationFailed()
    _roles_check(application=application, roles=roles, errors=errors)
    if errors:
        raise errors


HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
MIN_SUPPLIED_KEY_LENGTH = 32
# A supplied key value: printable ASCII without spaces or quotes, the characters of base64, base64url
# and hex. No whitespace (so "Bearer …" or padded values are refused) and nothing a header, shell or
# copy-paste could alter. Generated values (token_urlsafe) use a subset.
KEY_ALPHABET = re.compile(r"[A-Za-z0-9._~+/=-]+")


def api_key_value_well_formed(value: str) -> bool:
    """Whether `value` uses only the key alphabet (any length): the one check for supplied keys and
    presented Authorization values."""
    return KEY_ALPHABET.fullmatch(value) is not None


def _permissions_problem(permissions: Any) -> str | None:
    if permissions in (None, {}):
        return None
    if not isinstance(permissions, dict):
        return "Permissions map endpoints to lists of methods."
    for endpoint, methods in permissions.items():
        if (
            not isinstance(endpoint, str)
            or not endpoint.startswith("/api/")
            or not endpoint.isprintable()
            or any(c.isspace() for c in endpoint)
        ):
            return f"{endpoint!r} is not an API endpoint path."
        if not isinstance(methods, list) or not methods:
            return f"{endpoint} needs a non-empty list of methods."
        bad = sorted({str(m).upper() for m in methods} - HTTP_METHODS)
        if bad:
            return f"Unknown HTTP methods for {endpoint}: {', '.join(bad)}."
    return None


def api_key_validate(*, values: Mapping[str, Any], now: datetime | None = None) -> None:
    """An API key's values, when in `values`: permissions as `{"/api/path": ["GET", ...]}` (anything
    else is an error, never a silent super key), an expiry in the future, and a supplied `key` value
    long enough to be unguessable and in the key alphabet."""
    errors = ValidationFailed()
    _lengths_check(APIKey, {k: v for k, v in values.items() if k != "key"}, errors)  # key: its own rule
    key = values.get("key")
    if key is not None and len(key) < MIN_SUPPLIED_KEY_LENGTH:
        errors.add("key", "tooShort", f"A supplied key needs at least {MIN_SUPPLIED_KEY_LENGTH} characters.")
    elif key is not None and not api_key_value_well_formed(key):
        errors.add(
            "key", "invalid", "A supplied key may only use letters, digits and . _ ~ + / = - (no spaces)."
        )
    expires_at = values.get("expires_at")
    if expires_at is not None and expires_at <= (now or timezone.now()):
        errors.add("expires_at", "invalid", "The expiry must be in the future.")
    problem = _permissions_problem(values.get("permissions"))
    if problem is not None:
        errors.add("permissions", "invalid", problem)
    if errors:
        raise errors


HMAC_SECRET_BYTES = {KeyAlgorithm.HS256: 32, KeyAlgorithm.HS384: 48, KeyAlgorithm.HS512: 64}
MAX_HMAC_SECRET_BYTES = 512
RSA_LENGTHS = (2048, 3072, 4096)


def signing_key_validate(*, values: Mapping[str, Any]) -> None:
    """A key's name, when in `values`, and for a key to generate its algorithm and length: RSA keys
    of 2048, 3072 or 4096 bits, HMAC secrets at least as long as the hash output (RFC 7518 §3.2)."""
    errors = ValidationFailed()
    _lengths_check(SigningKey, values, errors)
    if "name" in values:
        _name_check(values["name"], errors)
    algorithm, length = values.get("algorithm"), values.get("length")
    if "algorithm" in values and algorithm not in KeyAlgorithm.values:
        errors.add("algorithm", "invalid", f"Supported algorithms: {', '.join(KeyAlgorithm.values)}.")
    elif algorithm in HMAC_SECRET_BYTES and length:
        minimum = HMAC_SECRET_BYTES[KeyAlgorithm(algorithm)]
        if not minimum <= length <= MAX_HMAC_SECRET_BYTES:
            errors.add(
                "length",
                "invalid",
                f"{algorithm} secrets are {minimum} to {MAX_HMAC_SECRET_BYTES} bytes long.",
            )
    elif isinstance(algorithm, str) and algorithm.startswith("RS") and length and length not in RSA_LENGTHS:
        errors.add("length", "invalid", "RSA keys are 2048, 3072 or 4096 bits.")
    if errors:
        raise errors


# User profile fields an external identity provider's claims may fill in.
MAPPABLE_USER_FIELDS = frozenset({"first_name", "middle_name", "last_name", "full_name", "username"})


def external_jwt_provider_validate(
    *, values: Mapping[str, Any], tenant: Tenant, provider: ExternalJWTProvider | None
) -> None:
    """An external JWT provider (`provider` None when creating): a name unique in its tenant ignoring
    case, at least one verification key, keys of its tenant (or global ones),
    applications of its tenant, claims mapped onto profile fields only."""
    errors = ValidationFailed()
    _unique_check(
        field="name",
        value=values.get("name"),
        others=ExternalJWTProvider.objects.filter(tenant=tenant),
        current=provider,
        errors=errors,
        message="A provider with this name exists.",
    )
    keys = list(values.get("verification_keys") or [])
    if not keys:
        errors.add("verification_keys", "blank", "At least one verification key is needed.")
    elif any(key.tenant_id not in (None, tenant.pk) for key in keys):
        errors.add("verification_keys", "invalid", "A key belongs to another tenant.")
    if any(application.tenant_id != tenant.pk for application in values.get("applications") or []):
        errors.add("applications", "invalid", "An application belongs to another tenant.")
    claim_map = values.get("claim_map")
    if not isinstance(claim_map, dict) or any(
        field not in MAPPABLE_USER_FIELDS for field in claim_map.values()
    ):
        errors.add("claim_map", "invalid", f"Claims map onto {', '.join(sorted(MAPPABLE_USER_FIELDS))}.")
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


# --- login backends (fastapi-users style, /auth/<name>/login) ------------------------------------

LOGIN_BACKEND_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A backend name: it is a path segment (`/auth/<name>/login`), so ASCII only."""
LOGIN_BACKEND_FIELDS = frozenset(
    {
        "name",
        "transport",
        "lifetime_seconds",
        "cookie_name",
        "cookie_domain",
        "cookie_path",
        "cookie_secure",
        "cookie_samesite",
    }
)
MAX_LOGIN_BACKEND_LIFETIME_SECONDS = 366 * 24 * 3600
_COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an RFC 6265 cookie-name token
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_COOKIE_DOMAIN = re.compile(rf"\.?(?:{_LABEL}\.)*{_LABEL}")  # an ASCII host name, dots between labels
_COOKIE_PATH = re.compile(r"/[\x21-\x3a\x3c-\x7e]{0,254}")  # printable ASCII without ';'


def login_backend_validate(*, values: Mapping[str, Any], backend: LoginBackend | None) -> None:
    """The values a login backend would hold after the change (`backend` None when creating): a
    name usable in the path and unique across the service, a known transport, a lifetime from 1 s
    to 366 days, and cookie attributes a browser reads one way only (SameSite=None needs Secure)."""
    errors = ValidationFailed()
    name = values.get("name")
    if not isinstance(name, str) or not LOGIN_BACKEND_NAME.fullmatch(name):
        errors.add("name", "invalid", "A name of letters, digits, '-' and '_' (at most 64).")
    else:
        others = LoginBackend.objects.filter(name=name)
        if (others.exclude(pk=backend.pk) if backend is not None else others).exists():
            errors.add("name", "duplicate", "Another login backend has this name.")
    if values.get("transport") not in LoginTransport.values:
        errors.add("transport", "invalid", f"Must be one of {', '.join(LoginTransport.values)}.")
    lifetime = values.get("lifetime_seconds")
    if (
        isinstance(lifetime, bool)
        or not isinstance(lifetime, int)
        or not 1 <= lifetime <= MAX_LOGIN_BACKEND_LIFETIME_SECONDS
    ):
        errors.add(
            "lifetime_seconds",
            "invalid",
            f"Must be a whole number of seconds from 1 to {MAX_LOGIN_BACKEND_LIFETIME_SECONDS}.",
        )
    secure = values.get("cookie_secure")
    if not isinstance(secure, bool):
        errors.add("cookie_secure", "invalid", "Must be true or false.")
    samesite = values.get("cookie_samesite")
    if samesite not in CookieSameSite.values:
        errors.add("cookie_samesite", "invalid", f"Must be one of {', '.join(CookieSameSite.values)}.")
    elif samesite == CookieSameSite.NONE and secure is False:
        errors.add("cookie_samesite", "invalid", "SameSite=None needs a Secure cookie.")
    cookie_name = values.get("cookie_name")
    if not isinstance(cookie_name, str) or not _COOKIE_NAME.fullmatch(cookie_name):
        errors.add("cookie_name", "invalid", "Letters, digits and !#$%&'*+.^_`|~- (at most 64).")
    path = values.get("cookie_path")
    if not isinstance(path, str) or not _COOKIE_PATH.fullmatch(path):
        errors.add("cookie_path", "invalid", "A path starting with '/', printable ASCII without ';'.")
    domain = values.get("cookie_domain")
    if not isinstance(domain, str) or (
        domain and (len(domain) > 253 or not _COOKIE_DOMAIN.fullmatch(domain))
    ):
        errors.add("cookie_domain", "invalid", "A host name, or empty for the host that answered.")
    if errors:
        raise errors
