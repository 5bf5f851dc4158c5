"""The serialization idiom of the API: strict DRF fields, FusionAuth's envelopes and error paths.

Every provisioning endpoint reads and writes its objects with a serializer of this package (one
module per area). The serializers only translate: JSON types in, FusionAuth's nested shapes out.
Bounds and uniqueness are identity.validators' and the services' business; their errors are keyed
by model field and put back on the wire path once, by `errors_on_wire`, which derives the paths
from the serializer fields' `source`, so a field and its error path cannot drift apart.

The fields are stricter than DRF's defaults, as the API has always been: a number is a JSON number
(not "60", not 60.0, not true), a flag is true or false, text is a JSON string without NUL, and a
value that does not fit is `[invalid]` (DRF would say `tooLong` for a long text). Members the
serializer does not know are ignored, as FusionAuth ignores them, except in a PATCH, where they are
a 400 (`parse_body(strict=True)`): a PATCH names what it changes. Output serializers list their
fields explicitly (never a ModelSerializer), so a new model column cannot leak into a response.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField

from identity.exceptions import ErrorItem, ValidationFailed

MAX_INSTANT_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


def instant(value: datetime | None) -> int | None:
    """FusionAuth's REST instants: epoch milliseconds."""
    return None if value is None else int(value.timestamp() * 1000)


class StrictNull:
    """JSON null is `[invalid]` for a field that does not allow it (DRF would say `[blank]`)."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and not self.allow_null:  # type: ignore[attr-defined]
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().validate_empty_values(data)  # type: ignore[misc]


class Text(StrictNull, serializers.CharField):
    """A JSON string of at most `max_length` characters, kept as sent (the services strip what they
    strip). `blank=False`: refused (`[blank]`) when empty or only whitespace."""

    def __init__(self, max_length: int = 255, *, blank: bool = True, **kwargs: Any) -> None:
        self.blank = blank
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"].setdefault("invalid", f"Must be text of at most {max_length} characters.")
        kwargs["error_messages"].setdefault("blank", "Must not be blank.")
        super().__init__(max_length=max_length, allow_blank=True, trim_whitespace=False, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # CharField would answer "" itself, before to_internal_value can say `[blank]`.
        return serializers.Field.run_validation(self, data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or len(data) > (self.max_length or 0) or "\x00" in data:
            self.fail("invalid")
        if not self.blank and not data.strip():
            self.fail("blank")
        return data


class WholeNumber(StrictNull, serializers.IntegerField):
    """A JSON integer; its bounds are the model field's, checked by identity.validators."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class Flag(StrictNull, serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class Choice(StrictNull, serializers.ChoiceField):
    def __init__(self, choices: Any, **kwargs: Any) -> None:
        super().__init__(choices, **kwargs)
        message = f"Must be one of {', '.join(str(c) for c in self.choices)}."
        self.error_messages["invalid"] = self.error_messages["invalid_choice"] = message

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or data not in self.choices:
            self.fail("invalid")
        return data


class JSONObject(StrictNull, serializers.DictField):
    """Free-form `data`: any JSON object (the parser has already refused NUL and non-finite numbers)."""

    default_error_messages = {"invalid": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        # A row saved before every door validated `data` may hold another JSON value: answered as
        # stored, not a 500 for every login and read of that user (identity.validators now refuses it).
        return super().to_representation(value) if isinstance(value, dict) else value


class Instant(serializers.Field):
    """FusionAuth's instants: epoch milliseconds in and out; null clears."""

    default_error_messages = {"invalid": "Must be epoch milliseconds."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data <= MAX_INSTANT_MS:
            self.fail("invalid")
        return datetime.fromtimestamp(data / 1000, tz=UTC)

    def to_representation(self, value: datetime) -> int | None:
        return instant(value)


class UUIDValue(StrictNull, serializers.UUIDField):
    """An id in the body; one that does not parse is `[couldNotConvert]`, FusionAuth's code."""

    default_error_messages = {"invalid": "Must be a UUID."}

    def to_internal_value(self, data: Any) -> uuid.UUID:
        try:
            return uuid.UUID(str(data))
        except ValueError as exc:
            message = str(self.error_messages["invalid"])
            raise ValidationError(ErrorDetail(message, "couldNotConvert")) from exc


class Section(serializers.Serializer):
    """A nested JSON object of FusionAuth's (`jwtConfiguration`, `loginConfiguration`, …) whose
    members are fields of the enclosing model: declared with `source="*"`, its values land flat
    in the parent's validated data. Absent or null, it changes nothing; optional by default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("source", "*")
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:
            raise SkipField()
        return super().validate_empty_values(data)


def _indexed(errors: Mapping[str, Any]) -> dict[str, Any]:
    """Errors of objects inside a list on FusionAuth's paths: `roles[0].name`, not `roles.name`.
    (Errors of plain values inside a list stay on the list, as everywhere.)"""
    out: dict[str, Any] = {}
    for name, detail in errors.items():
        items: list[tuple[int, Any]] = []
        if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
            items = list(enumerate(detail))
        elif isinstance(detail, dict) and detail and all(isinstance(k, int) for k in detail):
            items = sorted(detail.items())
        if items and all(isinstance(d, dict) for _, d in items):
            out.update({f"{name}[{index}]": d for index, d in items if d})
        else:
            out[name] = detail
    return out


_NULL_OR_EMPTY: tuple[Any, ...] = (None, "")


class WireSerializer(serializers.Serializer):
    """Base of the API's object serializers: list positions on the error paths (`_indexed`) and,
    on output, FusionAuth's habit of leaving out top-level members that are null or empty text
    (`omitted`: the values left out; empty to keep every member)."""

    omitted: tuple[Any, ...] = _NULL_OR_EMPTY

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except ValidationError as exc:
            if isinstance(exc.detail, dict):
                raise ValidationError(_indexed(exc.detail)) from exc
            raise

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        omitted = self.omitted
        if not omitted:
            return data
        if omitted == _NULL_OR_EMPTY:  # the default, tested per member without a loop over `omitted`
            return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and v == "")}
        return {key: value for key, value in data.items() if not _omitted(value, omitted)}


_KEPT = threading.local()
"""Per thread: serializer class → one bound instance of it, reused (represent, validated)."""

_IDLE: dict[str, Any] = {}
"""The context of a kept serializer between calls (compared by identity)."""


@contextmanager
def _kept(serializer_class: type[serializers.Serializer], context: dict[str, Any]) -> Iterator[Any]:
    """One instance of `serializer_class` per thread with its fields built and bound once, lent
    with this call's context. DRF deep-copies every declared field (nested serializers' too) for
    each serializer it builds: for the user in a login's answer that was a sixth of the login's CPU
    besides the password hash, and parsing the login's body another 7 % (py-spy, issue 16). Fields
    read the context from their root and keep nothing else between calls. A nested use of the same
    class while one is lent gets a new instance."""
    kept: dict[Any, serializers.Serializer] = _KEPT.__dict__
    serializer = kept.get(serializer_class)
    if serializer is None or serializer._context is not _IDLE:
        serializer = serializer_class(context=_IDLE)
        serializer.fields  # noqa: B018 - built and bound once, here
        kept.setdefault(serializer_class, serializer)
    serializer._context = context
    try:
        yield serializer
    finally:
        serializer._context = _IDLE


def represent(
    serializer_class: type[serializers.Serializer], instance: Any, context: dict[str, Any] | None = None
) -> Any:
    """What `serializer_class(instance, context=context).data` gives, from a kept serializer."""
    with _kept(serializer_class, context if context is not None else {}) as serializer:
        return serializer.to_representation(instance)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """What `serializer_class(data=data)` validates, from a kept serializer; a refusal raises the
    ValidationError `is_valid(raise_exception=True)` raises (the same field errors)."""
    with _kept(serializer_class, {}) as serializer:
        try:
            return dict(serializer.run_validation(data))
        except ValidationError as exc:
            raise ValidationError(exc.detail) from None


def _omitted(value: Any, omitted: tuple[Any, ...]) -> bool:
    return any(value is o or (isinstance(value, str) and value == o) for o in omitted)


def parse_body(
    data: Any,
    root: str,
    serializer_class: type[serializers.Serializer],
    *,
    partial: bool = False,
    strict: bool = False,
    context: dict[str, Any] | None = None,
    instance: Any = None,
) -> Any:
    """The validated member `root` of a FusionAuth request body (`{"tenant": {...}}`). Without it,
    `[missing]root`; not an object, `[invalid]root`; field errors on `root.<member path>`.
    `partial`: only the members sent are validated and returned (PUT and PATCH change only what
    they send), and nothing is required. `strict` (PATCH): a member the serializer does not know,
    beside `root` or inside it, is `[unknown]<path>` instead of being ignored, so a misspelt change
    is never answered 200 with nothing changed."""
    if not isinstance(data, dict) or root not in data:
        raise ValidationFailed.on_field(root, "missing", f"The request needs a {root} object.")
    payload = data[root]
    if not isinstance(payload, dict):
        raise ValidationFailed.on_field(root, "invalid", f"{root} must be a JSON object.")
    if strict:
        unknown = [name for name in data if name != root]
        unknown += list(_unknown_members(serializer_class(), payload, root))
        if unknown:
            error = ValidationFailed()
            for path in unknown:
                error.add(
                    path, "unknown", f"{path} is not a member this request can change; nothing was changed."
                )
            raise error
    serializer = serializer_class(instance, data=payload, partial=partial, context=context or {})
    if not serializer.is_valid():
        raise ValidationError({root: serializer.errors})
    return serializer.validated_data


def _unknown_members(serializer: serializers.Serializer, payload: dict[str, Any], path: str) -> Iterator[str]:
    """Paths of the members of `payload` that `serializer` has no field for, nested objects
    (FusionAuth's sections) included; a free-form field (`data`) takes any members."""
    for name, value in payload.items():
        field = serializer.fields.get(name)
        if field is None:
            yield f"{path}.{name}"
        elif isinstance(field, serializers.Serializer) and isinstance(value, dict):
            yield from _unknown_members(field, value, f"{path}.{name}")


def _source_paths(serializer: serializers.Serializer, prefix: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        if isinstance(field, serializers.Serializer) and field.source == "*":
            yield from _source_paths(field, (*prefix, name))
        elif field.source and field.source != "*":
            yield field.source, ".".join((*prefix, name))


@cache
def wire_paths(serializer_class: type[serializers.Serializer], root: str) -> dict[str, str]:
    """Model field → FusionAuth wire path, read from the serializer's fields, e.g.
    failed_login_max_attempts → tenant.failedAuthenticationConfiguration.tooManyAttempts.
    The first field naming a source wins."""
    paths: dict[str, str] = {}
    for source, path in _source_paths(serializer_class(), (root,)):
        paths.setdefault(source, path)
    return paths


@contextmanager
def errors_on_wire(root: str, serializer_class: type[serializers.Serializer]) -> Iterator[None]:
    """Re-key a service's or validator's ValidationFailed from model fields to the wire paths of
    `serializer_class` under `root`; other keys (`tenantId`, `role.name`) pass through unchanged."""
    try:
        yield
    except ValidationFailed as exc:
        paths = wire_paths(serializer_class, root)
        if not any(key in paths for key in exc.field_errors):
            raise
        field_errors = {
            paths.get(key, key): [
                ErrorItem(item.code.removesuffix(key) + paths.get(key, key), item.message, item.data)
                for item in items
            ]
            for key, items in exc.field_errors.items()
        }
        raise ValidationFailed(field_errors, exc.general_errors) from exc
