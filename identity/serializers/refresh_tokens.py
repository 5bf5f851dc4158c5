"""Refresh-token sessions (`/api/jwt/refresh`), as FusionAuth's refresh-token object."""

from __future__ import annotations

from rest_framework import serializers

from identity.serializers.common import Instant, Text, WireSerializer


class DeviceSerializer(WireSerializer):
    name = Text(source="device_name", read_only=True)
    description = Text(source="device_description", read_only=True)
    type = Text(64, source="device_type", read_only=True)
    lastAccessedAddress = Text(64, source="last_accessed_address", read_only=True)
    lastAccessedInstant = Instant(source="last_used_at", read_only=True)


class RefreshTokenMetaDataSerializer(serializers.Serializer):
    device = DeviceSerializer(source="*", read_only=True)
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    data = serializers.DictField(read_only=True)  # type: ignore[assignment]  # a field; DRF keeps Serializer.data


class RefreshTokenSerializer(WireSerializer):
    """FusionAuth's refresh-token object, without `token`: only its digest exists here."""

    omitted = ()

    id = serializers.UUIDField(read_only=True)
    applicationId = serializers.UUIDField(source="application_id", read_only=True)
    tenantId = serializers.UUIDField(source="tenant_id", read_only=True)
    userId = serializers.UUIDField(source="user_id", read_only=True)
    insertInstant = Instant(source="created_at", read_only=True)
    startInstant = Instant(source="started_at", read_only=True)
    expirationInstant = Instant(source="expires_at", read_only=True)
    metaData = RefreshTokenMetaDataSerializer(source="*", read_only=True)
    data = serializers.DictField(read_only=True)  # type: ignore[assignment]  # a field; DRF keeps Serializer.data
