from __future__ import annotations

import pytest

from identity.exceptions import Conflict, ValidationFailed
from identity.models import Application, Tenant, User
from identity.services.tenants import tenant_create, tenant_delete, tenant_update
from tests.factories import ApplicationFactory, TenantFactory, UserFactory, make_signing_key

pytestmark = pytest.mark.django_db


def test_create_uses_fusionauth_defaults():
    tenant = tenant_create(name="Acme", issuer="https://acme.example.com")
    assert (tenant.access_token_ttl_seconds, tenant.refresh_token_ttl_minutes) == (3600, 43_200)
    assert tenant.refresh_token_expiration_policy == "Fixed"
    assert tenant.refresh_token_usage_policy == "Reusable"
    assert tenant.revoke_on_password_changed and tenant.revoke_on_login_prevented
    assert not tenant.is_default


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "default"}, "name"),  # duplicate of "Default", ignoring case
        ({"name": "x", "issuer": ""}, "issuer"),
        ({"name": "x", "access_token_ttl_seconds": 0}, "access_token_ttl_seconds"),
        (
            {"name": "x", "refresh_token_ttl_minutes": 100, "refresh_token_max_ttl_minutes": 10},
            "refresh_token_max_ttl_minutes",
        ),
        (
            {"name": "x", "refresh_token_grace_period_seconds": 86_400},
            "refresh_token_grace_period_seconds",
        ),
        (
            {"name": "x", "refresh_token_usage_policy": "Sometimes"},
            "refresh_token_usage_policy",
        ),
    ],
)
def test_create_refuses_bad_input_with_field_codes(default_tenant, kwargs, field):
    kwargs.setdefault("issuer", "https://new.example.com")
    before = Tenant.objects.count()
    with pytest.raises(ValidationFailed) as info:
        tenant_create(**kwargs)
    assert field in info.value.field_errors
    assert Tenant.objects.count() == before


def test_signing_key_of_another_tenant_is_refused():
    mine, theirs = TenantFactory(), TenantFactory()
    key = make_signing_key(tenant=theirs)
    with pytest.raises(ValidationFailed) as info:
        tenant_update(tenant=mine, access_token_signing_key=key)
    assert "access_token_signing_key" in info.value.field_errors
    # A global key or the tenant's own key is fine.
    tenant_update(tenant=mine, access_token_signing_key=make_signing_key(tenant=None))
    tenant_update(tenant=mine, access_token_signing_key=make_signing_key(tenant=mine))


def test_update_validates_the_resulting_configuration():
    tenant = TenantFactory(refresh_token_ttl_minutes=60, refresh_token_max_ttl_minutes=120)
    with pytest.raises(ValidationFailed):
        tenant_update(tenant=tenant, refresh_token_ttl_minutes=121)
    tenant.refresh_from_db()
    assert tenant.refresh_token_ttl_minutes == 60


def test_default_tenant_cannot_be_deleted(default_tenant):
    with pytest.raises(Conflict):
        tenant_delete(tenant=default_tenant)
    assert Tenant.objects.filter(pk=default_tenant.pk).exists()


def test_delete_removes_everything_in_the_tenant():
    tenant = TenantFactory()
    key = make_signing_key(tenant=tenant)
    tenant_update(tenant=tenant, access_token_signing_key=key)
    ApplicationFactory(tenant=tenant)
    UserFactory(tenant=tenant)
    tenant_delete(tenant=tenant)
    assert not Application.objects.filter(tenant_id=tenant.pk).exists()
    assert not User.objects.filter(tenant_id=tenant.pk).exists()
