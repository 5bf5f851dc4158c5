"""The services the provisioning API calls once per request: each does the whole operation or
nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.caller import Caller
from identity.exceptions import NotFound, ValidationFailed
from identity.models import APIKey, Registration, User
from identity.services.api_keys import api_key_create_as, api_key_update
from identity.services.registrations import registration_create_with_user, registration_find
from identity.services.users import user_update_with_password
from tests.factories import ApplicationFactory, TenantFactory, make_api_key

pytestmark = pytest.mark.django_db


def test_registration_with_user_creates_both(world):
    registration = registration_create_with_user(
        tenant=world.tenant,
        user={"email": "new@example.com", "password": "a long passphrase", "first_name": "N"},
        application_id=world.application.pk,
    )
    assert registration.user.first_name == "N" and registration.user.check_password("a long passphrase")
    assert registration.roles == ["user"]  # the application's default roles


@pytest.mark.parametrize(
    ("application", "roles", "field"),
    [("own", ["no-such-role"], "registration.roles"), ("foreign", None, "registration.applicationId")],
)
def test_a_refused_registration_leaves_no_user_behind(world, application, roles, field):
    application_id = (
        world.application.pk if application == "own" else ApplicationFactory(tenant=TenantFactory()).pk
    )
    users, registrations = User.objects.count(), Registration.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        registration_create_with_user(
            tenant=world.tenant,
            user={"email": "new@example.com"},
            user_id=uuid.uuid4(),
            application_id=application_id,
            roles=roles,
        )
    assert field in caught.value.field_errors
    assert (User.objects.count(), Registration.objects.count()) == (users, registrations)


def test_registration_find_by_body_refuses_another_tenants_application_and_path_ids_are_not_found(world):
    foreign = ApplicationFactory(tenant=TenantFactory())
    with pytest.raises(ValidationFailed):
        registration_find(user=world.user, application_id=foreign.pk, named_in_body=True)
    with pytest.raises(NotFound):
        registration_find(user=world.user, application_id=foreign.pk)
    assert registration_find(user=world.user, application_id=world.application.pk).user == world.user


def test_a_refused_password_leaves_the_profile_unchanged(world):
    with pytest.raises(ValidationFailed):
        user_update_with_password(user=world.user, last_name="Changed", password="short")
    stored = User.objects.get(pk=world.user.pk)
    assert stored.last_name != "Changed" and stored.check_password(world.password)
    user_update_with_password(user=stored, last_name="Changed", password="another passphrase")
    stored = User.objects.get(pk=world.user.pk)
    assert stored.last_name == "Changed" and stored.check_password("another passphrase")


def test_api_key_update_changes_only_what_it_is_given(world):
    expiry = timezone.now() + timedelta(days=1)
    key, _ = make_api_key(name="k", description="d", permissions={"/api/user": ["GET"]}, expires_at=expiry)
    api_key_update(api_key=key, name=" renamed ")
    stored = APIKey.objects.get(pk=key.pk)
    assert (stored.name, stored.description, stored.permissions, stored.expires_at) == (
        "renamed", "d", {"/api/user": ["GET"]}, expiry,
    )  # fmt: skip
    api_key_update(api_key=stored, expires_at=None, permissions={})
    stored = APIKey.objects.get(pk=key.pk)
    assert (stored.name, stored.permissions, stored.expires_at) == ("renamed", {}, None)


def test_api_key_create_as_locks_the_key_to_the_callers_tenant_or_the_named_one(world):
    locked, _ = make_api_key(tenant=world.tenant, key_manager=True)
    key, _ = api_key_create_as(caller=Caller.build(api_key=locked), name="k")
    assert key.tenant_id == world.tenant.pk
    manager, _ = make_api_key(key_manager=True)
    assert api_key_create_as(caller=Caller.build(api_key=manager))[0].tenant_id is None
    named = api_key_create_as(caller=Caller.build(api_key=manager), tenant_id=world.tenant.pk)[0]
    assert named.tenant_id == world.tenant.pk
    count = APIKey.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        api_key_create_as(caller=Caller.build(api_key=manager), tenant_id=uuid.uuid4())
    assert "apiKey.tenantId" in caught.value.field_errors
    with pytest.raises(ValidationFailed):  # a locked manager cannot lock a key to another tenant
        api_key_create_as(caller=Caller.build(api_key=locked), tenant_id=TenantFactory().pk)
    assert APIKey.objects.count() == count
