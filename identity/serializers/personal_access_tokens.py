"""Wire shapes of personal access tokens (seed 000's `JWTToken`, `JWTTokenExpiry`,
`JWTTokenExpiresAt`) and of the token exchange. Shapes only: every rule is the service's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rest_framework import serializers

from identity.exceptions import ErrorItem, ValidationFailed
from identity.serializers.common import Text
from identity.signing import MAX_TOKEN_BYTES
from identity.validators import MAX_PAT_ALLOWED_IPS, MAX_PAT_SCOPES

# Model field (the service's and validator's error keys) → the member a client sent.
WIRE_FIELDS = {
    "name": "name",
    "expiry": "JWTTokenExpiry",
    "scopes": "scopes",
    "application": "applicationId",
    "allowed_ips": "allowedIps",
    "user": "userId",
}


@contextmanager
def errors_on_wire() -> Iterator[None]:
    """Re-key a service's field errors from model fields to the request's member names."""
    try:
        yield
    except ValidationFailed as exc:
        fields = {
            WIRE_FIELDS.get(key, key): [
                ErrorItem(item.code.removesuffix(key) + WIRE_FIELDS.get(key, key), item.message, item.data)
                for item in items
            ]
            for key, items in exc.field_errors.items()
        }
        raise ValidationFailed(fields, exc.general_errors) from exc


class InstantField(serializers.Field):
    """FusionAuth's instants: epoch milliseconds (null stays null)."""

    def to_representation(self, value: datetime) -> int:
        return int(value.timestamp() * 1000)


class AccessTokenCreateSerializer(serializers.Serializer):
    # JSON strings only (`Text`): a number where seed 000 sends a string is `[invalid]`, not coerced.
    name = Text(191, blank=False)
    JWTTokenExpiry = Text(16, blank=False)
    scopes = serializers.ListField(child=Text(191, blank=False), required=False, max_length=MAX_PAT_SCOPES)
    applicationId = serializers.UUIDField(required=False, allow_null=True)
    allowedIps = serializers.ListField(
        child=Text(64, blank=False), required=False, max_length=MAX_PAT_ALLOWED_IPS
    )


class AccessTokenSerializer(serializers.Serializer):
    """A token's record; never its value."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    JWTTokenExpiry = serializers.CharField(source="expiry")
    JWTTokenExpiresAt = InstantField(source="expires_at")
    userId = serializers.UUIDField(source="user_id")
    tenantId = serializers.UUIDField(source="tenant_id")
    applicationId = serializers.UUIDField(source="application_id")
    scopes = serializers.ListField(child=serializers.CharField())
    allowedIps = serializers.ListField(source="allowed_ips", child=serializers.CharField())
    insertInstant = InstantField(source="created_at")
    lastUsedInstant = InstantField(source="last_used_at")
    revokedInstant = InstantField(source="revoked_at")
    revokedBy = serializers.SerializerMethodField()

    def get_revokedBy(self, token: Any) -> str | None:
        return token.revoked_by or None


def created_json(*, token: Any, value: str) -> dict[str, Any]:
    """The answer to a creation: the record and, this once, the value (seed 000's `JWTToken`)."""
    return {"accessToken": AccessTokenSerializer(token).data, "JWTToken": value}


class TokenExchangeSerializer(serializers.Serializer):
    """RFC 8693 §2.1, the members this exchange reads (others, e.g. grant_type, are ignored)."""

    subject_token = serializers.CharField(max_length=MAX_TOKEN_BYTES)
    subject_token_type = serializers.CharField(max_length=100)


class TokenExchangeResponseSerializer(serializers.Serializer):
    """RFC 8693 §2.2.1."""

    access_token = serializers.CharField(source="value")
    issued_token_type = serializers.SerializerMethodField()
    token_type = serializers.SerializerMethodField()
    expires_in = serializers.SerializerMethodField()
    scope = serializers.SerializerMethodField()

    def get_issued_token_type(self, access: Any) -> str:
        return "urn:ietf:params:oauth:token-type:access_token"

    def get_token_type(self, access: Any) -> str:
        return "Bearer"

    def get_expires_in(self, access: Any) -> int:
        return int(access.claims["exp"]) - int(access.claims["iat"])

    def get_scope(self, access: Any) -> str:
        return str(access.claims.get("scope", ""))

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        if not data["scope"]:
            del data["scope"]  # a token that carries no scope (RFC 8693 §2.2.1: then omitted)
        return data
