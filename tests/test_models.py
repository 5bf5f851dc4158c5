"""Database constraints hold even when the services are bypassed (races, raw writes)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from identity.login_ids import login_id_key
from identity.models import APIKey, Registration, Tenant, User
from tests.factories import ApplicationFactory, RegistrationFactory, TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def _violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_default_tenant_exists_and_is_unique(default_tenant):
    assert default_tenant.is_default
    assert _violates(lambda: Tenant.objects.create(name="Second default", is_default=True))


def _raw_user(tenant: Tenant, email: str, username: str | None = None) -> User:
    """A row written without the services, with the keys they would store."""
    return User.objects.create(
        tenant=tenant,
        email=email,
        email_key=login_id_key(email),
        username=username,
        username_key=login_id_key(username) if username else None,
    )


def test_user_email_unique_per_tenant_by_its_key(default_tenant):
    UserFactory(email="Ann@Example.com")
    assert _violates(lambda: _raw_user(default_tenant, "ann@example.COM"))
    # KELVIN SIGN: PostgreSQL's LOWER() and Python's lower() disagree; the key does not.
    UserFactory(email="kim@example.com")
    assert _violates(lambda: _raw_user(default_tenant, "\u212aim@example.com"))
    other = TenantFactory()
    assert not _violates(lambda: _raw_user(other, "ann@example.com"))


def test_username_unique_per_tenant_by_its_key_and_optional(default_tenant):
    UserFactory(username="Ann")
    assert _violates(lambda: _raw_user(default_tenant, "b@example.com", "ANN"))
    # Many users without a username are fine (NULLs are distinct).
    _raw_user(default_tenant, "c@example.com")
    _raw_user(default_tenant, "d@example.com")


def test_registration_unique_per_user_and_application():
    registration = RegistrationFactory()
    assert _violates(
        lambda: Registration.objects.create(user=registration.user, application=registration.application)
    )


def test_application_name_unique_per_tenant(default_tenant):
    ApplicationFactory(name="Portal")
    assert _violates(
        lambda: ApplicationFactory._meta.model.objects.create(tenant=default_tenant, name="Portal")
    )
    assert not _violates(lambda: ApplicationFactory(tenant=TenantFactory(), name="Portal"))


@pytest.mark.parametrize(
    "fields",
    [
        {"refresh_token_ttl_minutes": 100, "refresh_token_max_ttl_minutes": 99},
        {"access_token_ttl_seconds": 0},
        {"refresh_token_ttl_minutes": 0, "refresh_token_max_ttl_minutes": 0},
        {"refresh_token_grace_period_seconds": 86_400},
    ],
)
def test_tenant_jwt_configuration_check_constraints(fields):
    assert _violates(lambda: Tenant.objects.create(name=f"t-{uuid.uuid4()}", **fields))


def test_api_key_digest_unique(default_tenant):
    key, _ = make_api_key()
    assert _violates(lambda: APIKey.objects.create(key_digest=key.key_digest, prefix="x"))


@pytest.mark.parametrize(
    ("permissions", "endpoint", "method", "allowed"),
    [
        ({}, "/api/anything", "DELETE", True),
        ({"/api/jwt/refresh": ["GET"]}, "/api/jwt/refresh", "GET", True),
        ({"/api/jwt/refresh": ["GET"]}, "/api/jwt/refresh", "get", True),
        ({"/api/jwt/refresh": ["GET"]}, "/api/jwt/refresh", "DELETE", False),
        ({"/api/jwt/refresh": ["GET"]}, "/api/jwt/refreshx", "GET", False),
        # Endpoints are matched exactly: a shorter name never reaches the endpoints below it.
        ({"/api/jwt": ["GET"], "/api/jwt/refresh": ["DELETE"]}, "/api/jwt/refresh", "GET", False),
        ({"/api/jwt": ["GET"], "/api/jwt/refresh": ["DELETE"]}, "/api/jwt/validate", "GET", False),
        ({"/api/user": ["POST"]}, "/api/user/registration", "POST", False),
        ({"/api/user": ["POST"]}, "/api/user/change-password", "POST", False),
    ],
)
def test_api_key_allows(permissions, endpoint, method, allowed):
    assert APIKey(permissions=permissions).allows(endpoint, method) is allowed


def test_expiry_predicates():
    now = timezone.now()
    assert User(expires_at=now - timedelta(seconds=1)).is_expired(now)
    assert not User(expires_at=None).is_expired(now)
    assert APIKey(expires_at=now).is_expired(now)
