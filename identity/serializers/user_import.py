"""FusionAuth's Import Users and User Search requests, read with DRF serializers.

The serializers only translate JSON into the services' typed inputs (identity.services.user_import,
identity.selectors.users_search); they hold no rule. Errors come out on FusionAuth's paths with list
positions (`users[3].registrations[0].applicationId`). Members we do not model (birthDate,
timezone, preferredLanguages, mobilePhone, insertInstant, …) are ignored, as FusionAuth ignores
members it does not know.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from identity.exceptions import ValidationFailed
from identity.services.user_import import ImportedRegistration, ImportedUser

MAX_INSTANT_MS = 253_402_300_799_000
MAX_IMPORT_USERS = 100_000
MAX_RESULTS = 500
_TYPES = {"required": "missing", "null": "blank", "blank": "blank", "max_length": "tooLong",
          "min_value": "tooSmall", "max_value": "tooLarge", "max_string_length": "tooLong"}  # fmt: skip


class _Text(serializers.CharField):
    """A JSON string (not a number turned into one), kept as sent; NUL refused."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid")
        return str(super().to_internal_value(data))


def _text(max_length: int, **kwargs: Any) -> _Text:
    kwargs.setdefault("required", False)
    return _Text(max_length=max_length, allow_blank=True, trim_whitespace=False, **kwargs)


class _Flag(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class _Whole(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class _Instant(serializers.Field):
    default_error_messages = {"invalid": "Must be epoch milliseconds."}

    def to_internal_value(self, data: Any) -> datetime:
        if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data <= MAX_INSTANT_MS:
            self.fail("invalid")
        return datetime.fromtimestamp(data / 1000, tz=UTC)


class _Object(serializers.DictField):
    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return data


class ImportRegistrationSerializer(serializers.Serializer):
    applicationId = serializers.UUIDField()
    roles = serializers.ListField(
        child=_text(191, required=True), required=False, allow_null=True, max_length=100
    )
    username = _text(191, allow_null=True)
    data = _Object(required=False, allow_null=True)  # type: ignore[assignment]
    verified = _Flag(required=False)


class ImportUserSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, allow_null=True)
    email = _text(254, required=True)
    username = _text(191, allow_null=True)
    password = _text(1024, allow_null=True)
    salt = _text(512, allow_null=True)
    encryptionScheme = _text(64, allow_null=True)
    factor = _Whole(required=False, allow_null=True)
    firstName = _text(150, allow_null=True)
    middleName = _text(150, allow_null=True)
    lastName = _text(150, allow_null=True)
    fullName = _text(300, allow_null=True)
    active = _Flag(required=False)
    verified = _Flag(required=False)
    expiry = _Instant(required=False, allow_null=True)
    data = _Object(required=False, allow_null=True)  # type: ignore[assignment]
    registrations = ImportRegistrationSerializer(many=True, required=False)


class ImportRequestSerializer(serializers.Serializer):
    users = ImportUserSerializer(many=True, allow_empty=False, max_length=MAX_IMPORT_USERS)  # type: ignore[call-arg]
    validateDbConstraints = _Flag(required=False, default=False)
    encryptionScheme = _text(64, allow_null=True)
    factor = _Whole(required=False, allow_null=True)


@dataclass(frozen=True)
class ImportRequest:
    users: list[ImportedUser]
    validate_db_constraints: bool
    encryption_scheme: str | None
    factor: int | None


_PROFILE = {"firstName": "first_name", "middleName": "middle_name", "lastName": "last_name",
            "fullName": "full_name", "active": "is_active", "verified": "verified", "expiry": "expires_at",
            "data": "data"}  # fmt: skip


def _registration(values: dict[str, Any]) -> ImportedRegistration:
    return ImportedRegistration(
        application_id=values["applicationId"],
        roles=values.get("roles"),
        username=values.get("username") or "",
        data=values.get("data") or {},
        verified=values.get("verified", True),
    )


def _user(values: dict[str, Any]) -> ImportedUser:
    fields = {name: values[member] for member, name in _PROFILE.items() if values.get(member) is not None}
    return ImportedUser(
        email=values["email"],
        user_id=values.get("id"),
        username=values.get("username"),
        password=values.get("password") or None,
        salt=values.get("salt") or None,
        encryption_scheme=values.get("encryptionScheme") or None,
        factor=values.get("factor"),
        fields=fields,
        registrations=[_registration(r) for r in values.get("registrations") or []],
    )


def _wire_errors(detail: Any, path: str, out: ValidationFailed) -> None:
    """DRF's nested error detail → FusionAuth field errors, list positions kept: `users[3].email`."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                _wire_errors(value, path, out)
            elif isinstance(key, int):  # a position: objects get `[i]`, plain values report on the list
                _wire_errors(value, f"{path}[{key}]" if isinstance(value, dict) else path, out)
            else:
                _wire_errors(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        for index, value in enumerate(detail):
            if value:
                _wire_errors(value, f"{path}[{index}]", out)
    elif isinstance(detail, list):
        for value in detail:
            _wire_errors(value, path, out)
    else:
        out.add(path or "request", _TYPES.get(getattr(detail, "code", ""), "invalid"), str(detail))


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed.general("[invalid]", "The request body must be a JSON object.")
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        errors = ValidationFailed()
        _wire_errors(serializer.errors, "", errors)
        raise errors
    return dict(serializer.validated_data)


def import_request(data: Any) -> ImportRequest:
    """The Import Users request body as the service's input."""
    values = _validated(ImportRequestSerializer, data)
    return ImportRequest(
        users=[_user(u) for u in values["users"]],
        validate_db_constraints=values["validateDbConstraints"],
        encryption_scheme=values.get("encryptionScheme") or None,
        factor=values.get("factor"),
    )


# --- search ---------------------------------------------------------------------------------

SORTABLE = {"email": "email_key", "username": "username_key", "firstName": "first_name",
            "lastName": "last_name", "fullName": "full_name", "insertInstant": "created_at",
            "lastLoginInstant": "last_login", "id": "id", "login": "email_key"}  # fmt: skip


class SortFieldSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=sorted(SORTABLE))
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False, default="asc")
    missing = _text(16, allow_null=True)  # accepted and ignored: NULLs sort as PostgreSQL sorts them


class SearchCriteriaSerializer(serializers.Serializer):
    queryString = _text(512, allow_null=True)
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True,
                                max_length=MAX_RESULTS)  # fmt: skip
    numberOfResults = _Whole(required=False, default=25, min_value=0, max_value=MAX_RESULTS)
    startRow = _Whole(required=False, default=0, min_value=0, max_value=10_000_000)
    sortFields = SortFieldSerializer(many=True, required=False, allow_null=True, max_length=5)  # type: ignore[call-arg]


class SearchRequestSerializer(serializers.Serializer):
    search = SearchCriteriaSerializer()


@dataclass(frozen=True)
class SearchRequest:
    query_string: str | None
    ids: list[uuid.UUID] | None
    number_of_results: int
    start_row: int
    order_by: list[str]


def search_request(data: Any) -> SearchRequest:
    """POST /api/user/search's body (`{"search": {...}}`), or GET's query parameters put in that
    shape by the view. Either `queryString` or `ids` is required."""
    criteria = _validated(SearchRequestSerializer, data)["search"]
    query, ids = criteria.get("queryString") or None, criteria.get("ids")
    if query is None and not ids:
        raise ValidationFailed.on_field("search.queryString", "missing", "Send a queryString or ids.")
    order_by = [
        ("-" if sort["order"] == "desc" else "") + SORTABLE[sort["name"]]
        for sort in criteria.get("sortFields") or []
    ]
    return SearchRequest(query_string=query, ids=ids, number_of_results=criteria["numberOfResults"],
                         start_row=criteria["startRow"], order_by=order_by)  # fmt: skip


_QUERY_INTEGER = re.compile(r"-?[0-9]{1,9}")


def search_query_params(params: Any) -> dict[str, Any]:
    """GET /api/user/search?queryString=…&ids=…&numberOfResults=…&startRow=… as a search body."""
    search: dict[str, Any] = {}
    if params.get("queryString") is not None:
        search["queryString"] = params.get("queryString")
    if params.getlist("ids"):
        search["ids"] = params.getlist("ids")
    for name in ("numberOfResults", "startRow"):
        raw = params.get(name)
        if raw is not None:
            # A number (a negative one too, so its error is the range's) or, as sent, `[invalid]`.
            search[name] = int(raw) if _QUERY_INTEGER.fullmatch(raw) else raw
    return {"search": search}
