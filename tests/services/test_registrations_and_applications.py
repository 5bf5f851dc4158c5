from __future__ import annotations

import pytest

from identity.exceptions import ValidationFailed
from identity.models import Application, ApplicationRole
from identity.services.applications import RoleSpec, application_create, application_role_create
from identity.services.registrations import registration_create, registration_update
from tests.factories import ApplicationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(default_tenant):
    return application_create(
        tenant=default_tenant,
        name="Portal",
        roles=[RoleSpec("admin", is_super_role=True), RoleSpec("user", is_default=True), RoleSpec("viewer")],
    )


def test_default_roles_are_granted(app):
    registration = registration_create(user=UserFactory(), application=app)
    assert registration.roles == ["user"]


def test_explicit_roles_are_normalised(app):
    registration = registration_create(
        user=UserFactory(), application=app, roles=["VIEWER", "admin", "admin"]
    )
    assert registration.roles == ["admin", "viewer"]


def test_unknown_roles_are_refused(app):
    user = UserFactory()
    with pytest.raises(ValidationFailed) as info:
        registration_create(user=user, application=app, roles=["root"])
    assert info.value.field_errors["registration.roles"][0].code == "[invalid]registration.roles"
    registration = registration_create(user=user, application=app)
    with pytest.raises(ValidationFailed):
        registration_update(registration=registration, roles=["user", "root"])


def test_cross_tenant_registration_is_refused(app):
    with pytest.raises(ValidationFailed):
        registration_create(user=UserFactory(tenant=TenantFactory()), application=app)


def test_duplicate_registration_is_a_field_error(app):
    user = UserFactory()
    registration_create(user=user, application=app)
    with pytest.raises(ValidationFailed) as info:
        registration_create(user=user, application=app)
    assert "registration.applicationId" in info.value.field_errors


def test_bad_role_leaves_no_application_behind(default_tenant):
    with pytest.raises(ValidationFailed):
        application_create(tenant=default_tenant, name="Half", roles=[RoleSpec("a"), RoleSpec("A")])
    assert not Application.objects.filter(name="Half").exists()
    assert not ApplicationRole.objects.filter(name="a").exists()


def test_application_override_is_validated(default_tenant):
    with pytest.raises(ValidationFailed) as info:
        application_create(
            tenant=default_tenant,
            name="x",
            jwt_enabled=True,
            refresh_token_ttl_minutes=10,
            refresh_token_max_ttl_minutes=5,
        )
    assert set(info.value.field_errors) == {"refresh_token_max_ttl_minutes"}


def test_role_names_unique_per_application_ignoring_case(app):
    with pytest.raises(ValidationFailed):
        application_role_create(application=app, spec=RoleSpec("Admin"))
    application_role_create(application=ApplicationFactory(), spec=RoleSpec("admin"))
