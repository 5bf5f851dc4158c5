"""API keys (`/api/api-key`): FusionAuth's shape; the key's value appears only when created."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from identity.serializers.common import Flag, Instant, Section, Text, UUIDValue, WireSerializer


class EndpointPermissions(serializers.Field):
    """`permissions: {"endpoints": {"/api/path": ["GET", …]}}` ↔ the key's endpoint map. What the
    map may hold is the service's to check (its errors name `apiKey.permissions.endpoints`), so
    anything else than an object is handed over as it is, to be refused there. An object with any
    other member (`{"/api/user": ["GET"]}`, a misspelt `endpoint`) is `[invalid]`: read as "no
    endpoints" it would make an unrestricted key out of a restricted one."""

    # Doubled braces: DRF formats the message.
    default_error_messages = {"invalid": 'permissions takes one member, endpoints: {{"/api/path": ["GET"]}}.'}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if set(data) - {"endpoints"}:
            self.fail("invalid")
        return data.get("endpoints", {})

    def to_representation(self, value: dict[str, list[str]]) -> dict[str, Any]:
        return {"endpoints": value}


class APIKeyAttributesSerializer(Section):
    description = Text(255, required=False, allow_null=True)


class APIKeyMetaDataSerializer(Section):
    attributes = APIKeyAttributesSerializer()


class APIKeyKey(Text):
    """In: the caller's own value for a new key (null: generate one). Out: the value, in the
    response that created the key only (context `key`); it is never stored."""

    def get_attribute(self, instance: Any) -> Any:
        return self.context.get("key")


class APIKeySerializer(WireSerializer):
    """An API key in and out. `tenantId` and `keyManager` are read when creating only (a key's
    tenant lock and manager flag never change); null members are left out of the output."""

    omitted = (None,)

    id = serializers.UUIDField(read_only=True)
    name = Text(191, required=False, allow_null=True)
    metaData = APIKeyMetaDataSerializer()
    permissions = EndpointPermissions(required=False)
    tenantId = UUIDValue(source="tenant_id", required=False, allow_null=True)
    keyManager = Flag(source="key_manager", required=False)
    expirationInstant = Instant(source="expires_at", required=False)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)
    prefix = serializers.CharField(read_only=True)
    key = APIKeyKey(512, required=False, allow_null=True)

    def validate_name(self, name: str | None) -> str:
        return name or ""  # null clears

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("description", "") is None:
            del attrs["description"]  # null keeps the description
        return attrs


class APIKeyUpdateSerializer(APIKeySerializer):
    """PUT/PATCH: what may change (name, description, permissions, expiry)."""

    tenantId = UUIDValue(source="tenant_id", read_only=True)
    keyManager = Flag(source="key_manager", read_only=True)
    key = APIKeyKey(512, read_only=True)
