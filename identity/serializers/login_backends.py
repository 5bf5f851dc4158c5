"""Login backends of an application (`/api/application/{id}/login-backend`), in the API's idiom:
`{"loginBackend": {"name", "transport", "lifetimeSeconds", "cookieName", "cookieDomain",
"cookiePath", "cookieSecure", "cookieSameSite"}}`. Not a FusionAuth API (docs/fusionauth-differences.md);
the shape follows the role endpoints'. No rules here: identity.validators.login_backend_validate."""

from __future__ import annotations

from rest_framework import serializers

from identity.models import CookieSameSite, LoginTransport
from identity.serializers.common import Choice, Flag, Instant, Text, WholeNumber, WireSerializer


class LoginBackendSerializer(WireSerializer):
    """In and out. Created, absent members take their defaults; PUT and PATCH change only what they
    send (as the application endpoints do)."""

    omitted = ()

    id = serializers.UUIDField(read_only=True)
    applicationId = serializers.UUIDField(source="application_id", read_only=True)
    name = Text(64, blank=False, required=False)
    transport = Choice(LoginTransport.values, required=False)
    lifetimeSeconds = WholeNumber(source="lifetime_seconds", required=False)
    cookieName = Text(64, source="cookie_name", required=False)
    cookieDomain = Text(253, source="cookie_domain", required=False)
    cookiePath = Text(255, source="cookie_path", required=False)
    cookieSecure = Flag(source="cookie_secure", required=False)
    cookieSameSite = Choice(CookieSameSite.values, source="cookie_samesite", required=False)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)
