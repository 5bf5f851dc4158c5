"""The serialization idiom (identity.serializers.common): strict fields with the API's codes,
FusionAuth's envelope, list positions on error paths, and validator errors put on wire paths."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from identity.exception_handler import validation_error_body
from identity.exceptions import ValidationFailed
from identity.models import JWT_CONFIGURATION_FIELDS, Application, Tenant
from identity.serializers.applications import ApplicationCreateSerializer, ApplicationSerializer
from identity.serializers.common import (
    Choice,
    Flag,
    Instant,
    JSONObject,
    Section,
    Text,
    UUIDValue,
    WholeNumber,
    WireSerializer,
    errors_on_wire,
    parse_body,
    represent,
    validated,
    wire_paths,
)
from identity.serializers.tenants import JWTConfigurationSerializer, TenantSerializer


class Inner(Section):
    count = WholeNumber(source="a_count", required=False)


class Item(serializers.Serializer):
    name = Text(10, blank=False)


class Sample(WireSerializer):
    text = Text(5, required=False)
    name = Text(5, blank=False, required=False)
    number = WholeNumber(required=False)
    flag = Flag(required=False)
    choice = Choice(["A", "B"], required=False)
    data = JSONObject(required=False)  # type: ignore[assignment]  # a field; DRF keeps Serializer.data
    when = Instant(required=False)
    ref = UUIDValue(required=False)
    inner = Inner()
    items = Item(many=True, required=False)


def _errors(payload: object) -> dict[str, list[str]]:
    """Field path → codes, as the API would answer them under the root `s`."""
    try:
        parse_body({"s": payload}, "s", Sample)
    except ValidationError as exc:
        body = validation_error_body(exc.detail)
    except ValidationFailed as exc:
        body = exc.as_json()
    else:
        return {}
    return {path: [e["code"] for e in errs] for path, errs in body.get("fieldErrors", {}).items()}


@pytest.mark.parametrize(
    ("member", "value", "code"),
    [
        ("text", 5, "[invalid]s.text"),
        ("text", True, "[invalid]s.text"),
        ("text", None, "[invalid]s.text"),
        ("text", ["a"], "[invalid]s.text"),
        ("text", "toolong", "[invalid]s.text"),
        ("text", "a\x00", "[invalid]s.text"),
        ("name", "", "[blank]s.name"),
        ("name", "   ", "[blank]s.name"),
        ("number", "60", "[invalid]s.number"),
        ("number", 60.0, "[invalid]s.number"),
        ("number", True, "[invalid]s.number"),
        ("number", None, "[invalid]s.number"),
        ("flag", "true", "[invalid]s.flag"),
        ("flag", 1, "[invalid]s.flag"),
        ("flag", None, "[invalid]s.flag"),
        ("choice", "C", "[invalid]s.choice"),
        ("choice", None, "[invalid]s.choice"),
        ("choice", ["A"], "[invalid]s.choice"),
        ("data", [], "[invalid]s.data"),
        ("data", "x", "[invalid]s.data"),
        ("data", None, "[invalid]s.data"),
        ("when", -1, "[invalid]s.when"),
        ("when", "tomorrow", "[invalid]s.when"),
        ("when", 1.5, "[invalid]s.when"),
        ("when", True, "[invalid]s.when"),
        ("when", 253_402_300_800_000, "[invalid]s.when"),
        ("ref", "nope", "[couldNotConvert]s.ref"),
        ("ref", 5, "[couldNotConvert]s.ref"),
        ("inner", 5, "[invalid]s.inner"),
        ("inner", [], "[invalid]s.inner"),
        ("inner", {"count": "1"}, "[invalid]s.inner.count"),
        ("items", "x", "[invalid]s.items"),
        ("items", [{"name": "ok"}, 5], "[invalid]s.items[1]"),
        ("items", [{"name": "ok"}, {"name": ""}], "[blank]s.items[1].name"),
        ("items", [{}], "[blank]s.items[0].name"),
    ],
)  # fmt: skip
def test_hostile_values_are_field_errors_with_the_apis_codes(member, value, code):
    errors = _errors({member: value})
    assert list(errors) == [code.split("]", 1)[1]]
    assert errors[code.split("]", 1)[1]] == [code]


def test_every_error_is_reported_at_once():
    assert set(_errors({"number": "1", "flag": "no", "inner": {"count": None}})) == {
        "s.number",
        "s.flag",
        "s.inner.count",
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": "", "name": "ab", "number": 0, "flag": False, "choice": "B"},
         {"text": "", "name": "ab", "number": 0, "flag": False, "choice": "B"}),
        ({"when": 1_000}, {"when": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)}),
        ({"when": None}, {"when": None}),
        ({"inner": None}, {}),  # a null section changes nothing
        ({"inner": {"count": 3}}, {"a_count": 3}),  # a section's members land flat, by source
        ({"unknown": 1, "text": " a "}, {"text": " a "}),  # unknown members ignored, text kept as sent
        ({"ref": str(uuid.UUID(int=1))}, {"ref": uuid.UUID(int=1)}),
    ],
)  # fmt: skip
def test_good_values_are_read_as_sent(payload, expected):
    assert dict(parse_body({"s": payload}, "s", Sample, partial=True)) == expected


@pytest.mark.parametrize(
    ("data", "code"),
    [({}, "[missing]s"), ([], "[missing]s"), ("s", "[missing]s"), ({"s": "x"}, "[invalid]s"),
     ({"s": None}, "[invalid]s"), ({"s": [1]}, "[invalid]s")],
)  # fmt: skip
def test_the_envelope_must_hold_an_object(data, code):
    with pytest.raises(ValidationFailed) as caught:
        parse_body(data, "s", Sample)
    assert caught.value.field_errors["s"][0].code == code


class _EmptyText(str):
    """A str subclass (as Django's SafeString is)."""


OUTPUT_VALUES = [
    None,
    "",
    " ",
    "0",
    _EmptyText(""),
    _EmptyText("x"),
    False,
    0,
    0.0,
    [],
    {},
    (),
    b"",
    uuid.UUID(int=0),
]
RULES = {"default": (None, ""), "null": (None,), "empty": ("",), "none": ()}


@pytest.mark.parametrize("omitted", RULES.values(), ids=RULES.keys())
@pytest.mark.parametrize("value", OUTPUT_VALUES, ids=[repr(v) for v in OUTPUT_VALUES])
def test_a_member_is_left_out_by_the_classs_rule(omitted, value):
    """The default rule's fast path (one test per member) leaves out what the general one does."""

    class Out(WireSerializer):
        member = serializers.SerializerMethodField()

        def get_member(self, instance):
            return instance["value"]

    Out.omitted = omitted
    expected_out = any(value is o or (isinstance(value, str) and value == o) for o in omitted)
    assert ("member" not in Out({"value": value}).data) is expected_out


def test_output_leaves_out_null_and_empty_text_but_keeps_false_zero_and_empty_objects():
    class Out(WireSerializer):
        a = serializers.CharField()
        b = serializers.CharField(allow_null=True)
        c = serializers.BooleanField()
        d = serializers.IntegerField()
        e = serializers.DictField()

    assert Out({"a": "", "b": None, "c": False, "d": 0, "e": {}}).data == {"c": False, "d": 0, "e": {}}


def test_the_jwt_configuration_serializer_covers_every_model_field_once():
    """One table of JWT configuration fields, derived from the model: the wire shape names each."""
    paths = wire_paths(JWTConfigurationSerializer, "jwt")
    assert set(paths) == set(JWT_CONFIGURATION_FIELDS)
    assert len(set(paths.values())) == len(JWT_CONFIGURATION_FIELDS)


@pytest.mark.parametrize(
    ("serializer_class", "root", "model"),
    [(TenantSerializer, "tenant", Tenant), (ApplicationSerializer, "application", Application)],
)
def test_every_wire_path_names_a_model_field(serializer_class, root, model):
    fields = {f.name for f in model._meta.get_fields()}
    for source, path in wire_paths(serializer_class, root).items():
        assert source in fields, path
        assert path.startswith(f"{root}.")


def test_wire_paths_are_read_from_the_field_sources():
    paths = wire_paths(TenantSerializer, "tenant")
    assert paths["failed_login_max_attempts"] == "tenant.failedAuthenticationConfiguration.tooManyAttempts"
    assert paths["failed_login_lockout_seconds"] == (
        "tenant.failedAuthenticationConfiguration.actionDurationInSeconds"
    )
    assert paths["refresh_token_grace_period_seconds"] == (
        "tenant.jwtConfiguration.refreshTokenOneTimeUseConfiguration.gracePeriodInSeconds"
    )
    assert paths["access_token_signing_key"] == "tenant.jwtConfiguration.accessTokenKeyId"
    assert wire_paths(ApplicationCreateSerializer, "application")["jwt_enabled"] == (
        "application.jwtConfiguration.enabled"
    )


def test_errors_on_wire_rekeys_model_fields_and_passes_other_keys_through():
    error = ValidationFailed.on_field("failed_login_max_attempts", "invalid", "Out of bounds.")
    error.add("tenantId", "duplicate", "Taken.")
    with pytest.raises(ValidationFailed) as caught, errors_on_wire("tenant", TenantSerializer):
        raise error
    assert {p: [e.code for e in errs] for p, errs in caught.value.field_errors.items()} == {
        "tenant.failedAuthenticationConfiguration.tooManyAttempts": [
            "[invalid]tenant.failedAuthenticationConfiguration.tooManyAttempts"
        ],
        "tenantId": ["[duplicate]tenantId"],
    }


def test_errors_on_wire_leaves_errors_without_model_fields_alone():
    error = ValidationFailed.on_field("role.name", "duplicate", "Taken.")
    with pytest.raises(ValidationFailed) as caught, errors_on_wire("application", ApplicationSerializer):
        raise error
    assert caught.value is error


@pytest.mark.django_db
def test_a_kept_output_serializer_gives_what_a_new_one_gives_and_keeps_no_context(world):
    """represent() reuses one bound serializer per class: each call's context is its own (the
    registrations given, or none), nothing of one call shows in the next, and a nested use of the
    same class while one is running gets its own instance."""
    from identity.selectors import registrations_of
    from identity.serializers.users import UserSerializer, user_body

    registrations = list(registrations_of(user=world.user))
    assert registrations
    for context in ({"registrations": registrations}, {"registrations": None}, {}, {"registrations": []}):
        assert (
            represent(UserSerializer, world.user, context) == UserSerializer(world.user, context=context).data
        )
    assert [r["applicationId"] for r in user_body(world.user, registrations)["registrations"]] == [
        str(world.application.pk)
    ]
    assert "registrations" not in user_body(world.user)  # None: left out, the earlier call's not reused

    class Outer(serializers.Serializer):
        inner = serializers.SerializerMethodField()
        name = serializers.SerializerMethodField()

        def get_inner(self, instance):  # type: ignore[no-untyped-def]
            return represent(Outer, "y", {"label": "inner"}) if instance == "x" else None

        def get_name(self, instance):  # type: ignore[no-untyped-def]
            return self.context["label"]

    assert represent(Outer, "x", {"label": "outer"}) == {
        "inner": {"inner": None, "name": "inner"},
        "name": "outer",
    }


@pytest.mark.parametrize(
    "data",
    [
        {"loginId": "ann@example.com", "password": "pw"},
        {"loginId": "ann@example.com", "password": " pw ", "noJWT": True, "loginIdTypes": ["email"]},
        {"loginId": "", "password": "pw"},
        {"password": "x" * 1025},
        {"loginId": "a", "password": "pw", "applicationId": "nope", "ipAddress": "1.2.3.999"},
        {"loginId": "a", "password": "pw", "loginIdTypes": []},
        {"loginId": "a", "password": "pw", "metaData": {"device": {"type": "SPACESHIP"}}},
        {"loginId": ["a"], "password": {"x": 1}},
        {},
    ],
    ids=["plain", "every-member", "blank-login-id", "long-password", "bad-ids", "empty-types", "bad-device",
         "wrong-types", "empty"],
)  # fmt: skip
def test_a_kept_input_serializer_validates_as_a_new_one(data):
    """validated() (views' parse) answers what is_valid(raise_exception=True) answers, twice in a
    row, good input and bad alike: a kept serializer carries nothing from one body to the next."""
    from identity.views.login import LoginInputSerializer

    for _ in range(2):
        fresh = LoginInputSerializer(data=data)
        if fresh.is_valid():
            assert validated(LoginInputSerializer, data) == dict(fresh.validated_data)
        else:
            with pytest.raises(ValidationError) as refused:
                validated(LoginInputSerializer, data)
            assert refused.value.detail == fresh.errors
