"""Signing keys (`/api/key…`): FusionAuth's key object and the generate, import, update and search
requests."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from identity.models import KeyAlgorithm
from identity.selectors import KEY_TYPES
from identity.serializers.common import Instant, WireSerializer


class KeySerializer(WireSerializer):
    """A key, like FusionAuth's: HMAC keys have no public half; empty optional members are left out.
    Private material never appears (a generated HMAC secret is added by the view, once)."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    algorithm = serializers.CharField()
    type = serializers.CharField(source="key_type")
    kid = serializers.CharField()
    tenantId = serializers.UUIDField(source="tenant_id", allow_null=True)
    issuer = serializers.CharField()
    length = serializers.IntegerField(allow_null=True)
    publicKey = serializers.CharField(source="public_key")
    certificate = serializers.CharField()
    hasPrivateKey = serializers.BooleanField(source="has_private_key")
    use = serializers.CharField()
    expirationInstant = Instant(source="expires_at", read_only=True)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)


class KeyGenerateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=191)
    algorithm = serializers.ChoiceField(choices=KeyAlgorithm.values)
    length = serializers.IntegerField(required=False, min_value=1, max_value=8192)
    issuer = serializers.CharField(required=False, allow_blank=True, max_length=255)


class KeyImportSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=191)
    kid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    algorithm = serializers.ChoiceField(choices=KeyAlgorithm.values, required=False)
    publicKey = serializers.CharField(
        required=False, allow_blank=True, max_length=20_000, source="public_key"
    )
    privateKey = serializers.CharField(
        required=False, allow_blank=True, max_length=20_000, source="private_key"
    )
    certificate = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    secret = serializers.CharField(required=False, allow_blank=True, max_length=4096, trim_whitespace=False)
    issuer = serializers.CharField(required=False, allow_blank=True, max_length=255)
    type = serializers.ChoiceField(choices=list(KEY_TYPES), required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.pop("type", None)  # FusionAuth clients send it; the material says what the key is
        if not attrs.get("kid"):
            attrs.pop("kid", None)  # empty: derived from the material
        return attrs


class KeyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=191)


class KeySearchSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=191)
    algorithm = serializers.ChoiceField(choices=KeyAlgorithm.values, required=False)
    type = serializers.ChoiceField(choices=list(KEY_TYPES), required=False, source="key_type")
    numberOfResults = serializers.IntegerField(
        required=False, min_value=1, max_value=500, default=25, source="number_of_results"
    )
    startRow = serializers.IntegerField(required=False, min_value=0, default=0, source="start_row")


class KeyGenerateRequest(serializers.Serializer):
    key = KeyGenerateSerializer()


class KeyImportRequest(serializers.Serializer):
    key = KeyImportSerializer()


class KeyUpdateRequest(serializers.Serializer):
    key = KeyUpdateSerializer()


class KeySearchRequest(serializers.Serializer):
    search = KeySearchSerializer(required=False)
