from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from identity.models import Tenant, User
from identity.selectors import tenant_get_default
from tests.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _default_tenant_exists(request: pytest.FixtureRequest) -> None:
    """The migration creates the default tenant, but transactional tests flush every table
    afterwards; put it back so every database test starts from what production has."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    if not Tenant.objects.filter(is_default=True).exists():
        Tenant.objects.create(name="Default", issuer="acme.com", is_default=True)


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
