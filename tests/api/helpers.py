"""Shared helpers for API tests."""

from __future__ import annotations

from django.utils import timezone

from identity.exceptions import OAuthInvalidClient
from identity.models import (
    APIKey,
    Application,
    LoginBackend,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)

LOGIN_BACKEND_COLUMNS = (
    "id", "application_id", "name", "transport", "lifetime_seconds", "cookie_name", "cookie_domain",
    "cookie_path", "cookie_secure", "cookie_samesite", "updated_at",
)  # fmt: skip


def db_state() -> dict[str, object]:
    """What a rejected request must leave untouched: row counts and every token's state."""
    return {
        "counts": {
            m.__name__: m.objects.count()
            for m in (Tenant, Application, User, Registration, RefreshToken, SigningKey, APIKey)
        },
        "tokens": sorted(
            RefreshToken.objects.values_list("id", "token_digest", "generation", "revoked_at", "expires_at")
        ),
        "users": sorted(User.objects.values_list("id", "failed_login_count", "locked_until", "last_login")),
        "login_backends": sorted(
            (str(row[0]), *row[1:]) for row in LoginBackend.objects.values_list(*LOGIN_BACKEND_COLUMNS)
        ),
    }


def client_secret_works(application: Application, secret: str) -> bool:
    """Whether the OAuth client (the application) authenticates with this secret now."""
    from identity.services.oauth_clients import ClientCredentials, oauth_client_authenticate

    try:
        oauth_client_authenticate(
            credentials=ClientCredentials(client_id=str(application.pk), client_secret=secret),
            audiences=[],
            now=timezone.now(),
        )
    except OAuthInvalidClient:
        return False
    return True
