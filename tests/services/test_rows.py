"""identity.selectors.rows: one row by a unique key, in SQL built once, gives what the ORM gives."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.hashing import secret_digest
from identity.models import APIKey, Application, Tenant, User
from identity.selectors import application_get, user_get_by_login_id
from identity.selectors.rows import Join, row_by_unique_key
from identity.services.api_keys import api_key_authenticate, api_key_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _columns(instance) -> dict:  # type: ignore[no-untyped-def]
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_application_and_its_tenant_are_the_orms_in_one_statement(world):
    with CaptureQueriesContext(connection) as queries:
        found = application_get(application_id=world.application.pk)
        assert found is not None
        tenant = found.tenant
    assert len(queries) == 1
    expected = Application.objects.select_related("tenant").get(pk=world.application.pk)
    assert _columns(found) == _columns(expected)
    assert _columns(tenant) == _columns(expected.tenant)
    assert not found._state.adding and found._state.db == "default"


@pytest.mark.parametrize("tenant_bound", [True, False], ids=["tenant-key", "global-key"])
def test_an_api_key_with_or_without_a_tenant(world, tenant_bound):
    _, raw = api_key_create(tenant=world.tenant if tenant_bound else None, name="reader")

    with CaptureQueriesContext(connection) as queries:
        found = api_key_authenticate(raw=raw, endpoint="/api/login", method="POST")
        tenant = found.tenant
    assert len(queries) == 1
    expected = APIKey.objects.get(key_digest=secret_digest(raw))
    assert _columns(found) == _columns(expected)
    assert (tenant.pk if tenant is not None else None) == (world.tenant.pk if tenant_bound else None)


@pytest.mark.parametrize("login_id", ["ANN@example.com", "ann", " ann@example.com"])
def test_the_user_by_either_login_id_with_the_given_tenant(world, login_id):
    found = user_get_by_login_id(tenant=world.tenant, login_id=login_id)
    assert found is not None and found.pk == world.user.pk
    assert _columns(found) == _columns(User.objects.get(pk=world.user.pk))
    with CaptureQueriesContext(connection) as queries:
        assert found.tenant is world.tenant  # the tenant given, not a second read
    assert len(queries) == 0


@pytest.mark.parametrize("login_id", ["nobody@example.com", "", "ann@example.com'--", "%"], ids=repr)
def test_unknown_and_hostile_login_ids_find_no_one(world, login_id):
    assert user_get_by_login_id(tenant=world.tenant, login_id=login_id) is None


def test_a_user_of_another_tenant_is_not_found(world):
    other = Tenant.objects.create(name="Other", issuer="other.example.com")
    UserFactory(tenant=other, email="bob@example.com", username="bob")
    assert user_get_by_login_id(tenant=world.tenant, login_id="bob@example.com") is None


def test_no_row_is_none():
    assert row_by_unique_key(Application, {"id": uuid.uuid4()}, joins=(Join(Tenant, "tenant"),)) is None
