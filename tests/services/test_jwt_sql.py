"""identity.services.jwt_sql: the token's user and the facts the state rule asks, in one row."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.models import Application, RefreshToken, User
from identity.services.applications import application_create, application_set_active
from identity.services.jwt_sql import token_user_read
from identity.services.refresh_tokens import refresh_token_create
from identity.services.registrations import registration_create
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _columns(instance) -> dict:  # type: ignore[no-untyped-def]
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _read(world, **facts):  # type: ignore[no-untyped-def]
    ids = {"application_id": None, "session_id": None, "registration_for": None, **facts}
    return token_user_read(user_id=world.user.pk, tenant_id=world.tenant.pk, **ids)


def test_the_user_alone_is_the_orms_in_one_statement(world):
    with CaptureQueriesContext(connection) as queries:
        found = _read(world)
    assert len(queries) == 1
    assert found is not None and _columns(found.user) == _columns(User.objects.get(pk=world.user.pk))
    assert not found.user._state.adding
    assert (found.token_application_active, found.registered, found.registration_roles) == (None, None, None)
    assert (found.session_revoked_at, found.session_expires_at) == (None, None)


@pytest.mark.parametrize("owner", ["other-tenant", "unknown"])
def test_no_user_of_that_tenant_is_none(world, owner):
    if owner == "other-tenant":
        assert token_user_read(
            user_id=world.user.pk, tenant_id=TenantFactory().pk,
            application_id=None, session_id=None, registration_for=None,
        ) is None  # fmt: skip
    else:
        assert token_user_read(
            user_id=uuid.uuid4(), tenant_id=world.tenant.pk,
            application_id=None, session_id=None, registration_for=None,
        ) is None  # fmt: skip


@pytest.mark.parametrize("state", ["active", "inactive", "missing"])
def test_whether_the_tokens_application_is_active(world, state):
    application_id = uuid.uuid4() if state == "missing" else world.application.pk
    if state == "inactive":
        application_set_active(application=world.application, active=False)
    found = _read(world, application_id=application_id)
    assert found is not None and found.token_application_active is (state == "active")


@pytest.mark.parametrize("state", ["live", "revoked", "missing"])
def test_the_sessions_revocation_and_expiry(world, state):
    session = refresh_token_create(user=world.user, application=world.application).token
    if state == "revoked":
        RefreshToken.objects.filter(pk=session.pk).update(revoked_at=timezone.now())
    found = _read(world, session_id=uuid.uuid4() if state == "missing" else session.pk)
    stored = RefreshToken.objects.get(pk=session.pk)
    assert found is not None
    if state == "missing":
        assert (found.session_revoked_at, found.session_expires_at) == (None, None)
    else:
        assert (found.session_revoked_at, found.session_expires_at) == (stored.revoked_at, stored.expires_at)
        assert found.session_expires_at.tzinfo is not None


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "not-registered"])
def test_the_registration_in_another_application(world, registered):
    other = application_create(tenant=world.tenant, name="Other", roles=[], generate_refresh_tokens=False)
    if registered:
        registration_create(user=world.user, application=other, roles=[])
    found = _read(world, registration_for=other.pk)
    assert found is not None and found.registered is registered
    assert found.registration_roles == ([] if registered else None)
    world_roles = _read(world, registration_for=world.application.pk)
    assert world_roles is not None and world_roles.registration_roles == ["user"]


def test_every_fact_at_once_is_still_one_statement(world):
    session = refresh_token_create(user=world.user, application=world.application).token
    with CaptureQueriesContext(connection) as queries:
        found = _read(
            world, application_id=world.application.pk, session_id=session.pk,
            registration_for=world.application.pk,
        )  # fmt: skip
    assert len(queries) == 1
    assert found is not None and found.token_application_active and found.registered
    assert found.session_expires_at == RefreshToken.objects.get(pk=session.pk).expires_at
    assert Application.objects.filter(pk=world.application.pk, active=True).exists()
    UserFactory(tenant=world.tenant)  # another user changes nothing
    assert _read(world).user.pk == world.user.pk  # type: ignore[union-attr]
