"""System checks: refuse to start with key-encryption settings that would lose or leak keys."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Critical, register
from django.core.exceptions import ImproperlyConfigured

from identity import app_settings
from identity.key_encryption import parse_kek
from identity.middleware_config import token_authorization_check
from identity.throttles import DIMENSIONS, rates

# IDENTITY_TOKEN_AUTHORIZATION (identity.middleware): the same function identity.middleware_app
# registers, so a project with both apps runs it once.
register(token_authorization_check)


@register()
def key_encryption_keys_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    names = [("IDENTITY_KEY_ENCRYPTION_KEY", settings.IDENTITY_KEY_ENCRYPTION_KEY)] + [
        ("IDENTITY_KEY_ENCRYPTION_KEYS_OLD", value) for value in app_settings.key_encryption_keys_old()
    ]
    for name, value in names:
        try:
            parse_kek(value or "")
        except ImproperlyConfigured as exc:
            problems.append(Critical(f"{name}: {exc}", id="identity.E001"))
    return problems


@register()
def jwt_leeway_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    leeway = app_settings.jwt_leeway_seconds()
    if not 0 <= leeway <= 300:
        return [Critical("IDENTITY_JWT_LEEWAY_SECONDS must be between 0 and 300.", id="identity.E002")]
    return []


@register()
def default_signing_algorithm_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from identity.models import KeyAlgorithm

    if app_settings.default_signing_algorithm() not in KeyAlgorithm.values:
        return [
            Critical(
                f"IDENTITY_DEFAULT_SIGNING_ALGORITHM must be one of {', '.join(KeyAlgorithm.values)}.",
                id="identity.E003",
            )
        ]
    return []


@register()
def trusted_proxy_count_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not 0 <= app_settings.trusted_proxy_count() <= 10:
        return [Critical("IDENTITY_TRUSTED_PROXY_COUNT must be between 0 and 10.", id="identity.E004")]
    return []


@register()
def throttle_rates_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """IDENTITY_THROTTLE_RATES (identity/throttles.py): every name `<scope>.<dimension>`, every
    rate `<n>/<s|min|hour|day>` or `off`; a typo must stop the start, not answer 500 later."""
    configured = getattr(settings, "IDENTITY_THROTTLE_RATES", {})
    problems: list[CheckMessage] = []
    for name in configured:
        scope, _, dimension = str(name).partition(".")
        if not scope or dimension not in DIMENSIONS:
            problems.append(
                Critical(
                    f"IDENTITY_THROTTLE_RATES: {name!r} is not <scope>.<{'|'.join(DIMENSIONS)}>.",
                    id="identity.E005",
                )
            )
    try:
        rates()
    except ImproperlyConfigured as exc:
        problems.append(Critical(f"IDENTITY_THROTTLE_RATES: {exc}", id="identity.E005"))
    return problems
