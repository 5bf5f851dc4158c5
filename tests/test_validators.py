"""identity.validators: every bound written once, and the admin and the API refusing the same values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db.models import Q
from django.forms.models import model_to_dict
from django.test import Client
from rest_framework.test import APIClient

from identity import forms as identity_forms
from identity.exceptions import ValidationFailed
from identity.models import JWT_CONFIGURATION_FIELDS, Application, Tenant
from identity.services.tenants import TENANT_FIELDS
from identity.validators import (
    BOUNDS,
    MAX_GRACE_PERIOD_SECONDS,
    api_key_validate,
    application_validate,
    email_validate,
    external_jwt_provider_validate,
    login_id_validate,
    registration_validate,
    roles_validate,
    signing_key_validate,
    tenant_validate,
    user_password_validate,
    user_validate,
)
from tests.api.helpers import db_state
from tests.conftest import World
from tests.factories import ApplicationFactory, TenantFactory, UserFactory
from tests.test_admin import counting, form_data, url

pytestmark = pytest.mark.django_db

LOCKOUT = "failedAuthenticationConfiguration"
GRACE = ("jwtConfiguration", "refreshTokenOneTimeUseConfiguration", "gracePeriodInSeconds")

# (model field, hostile value, its FusionAuth path under `tenant`)
HOSTILE_TENANT_VALUES = [
    ("failed_login_max_attempts", 0, (LOCKOUT, "tooManyAttempts")),
    ("failed_login_max_attempts", 1001, (LOCKOUT, "tooManyAttempts")),
    ("failed_login_window_seconds", 0, (LOCKOUT, "resetCountInSeconds")),
    ("failed_login_window_seconds", 86_400 * 30 + 1, (LOCKOUT, "resetCountInSeconds")),
    ("failed_login_lockout_seconds", 0, (LOCKOUT, "actionDurationInSeconds")),
    ("refresh_token_grace_period_seconds", MAX_GRACE_PERIOD_SECONDS + 1, GRACE),
    ("refresh_token_grace_period_seconds", 10**12, GRACE),
    ("access_token_ttl_seconds", 0, ("jwtConfiguration", "timeToLiveInSeconds")),
    ("refresh_token_ttl_minutes", 0, ("jwtConfiguration", "refreshTokenTimeToLiveInMinutes")),
    (
        "refresh_token_max_ttl_minutes",
        1,  # below the default refresh-token TTL
        ("jwtConfiguration", "refreshTokenSlidingWindowConfiguration", "maximumTimeToLiveInMinutes"),
    ),
]


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body: Any = value
    for part in reversed(path):
        body = {part: body}
    return body


def _cases() -> list[Any]:
    """Every hostile value against a tenant; the JWT configuration ones against an application too."""
    jwt_cases = [case for case in HOSTILE_TENANT_VALUES if case[0] in JWT_CONFIGURATION_FIELDS]
    return [
        pytest.param(Tenant, *case, id=f"tenant-{case[0]}-{case[1]}") for case in HOSTILE_TENANT_VALUES
    ] + [pytest.param(Application, *case, id=f"application-{case[0]}-{case[1]}") for case in jwt_cases]


@pytest.mark.parametrize(("model", "field", "value", "wire"), _cases())
def test_the_admin_and_the_api_refuse_the_same_values(
    admin_client: Client,
    api_client: APIClient,
    world: World,
    model: type[Tenant | Application],
    field: str,
    value: int,
    wire: tuple[str, ...],
) -> None:
    obj = world.tenant if model is Tenant else world.application
    root = model._meta.model_name
    before, row = db_state(), model_to_dict(model.objects.get(pk=obj.pk))

    response = api_client.patch(
        f"/api/{root}/{obj.pk}", {root: _nested(wire, value)}, format="json", HTTP_AUTHORIZATION=world.api_key
    )
    assert response.status_code == 400, response.content
    path = ".".join((str(root), *wire))
    assert [e["code"] for e in response.json()["fieldErrors"][path]] == [f"[invalid]{path}"]

    change = url(model, "change", obj.pk)
    response = admin_client.post(change, form_data(admin_client.get(change), **{field: str(value)}))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field]

    assert db_state() == before
    assert model_to_dict(model.objects.get(pk=obj.pk)) == row


@pytest.mark.parametrize(("field", "value", "_wire"), HOSTILE_TENANT_VALUES)
def test_tenant_validate_names_the_model_field(world: World, field: str, value: int, _wire: Any) -> None:
    current = {name: getattr(world.tenant, name) for name in TENANT_FIELDS}
    with pytest.raises(ValidationFailed) as info:
        tenant_validate(values={**current, field: value}, tenant=world.tenant)
    assert list(info.value.field_errors) == [field]
    assert info.value.field_errors[field][0].code == f"[invalid]{field}"


def test_every_problem_is_listed_at_once(world: World) -> None:
    with pytest.raises(ValidationFailed) as info:
        application_validate(
            values={"name": " ", "access_token_ttl_seconds": True, "refresh_token_usage_policy": "Never"},
            tenant=world.tenant,
            application=None,
        )
    assert set(info.value.field_errors) == {"name", "access_token_ttl_seconds", "refresh_token_usage_policy"}


@pytest.mark.parametrize("value", [1, 1000])
def test_the_lockout_bounds_are_inclusive(world: World, value: int) -> None:
    tenant_validate(values={"failed_login_max_attempts": value}, tenant=world.tenant)


@pytest.mark.parametrize("model", [Tenant, Application])
def test_the_database_backstop_agrees_with_the_grace_period_bound(model: type[Tenant | Application]) -> None:
    """The check constraint is frozen in a migration; this says when the two drift apart."""
    (constraint,) = [c for c in model._meta.constraints if c.name.endswith("_grace_lt_day")]
    assert constraint.condition == Q(refresh_token_grace_period_seconds__lt=MAX_GRACE_PERIOD_SECONDS + 1)
    assert BOUNDS["refresh_token_grace_period_seconds"] == (0, MAX_GRACE_PERIOD_SECONDS)


def test_an_admin_save_calls_the_service_once(
    admin_client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting(monkeypatch, identity_forms, "tenant_update")
    change = url(Tenant, "change", world.tenant.pk)
    response = admin_client.post(change, form_data(admin_client.get(change), issuer="once.test"))
    assert response.status_code == 302
    assert len(calls) == 1
    assert Tenant.objects.get(pk=world.tenant.pk).issuer == "once.test"


# --- users, registrations, API keys, signing keys, providers: keyed by model field ----------------


def _refused(check: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as info:
        check(**kwargs)
    return {field: [item.code for item in items] for field, items in info.value.field_errors.items()}


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        ({"email": ""}, {"email": ["[blank]email"]}),
        ({"email": None}, {"email": ["[blank]email"]}),
        ({"email": "no-at-sign"}, {"email": ["[invalid]email"]}),
        ({"email": "\u212aate@example.com"}, {"email": ["[invalid]email"]}),
        ({"email": "kate@example.\uff43om"}, {"email": ["[invalid]email"]}),
        ({"email": "ANN@example.com"}, {"email": ["[duplicate]email"]}),
        ({"email": "two@@example.com"}, {"email": ["[invalid]email"]}),
        ({"username": "ANN"}, {"username": ["[duplicate]username"]}),
        ({"username": "\uff41nn"}, {"username": ["[invalid]username"]}),
        ({"username": "x" * 400}, {"username": ["[tooLong]username"]}),
        (
            {"email": "ann@example.com", "username": "ann"},
            {"email": ["[duplicate]email"], "username": ["[duplicate]username"]},
        ),
    ],
    ids=repr,
)  # fmt: skip
def test_user_validate(world: World, values: dict[str, Any], codes: dict[str, list[str]]) -> None:
    before = db_state()
    assert _refused(user_validate, values=values, tenant=world.tenant, user=None) == codes
    assert db_state() == before


def test_user_validate_lets_a_user_keep_their_own_ids(world: World) -> None:
    user_validate(
        values={"email": "ANN@example.com", "username": "Ann"}, tenant=world.tenant, user=world.user
    )
    user_validate(values={"email": "ann@example.com", "username": ""}, tenant=TenantFactory(), user=None)


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "ann@example.com"])
def test_user_password_validate(world: World, password: str) -> None:
    assert set(_refused(user_password_validate, password=password, user=world.user)) == {"password"}


def test_registration_validate(world: World) -> None:
    registration = world.user.registrations.get()
    kwargs = {"user": world.user, "application": world.application}
    assert _refused(registration_validate, values={}, registration=None, **kwargs) == {
        "application": ["[duplicate]application"]
    }
    roles = {"roles": ["ADMIN", "ghost"]}
    assert _refused(registration_validate, values=roles, registration=registration, **kwargs) == {
        "roles": ["[invalid]roles"]
    }
    stranger = UserFactory()
    assert _refused(
        registration_validate, values={}, user=stranger, application=world.application, registration=None
    ) == {"application": ["[invalid]application"]}
    registration_validate(values={"roles": [" Admin "]}, registration=registration, **kwargs)


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        ({"permissions": "all"}, {"permissions": ["[invalid]permissions"]}),
        ({"permissions": {"/api/user": "GET"}}, {"permissions": ["[invalid]permissions"]}),
        ({"permissions": {"api/user": ["GET"]}}, {"permissions": ["[invalid]permissions"]}),
        ({"permissions": {"/api/user\n": ["GET"]}}, {"permissions": ["[invalid]permissions"]}),
        ({"permissions": {"/api/user": ["TRACE"]}}, {"permissions": ["[invalid]permissions"]}),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, {"expires_at": ["[invalid]expires_at"]}),
        ({"key": "x" * 31}, {"key": ["[tooShort]key"]}),
        ({"key": "Bearer " + "x" * 40}, {"key": ["[invalid]key"]}),
    ],
    ids=repr,
)
def test_api_key_validate(values: dict[str, Any], codes: dict[str, list[str]]) -> None:
    assert _refused(api_key_validate, values=values) == codes


def test_api_key_validate_accepts_what_the_api_normalises() -> None:
    api_key_validate(values={"permissions": {"/api/user/": ["get", "POST"]}, "expires_at": None, "key": None})
    api_key_validate(values={"permissions": None})


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        ({"name": "  "}, {"name": ["[blank]name"]}),
        ({"name": "k", "algorithm": "none"}, {"algorithm": ["[invalid]algorithm"]}),
        ({"name": "k", "algorithm": "HS384", "length": 47}, {"length": ["[invalid]length"]}),
        ({"name": "k", "algorithm": "HS256", "length": 513}, {"length": ["[invalid]length"]}),
        ({"name": "k", "algorithm": "RS256", "length": 1024}, {"length": ["[invalid]length"]}),
    ],
    ids=repr,
)
def test_signing_key_validate(values: dict[str, Any], codes: dict[str, list[str]]) -> None:
    assert _refused(signing_key_validate, values=values) == codes


@pytest.mark.parametrize(
    "values",
    [{"algorithm": "HS256", "length": None}, {"algorithm": "RS256", "length": 4096}, {"algorithm": "ES256"}],
)
def test_signing_key_validate_accepts(values: dict[str, Any]) -> None:
    signing_key_validate(values={"name": "k", **values})


def test_external_jwt_provider_validate(world: World) -> None:
    other = TenantFactory()
    foreign_key = other.access_token_signing_key
    own_key = world.tenant.access_token_signing_key
    values = {
        "name": " ",
        "verification_keys": [foreign_key],
        "applications": [ApplicationFactory(tenant=other)],
    }
    assert _refused(
        external_jwt_provider_validate,
        values={**values, "claim_map": {"role": "is_superuser"}},
        tenant=world.tenant,
        provider=None,
    ) == {
        "name": ["[blank]name"],
        "verification_keys": ["[invalid]verification_keys"],
        "applications": ["[invalid]applications"],
        "claim_map": ["[invalid]claim_map"],
    }
    good = {"name": "P", "verification_keys": [own_key], "applications": [world.application], "claim_map": {}}
    external_jwt_provider_validate(values=good, tenant=world.tenant, provider=None)


@pytest.mark.parametrize(
    ("check", "kwargs", "codes"),
    [
        (email_validate, {"email": " "}, {"email": ["[blank]email"]}),
        (email_validate, {"email": "\u017fam@example.com"}, {"email": ["[invalid]email"]}),  # long s
        (login_id_validate, {"field": "username", "value": "\uff41nn"}, {"username": ["[invalid]username"]}),
        (login_id_validate, {"field": "email", "value": "x" * 400}, {"email": ["[tooLong]email"]}),
    ],
    ids=lambda value: getattr(value, "__name__", repr(value)),
)
def test_login_id_pieces_shared_with_the_import(
    check: Any, kwargs: dict[str, Any], codes: dict[str, Any]
) -> None:
    """The form and key checks the user import runs per row (uniqueness is checked per batch)."""
    assert _refused(check, **kwargs) == codes


def test_roles_validate(world: World) -> None:
    assert _refused(roles_validate, application=world.application, roles=["ghost"]) == {
        "roles": ["[invalid]roles"]
    }
    roles_validate(application=world.application, roles=None)
    roles_validate(application=world.application, roles=[" USER "])
