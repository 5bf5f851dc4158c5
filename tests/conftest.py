from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from identity.models import Tenant, User
from identity.selectors import tenant_get_default
from tests.factories import DEFAULT_PASSWORD, UserFactory


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
