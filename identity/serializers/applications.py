"""Applications (`/api/application`) and their roles (`/api/application/{id}/role`)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from identity.models import ApplicationRole
from identity.serializers.common import Flag, Instant, Section, Text, WireSerializer
from identity.serializers.oauth import OAuthConfigurationSerializer
from identity.serializers.tenants import JWTConfigurationSerializer
from identity.services.applications import RoleSpec


class RoleSerializer(WireSerializer):
    """A role in and out; validated, it is the RoleSpec the services take. A full body (create,
    PUT) sets every member, absent ones to their defaults; with `partial` (PATCH) the members not
    sent keep the values of the role being changed (`instance`)."""

    omitted = ()

    id = serializers.UUIDField(read_only=True)
    name = Text(191, blank=False, error_messages={"required": "Must not be blank."})
    description = Text(255, default="")
    isDefault = Flag(source="is_default", default=False)
    isSuperRole = Flag(source="is_super_role", default=False)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)

    def validate(self, attrs: dict[str, Any]) -> RoleSpec:
        role: ApplicationRole | None = self.instance
        current: dict[str, Any] = {}
        if role is not None and self.partial:
            current = {"name": role.name, "description": role.description,
                       "is_default": role.is_default, "is_super_role": role.is_super_role}  # fmt: skip
        return RoleSpec(**{**current, **attrs})


class ApplicationJWTConfigurationSerializer(JWTConfigurationSerializer):
    enabled = Flag(source="jwt_enabled", required=False)


class ApplicationLoginConfigurationSerializer(Section):
    generateRefreshTokens = Flag(source="generate_refresh_tokens", required=False)
    allowTokenRefresh = Flag(source="allow_token_refresh", required=False)
    requireAuthentication = Flag(source="require_authentication", required=False)


class ApplicationSerializer(WireSerializer):
    """An application in and out (its roles are read-only here: they change through their own
    endpoint, or are created with the application by ApplicationCreateSerializer). Context
    `tenant`: the application's tenant, whose signing keys the JWT configuration may name."""

    omitted = ()

    id = serializers.UUIDField(read_only=True)
    tenantId = serializers.UUIDField(source="tenant_id", read_only=True)
    active = serializers.BooleanField(read_only=True)
    name = Text(191, blank=False, error_messages={"required": "A name is required."})
    jwtConfiguration = ApplicationJWTConfigurationSerializer()
    loginConfiguration = ApplicationLoginConfigurationSerializer()
    oauthConfiguration = OAuthConfigurationSerializer(
        source="oauth_configuration", required=False, allow_null=True
    )  # null when the application is no OAuth client
    roles = RoleSerializer(many=True, read_only=True)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)


class ApplicationCreateSerializer(ApplicationSerializer):
    """`POST /api/application`: the application with its roles (null or absent: none)."""

    roles = RoleSerializer(many=True, required=False, allow_null=True)

    def validate_roles(self, roles: list[RoleSpec] | None) -> list[RoleSpec]:
        return roles or []
