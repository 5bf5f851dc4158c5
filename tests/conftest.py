from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from identity.models import Application, Tenant, User
from identity.selectors import tenant_get_default
from identity.services.api_keys import api_key_create
from identity.services.applications import RoleSpec, application_create
from identity.services.registrations import registration_create
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory


@pytest.fixture(autouse=True)
def _default_tenant_exists(request: pytest.FixtureRequest) -> None:
    """The migration creates the default tenant, but transactional tests flush every table
    afterwards; put it back so every database test starts from what production has."""
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    if marker is not None:
        request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    elif "transactional_db" in names or "live_server" in names:
        request.getfixturevalue("transactional_db")
    elif "db" in names:
        request.getfixturevalue("db")
    else:
        return
    if not Tenant.objects.filter(is_default=True).exists():
        Tenant.objects.create(name="Default", issuer="acme.com", is_default=True)


@pytest.fixture(autouse=True)
def _webhook_subscriptions_forgotten():  # type: ignore[no-untyped-def]
    """A test's webhooks are rolled back with it; the in-memory subscription list must go too."""
    yield
    from identity.services.webhooks import SUBSCRIPTIONS

    SUBSCRIPTIONS.reset()


@pytest.fixture(autouse=True)
def _shared_cache_breaker_closed():  # type: ignore[no-untyped-def]
    """A test that breaks the cache must not make the next ones skip it (identity.shared_cache)."""
    yield
    from identity.key_store import _pending
    from identity.shared_cache import BREAKER

    BREAKER.reset()
    _pending.clear()


@pytest.fixture
def default_tenant(db: None) -> Tenant:
    return tenant_get_default()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_user(db: None) -> User:
    return UserFactory(email="admin@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, staff_user: User):  # type: ignore[no-untyped-def]
    """Django's test client signed in to the console as a superuser of the default tenant."""
    assert client.login(username=staff_user.email, password=DEFAULT_PASSWORD)
    return client


@dataclass
class World:
    """A tenant with a signing key, an application issuing refresh tokens, a registered user with a
    known password and an API key: what the login and token APIs need."""

    tenant: Tenant
    application: Application
    user: User
    api_key: str
    password: str = DEFAULT_PASSWORD


@pytest.fixture
def world(db: None) -> World:
    tenant = TenantFactory()
    application = application_create(
        tenant=tenant,
        name="Portal",
        roles=[RoleSpec("admin"), RoleSpec("user", is_default=True)],
        generate_refresh_tokens=True,
        allow_token_refresh=True,
    )
    user = UserFactory(tenant=tenant, email="ann@example.com", username="ann")
    registration_create(user=user, application=application)
    _, raw = api_key_create(tenant=None, name="world")
    return World(tenant=tenant, application=application, user=user, api_key=raw)


@pytest.fixture
def gunicorn(transactional_db: None, tmp_path):  # type: ignore[no-untyped-def]
    """Start real gunicorn servers on the test database (PostgreSQL only): `gunicorn(workers=2,
    env={...}, production=False)` returns a started `tests.live.LiveServer` (`production=True`: as
    `make serve` runs it); all are stopped after the test. Data the test writes is committed
    (transactional test), so the servers see it."""
    from django.db import connection

    from tests import live

    if connection.vendor != "postgresql":
        pytest.skip("gunicorn servers share the database only on PostgreSQL (.ci/run uses it)")
    servers: list[live.LiveServer] = []

    def start(
        *, workers: int = 2, env: dict[str, str] | None = None, production: bool = False
    ) -> live.LiveServer:
        server = live.start(workers=workers, env=env, log_dir=tmp_path, production=production)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
