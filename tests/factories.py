"""factory-boy factories. They build rows through the services, so tests see what production sees."""

from __future__ import annotations

from typing import Any

import factory

from identity.models import APIKey, Application, Registration, SigningKey, Tenant, User
from identity.selectors import tenant_get_default
from identity.services.api_keys import api_key_create
from identity.services.applications import RoleSpec, application_create
from identity.services.registrations import registration_create
from identity.services.signing_keys import signing_key_generate
from identity.services.tenants import tenant_create
from identity.services.users import user_create

DEFAULT_PASSWORD = "correct horse battery staple"
# An id no row has: fixed (not uuid4) so parametrized test ids are the same in every pytest-xdist worker.
UNKNOWN_ID = "5b0c1f3e-7d2a-4c69-9e4b-0a1d2c3b4e5f"


class TenantFactory(factory.Factory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    issuer = factory.Sequence(lambda n: f"https://tenant{n}.example.com")

    @classmethod
    def _create(cls, model_class: type[Tenant], *args: Any, **kwargs: Any) -> Tenant:
        return tenant_create(**kwargs)


class ApplicationFactory(factory.Factory):
    class Meta:
        model = Application

    tenant = factory.LazyFunction(tenant_get_default)
    name = factory.Sequence(lambda n: f"App {n}")
    roles: list[RoleSpec] = []

    @classmethod
    def _create(cls, model_class: type[Application], *args: Any, **kwargs: Any) -> Application:
        return application_create(**kwargs)


class UserFactory(factory.Factory):
    class Meta:
        model = User

    tenant = factory.LazyFunction(tenant_get_default)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = DEFAULT_PASSWORD

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        return user_create(**kwargs)


class RegistrationFactory(factory.Factory):
    class Meta:
        model = Registration

    user = factory.SubFactory(UserFactory)
    application = factory.LazyAttribute(lambda o: ApplicationFactory(tenant=o.user.tenant))

    @classmethod
    def _create(cls, model_class: type[Registration], *args: Any, **kwargs: Any) -> Registration:
        return registration_create(**kwargs)


def make_api_key(**kwargs: Any) -> tuple[APIKey, str]:
    """An API key and its raw value (the value exists nowhere else)."""
    kwargs.setdefault("tenant", None)
    kwargs.setdefault("name", "test key")
    return api_key_create(**kwargs)


def make_signing_key(
    algorithm: str = "ES256", tenant: Tenant | None = None, name: str = "test key"
) -> SigningKey:
    return signing_key_generate(tenant=tenant, algorithm=algorithm, name=name).key
