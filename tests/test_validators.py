"""identity.validators: every bound written once, and the admin and the API refusing the same values."""

from __future__ import annotations

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
from identity.validators import BOUNDS, MAX_GRACE_PERIOD_SECONDS, application_validate, tenant_validate
from tests.api.helpers import db_state
from tests.conftest import World
from tests.test_admin import form_data, url

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
    calls: list[dict[str, Any]] = []
    real = identity_forms.tenant_update

    def counting(**kwargs: Any) -> Tenant:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(identity_forms, "tenant_update", counting)
    change = url(Tenant, "change", world.tenant.pk)
    response = admin_client.post(change, form_data(admin_client.get(change), issuer="once.test"))
    assert response.status_code == 302
    assert len(calls) == 1
    assert Tenant.objects.get(pk=world.tenant.pk).issuer == "once.test"
