"""An application's `oauthConfiguration` (FusionAuth's name) in and out of `/api/application`.

Validated, it is the keyword arguments of `identity.services.oauth_clients.oauth_client_configure`
(model field names); the rules (known grants and methods, scope tokens, key ownership, bounds) are
the service's validators, re-keyed to these paths by `errors_on_wire`. `clientSecret` is never read
back: it is added to a create or rotation answer once (`with_client_secret`).
"""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from identity.models import SigningKey
from identity.serializers.common import JSONObject, Text, WholeNumber
from identity.services.oauth_clients import ConfiguredClient

MAX_ASSERTION_KEYS = 20


class AssertionKeyIds(serializers.Field):
    """Ids of key-store keys verifying the client's assertions, as SigningKey records of the
    application's tenant (context `tenant`) or global ones."""

    def to_internal_value(self, data: Any) -> list[SigningKey]:
        if not isinstance(data, list) or len(data) > MAX_ASSERTION_KEYS:
            raise ValidationError(
                ErrorDetail(f"Must be a list of at most {MAX_ASSERTION_KEYS} key ids.", "invalid")
            )
        try:
            ids = [uuid.UUID(str(value)) for value in data]
        except ValueError as exc:
            raise ValidationError(ErrorDetail("Every key id must be a UUID.", "invalid")) from exc
        keys = list(SigningKey.objects.filter(pk__in=ids))
        tenant = self.context.get("tenant")
        if len(keys) != len(set(ids)) or any(
            k.tenant_id not in (None, getattr(tenant, "pk", None)) for k in keys
        ):
            raise ValidationError(ErrorDetail("No key of this tenant has one of these ids.", "invalid"))
        return keys

    def to_representation(self, value: Any) -> list[str]:
        return sorted(str(key.pk) for key in value.all())


class OAuthConfigurationSerializer(serializers.Serializer):
    clientId = serializers.UUIDField(source="application_id", read_only=True)
    enabledGrants = serializers.ListField(
        child=Text(64), source="enabled_grants", required=False, max_length=10
    )
    clientAuthenticationPolicy = Text(32, source="client_authentication_policy", required=False)
    clientAuthenticationMethods = serializers.ListField(
        child=Text(64), source="client_authentication_methods", required=False, max_length=10
    )
    scopes = serializers.ListField(child=Text(255), required=False, max_length=100)
    jwks = JSONObject(required=False)
    assertionKeyIds = AssertionKeyIds(source="assertion_keys", required=False)
    tokenRequestsPerMinute = WholeNumber(source="token_requests_per_minute", required=False)
    clientAuthenticationMethod = Text(64, required=False, write_only=True)
    """One method, the issue's and FusionAuth-style singular spelling: the same as a one-member
    `clientAuthenticationMethods` (sending both, different, is an error rather than a guess)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        single = attrs.pop("clientAuthenticationMethod", None)
        if single is not None:
            if attrs.get("client_authentication_methods", [single]) != [single]:
                raise ValidationError(
                    {
                        "clientAuthenticationMethod": ErrorDetail(
                            "Send clientAuthenticationMethod or clientAuthenticationMethods, not both.",
                            "invalid",
                        )
                    }
                )
            attrs["client_authentication_methods"] = [single]
        return attrs


def with_client_secret(body: dict[str, Any], configured: ConfiguredClient | None) -> dict[str, Any]:
    """An application body with the new client secret, the one time it is shown."""
    if configured is not None and configured.client_secret is not None:
        body["oauthConfiguration"] = {
            **(body.get("oauthConfiguration") or {}),
            "clientSecret": configured.client_secret,
        }
    return body
