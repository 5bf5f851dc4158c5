"""Admin pages of external JWT identity providers and their user links."""

from __future__ import annotations

import pytest
from django.urls import reverse

from identity.models import ExternalJWTProvider, IdentityProviderLink
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.signing_keys import signing_key_generate
from tests.factories import ApplicationFactory, TenantFactory, UserFactory
from tests.test_admin_services import verify_only_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(default_tenant):
    key = signing_key_generate(tenant=default_tenant, algorithm="ES256", name="partner").key
    app = ApplicationFactory(tenant=default_tenant)
    record = external_jwt_provider_create(
        tenant=default_tenant, name="Partner", keys=[key], applications=[app]
    )
    IdentityProviderLink.objects.create(provider=record, user=UserFactory(), subject="s@example.com")
    return record


@pytest.mark.parametrize("name", ["externaljwtprovider", "identityproviderlink"])
def test_changelists_render(admin_client, provider, name):
    response = admin_client.get(reverse(f"admin:identity_{name}_changelist"), {"q": "Partner"})
    assert response.status_code == 200


def test_change_page_and_add_page(admin_client, provider):
    assert (
        admin_client.get(reverse("admin:identity_externaljwtprovider_change", args=[provider.pk])).status_code
        == 200
    )
    assert admin_client.get(reverse("admin:identity_externaljwtprovider_add")).status_code == 200
    assert admin_client.get(reverse("admin:identity_identityproviderlink_add")).status_code == 403


def test_add_goes_through_the_service_and_shows_its_errors(admin_client, default_tenant):
    foreign_key = verify_only_key(TenantFactory(), "foreign")
    own_key = verify_only_key(default_tenant, "own")
    app = ApplicationFactory(tenant=default_tenant)
    form = {
        "tenant": default_tenant.pk,
        "name": "Partner",
        "enabled": "on",
        "verification_keys": [foreign_key.pk],
        "applications": [app.pk],
        "unique_identity_claim": "email",
        "claim_map": '{"given_name": "first_name"}',
        "issuer": "",
        "audience": "",
    }
    url = reverse("admin:identity_externaljwtprovider_add")
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "belongs to another tenant" in response.content.decode()
    assert not ExternalJWTProvider.objects.exists()
    response = admin_client.post(url, {**form, "verification_keys": [own_key.pk]})
    assert response.status_code == 302
    created = ExternalJWTProvider.objects.get()
    assert list(created.verification_keys.all()) == [own_key] and created.claim_map == {
        "given_name": "first_name"
    }
