"""Provisioning OAuth clients over the API: secret rotation (and the application's oauthConfiguration)."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from identity.exceptions import OAuthInvalidClient
from identity.models import OAuthConfiguration
from identity.services.oauth_clients import (
    ClientCredentials,
    oauth_client_authenticate,
    oauth_client_configure,
)
from tests.api.test_oauth_api import full_state
from tests.factories import ApplicationFactory, TenantFactory, make_api_key


def works(application, secret: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        oauth_client_authenticate(
            credentials=ClientCredentials(client_id=str(application.pk), client_secret=secret),
            audiences=[],
            now=timezone.now(),
        )
    except OAuthInvalidClient:
        return False
    return True


def rotate(api_client, application_id, key: str, body=None):  # type: ignore[no-untyped-def]
    return api_client.post(
        f"/api/application/{application_id}/oauth-configuration/client-secret",
        body if body is not None else {},
        format="json",
        HTTP_AUTHORIZATION=key,
    )


def test_rotation_answers_the_new_secret_once(api_client, world) -> None:
    old = oauth_client_configure(application=world.application).client_secret
    response = rotate(api_client, world.application.pk, world.api_key, {"overlapSeconds": 120})
    assert response.status_code == 200, response.content
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()["oauthConfiguration"]
    assert body["clientId"] == str(world.application.pk)
    assert works(world.application, body["clientSecret"]) and works(world.application, old)
    plain = rotate(api_client, world.application.pk, world.api_key)
    assert plain.status_code == 200
    assert not works(world.application, old) and not works(world.application, body["clientSecret"])


@pytest.mark.parametrize(
    ("target", "body", "status"),
    [
        ("unknown", {}, 404),
        ("garbage-id", {}, 404),
        ("foreign", {}, 404),
        ("plain", {}, 400),
        ("client", {"overlapSeconds": -1}, 400),
        ("client", {"overlapSeconds": "soon"}, 400),
        ("client", {"overlapSeconds": 10**9}, 400),
    ],
)
def test_rotation_refusals_change_nothing(api_client, world, target, body, status) -> None:
    oauth_client_configure(application=world.application)
    plain = ApplicationFactory(tenant=world.tenant, name="Plain")
    other_tenant = TenantFactory()
    foreign = ApplicationFactory(tenant=other_tenant, name="Foreign")
    oauth_client_configure(application=foreign)
    _, locked = make_api_key(tenant=world.tenant)
    ids = {
        "unknown": uuid.uuid4(),
        "garbage-id": "x",
        "foreign": foreign.pk,
        "plain": plain.pk,
        "client": world.application.pk,
    }
    before = full_state()
    response = rotate(api_client, ids[target], locked, body)
    assert response.status_code == status, response.content
    assert full_state() == before
    assert OAuthConfiguration.objects.filter(pk=plain.pk).count() == 0


def test_rotation_needs_an_api_key(api_client, world) -> None:
    oauth_client_configure(application=world.application)
    before = full_state()
    assert rotate(api_client, world.application.pk, "").status_code == 401
    assert full_state() == before
