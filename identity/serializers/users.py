"""Users (`/api/user`), the user search and `/api/user/change-password`."""

from __future__ import annotations

from typing import Any, cast

from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from identity.models import Registration, User
from identity.selectors import registrations_of
from identity.serializers.common import (
    Flag,
    Instant,
    JSONObject,
    Text,
    UUIDValue,
    WireSerializer,
    parse_body,
    represent,
)
from identity.serializers.registrations import RegistrationSerializer
from identity.services.users import NewUser


class UserRegistrations(serializers.ListSerializer):
    """The user's registrations: those in `context["registrations"]` when given (None: the member
    is left out), else the user's own, oldest first."""

    def get_attribute(self, instance: User) -> Any:
        if "registrations" in self.context:
            return self.context["registrations"]
        return registrations_of(user=instance)


class Locked(Flag):
    """`locked`: out, whether login is refused now after too many failed attempts; in, only
    `false`, which lifts the lockout (identity.services.users.user_unlock, as the console's Unlock
    does) and lands as `unlock=True`. The API does not lock users (failed logins do): `true` is
    refused."""

    default_error_messages = {
        "invalid": "Must be true or false.",
        "lock": "Only false (unlock) can be sent; failed logins lock a user, the API does not.",
    }

    def get_attribute(self, instance: User) -> bool:
        return instance.is_locked(timezone.now())

    def to_internal_value(self, data: Any) -> bool:
        if super().to_internal_value(data):
            raise ValidationError(ErrorDetail(str(self.error_messages["lock"]), "invalid"))
        return True


class UserSerializer(WireSerializer):
    """A user in and out. `password` is write-only; without one the user cannot log in with a
    password until one is set. Context `registrations`: see UserRegistrations."""

    id = serializers.UUIDField(read_only=True)
    tenantId = serializers.UUIDField(source="tenant_id", read_only=True)
    email = Text(254, blank=False, error_messages={"required": "An email address is required."})
    username = Text(191, required=False, allow_null=True)
    firstName = Text(150, source="first_name", required=False)
    middleName = Text(150, source="middle_name", required=False)
    lastName = Text(150, source="last_name", required=False)
    fullName = Text(300, source="full_name", required=False)
    active = Flag(source="is_active", required=False)
    verified = Flag(required=False)
    isBot = Flag(source="is_bot", required=False)  # a bot has no password (issue 12)
    expiry = Instant(source="expires_at", required=False)
    locked = Locked(source="unlock", required=False)
    data = JSONObject(required=False)  # type: ignore[assignment]  # a field; DRF keeps Serializer.data
    password = Text(1024, blank=False, write_only=True, allow_null=True, default=None)
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)
    lastLoginInstant = Instant(source="last_login", read_only=True)
    passwordLastUpdateInstant = Instant(source="password_changed_at", read_only=True)
    registrations = UserRegistrations(child=RegistrationSerializer(), read_only=True)


def user_body(user: User, registrations: list[Registration] | None = None) -> dict[str, Any]:
    """A user's JSON with the given registrations (as login answers it) or, without them, with
    none (as the combined registration answers it)."""
    return represent(UserSerializer, user, {"registrations": registrations})


def parse_new_user(data: Any) -> NewUser:
    """The `user` member of a request that creates one; FusionAuth's top-level
    `skipVerification: true` creates the user verified."""
    values = dict(parse_body(data, "user", UserSerializer))
    values.pop("unlock", None)  # `locked: false` on a new user: it is not locked
    if data.get("skipVerification") is True:
        values["verified"] = True
    return cast(NewUser, values)


def parse_user_changes(data: Any, *, strict: bool = False) -> dict[str, Any]:
    """The `user` member of a PUT or PATCH: only the members sent (a `password` among them, and
    `unlock` for `locked: false`). `strict` (PATCH): unknown members are 400 (parse_body)."""
    return dict(parse_body(data, "user", UserSerializer, partial=True, strict=strict))


class UserDeleteSerializer(serializers.Serializer):
    """FusionAuth's UserDeleteSingleRequest, the SDK's `delete_user_with_request` body; other
    members (eventInfo) are ignored."""

    hardDelete = Flag(required=False, default=False)


class UserSearchSerializer(serializers.Serializer):
    """`GET /api/user?email=` / `?username=` / `?loginId=`: the first one given is used."""

    email = Text(320, required=False)
    username = Text(320, required=False)
    loginId = Text(320, source="login_id", required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not any(attrs.values()):
            raise ValidationError({"email": [ErrorDetail("Send email, username or loginId.", "missing")]})
        return attrs


class Required(Text):
    """A member that must be non-empty text: anything else is `[blank]<name> is required.`"""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or not data:
            raise ValidationError(ErrorDetail(f"{self.field_name} is required.", "blank"))
        return super().to_internal_value(data)


class OptionalId(UUIDValue):
    """An optional id: absent, null or empty means none."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is not serializers.empty and not data:
            return (True, None)
        return super().validate_empty_values(data)


class ChangePasswordSerializer(serializers.Serializer):
    """`POST /api/user/change-password` by identity: `{loginId, currentPassword, password,
    applicationId?}`."""

    loginId = Required(320, source="login_id", error_messages={"required": "loginId is required."})
    currentPassword = Required(
        1024, source="current_password", error_messages={"required": "currentPassword is required."}
    )
    password = Required(1024, error_messages={"required": "password is required."})
    applicationId = OptionalId(source="application_id", required=False, allow_null=True, default=None)
