"""Query budgets of the hot endpoints (issue 16), asserted on real requests through Django's test
client: validate 0, refresh ≤ 2, login ≤ 5, issue ≤ 3, client credentials ≤ 1 SQL statements.

Each request is measured in a warm process, as `make bench` drives a gunicorn worker: one request of
the same kind first (keys, API keys and the other coherent snapshots built), then the measured one,
with the coherence interval pushed out of the way so the once-a-second version read of each
channel (a per-process cost, not a per-request one) does not land in the middle of a budget. The
database runs outside a test transaction (`transaction=True`), as in production, so savepoints are
not counted as statements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from identity import key_store
from identity.models import UsagePolicy
from identity.services.applications import RoleSpec, application_create
from identity.services.oauth_clients import oauth_client_configure
from identity.services.personal_access_tokens import pat_create
from identity.services.registrations import registration_create
from identity.services.tenants import tenant_update
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _steady_coherence(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The coherent snapshots re-read their version at most once a second per process; a budget is
    what a request costs between those reads."""
    monkeypatch.setattr(key_store, "CHECK_INTERVAL_SECONDS", 3600.0)
    yield


@dataclass
class Budget:
    statements: int
    sql: list[str]


def measured(request: Callable[[], Any], *, status: int = 200) -> Budget:
    """Send the request once to warm the process, then again under CaptureQueriesContext."""
    assert request().status_code == status
    with CaptureQueriesContext(connection) as queries:
        response = request()
    assert response.status_code == status, response.content
    return Budget(statements=len(queries), sql=[q["sql"] for q in queries.captured_queries])


def _login(api_client: APIClient, world: World, application_id: object = None) -> dict[str, Any]:
    response = api_client.post(
        "/api/login",
        {
            "loginId": world.user.email,
            "password": world.password,
            "applicationId": str(application_id or world.application.pk),
        },
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert response.status_code == 200, response.content
    api_client.cookies.clear()
    return dict(response.json())


def test_validate_costs_no_statement(api_client: APIClient, world: World) -> None:
    token = _login(api_client, world)["token"]
    budget = measured(lambda: api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {token}"))
    assert budget.statements == 0, budget.sql


def test_validating_a_personal_access_token_costs_no_statement(api_client: APIClient, world: World) -> None:
    value = pat_create(user=world.user, name="ci", expiry="30").value
    budget = measured(lambda: api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {value}"))
    assert budget.statements == 0, budget.sql


@pytest.mark.parametrize("policy", [UsagePolicy.REUSABLE, UsagePolicy.ONE_TIME_USE])
def test_refresh_costs_at_most_two_statements(api_client: APIClient, world: World, policy: str) -> None:
    tenant_update(tenant=world.tenant, refresh_token_usage_policy=policy)
    held = {"value": _login(api_client, world)["refreshToken"]}

    def refresh() -> Any:
        response = api_client.post("/api/jwt/refresh", {"refreshToken": held["value"]}, format="json")
        api_client.cookies.clear()
        if response.status_code == 200:  # OneTimeUse rotates: the next request sends the new value
            held["value"] = response.json()["refreshToken"]
        return response

    budget = measured(refresh)
    assert budget.statements <= 2, budget.sql


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the budget is PostgreSQL's (CI's): SQLite has no data-modifying CTEs, so a login there "
    "records itself in the ORM transaction (identity.services.login_sql)",
)
def test_login_costs_at_most_five_statements(api_client: APIClient, world: World) -> None:
    budget = measured(lambda: api_client.post(
        "/api/login",
        {"loginId": world.user.email, "password": world.password, "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    ))  # fmt: skip
    assert budget.statements <= 5, "\n".join(budget.sql)


def test_issue_costs_at_most_three_statements(api_client: APIClient, world: World) -> None:
    other = application_create(
        tenant=world.tenant, name="Reports", roles=[RoleSpec("viewer", is_default=True)]
    )
    registration_create(user=world.user, application=other)
    token = _login(api_client, world)["token"]
    budget = measured(
        lambda: api_client.get(
            f"/api/jwt/issue?applicationId={other.pk}", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    )
    assert budget.statements <= 3, "\n".join(budget.sql)


def test_client_credentials_cost_at_most_one_statement(api_client: APIClient, world: World) -> None:
    configured = oauth_client_configure(
        application=world.application, scopes=["read"], enabled_grants=["client_credentials"]
    )
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": str(world.application.pk),
            "client_secret": configured.client_secret,
        }
    )
    budget = measured(
        lambda: api_client.generic(
            "POST", "/oauth2/token", body, content_type="application/x-www-form-urlencoded"
        )
    )
    assert budget.statements <= 1, budget.sql
