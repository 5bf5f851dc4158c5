"""Registrations (`/api/user/registration`): a user's membership of an application."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from identity.serializers.common import Flag, Instant, JSONObject, StrictNull, Text, UUIDValue, WireSerializer


class RoleNames(StrictNull, serializers.ListField):
    """A list of role names (which names exist is the service's to say)."""

    default_error_messages = {
        "invalid": "roles must be a list of names.",
        "not_a_list": "roles must be a list of names.",
    }

    def __init__(self, **kwargs: Any) -> None:
        message = "roles must be a list of names."
        super().__init__(child=Text(191, error_messages={"invalid": message}), **kwargs)


class RegistrationSerializer(WireSerializer):
    """A registration in and out. `applicationId` names the application (in the user's tenant);
    without it, `[couldNotConvert]` as always."""

    id = serializers.UUIDField(read_only=True)
    applicationId = UUIDValue(source="application_id", required=False)
    roles = RoleNames(required=False)
    username = Text(191, required=False, allow_null=True)
    data = JSONObject(required=False)  # type: ignore[assignment]  # a field; DRF keeps Serializer.data
    verified = Flag(read_only=True)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)
    lastLoginInstant = Instant(source="last_login_at", read_only=True)

    def validate_username(self, username: str | None) -> str:
        return username or ""  # null clears

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not self.partial and "application_id" not in attrs:
            raise ValidationError({"applicationId": [ErrorDetail("Must be a UUID.", "couldNotConvert")]})
        return attrs
