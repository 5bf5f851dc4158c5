"""Provisioning OAuth clients over the API: secret rotation (and the application's oauthConfiguration)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.models import OAuthConfiguration
from identity.services.oauth_clients import (
    oauth_client_configure,
)
from identity.services.signing_keys import signing_key_generate
from tests.api.helpers import client_secret_works
from tests.api.test_oauth_api import full_state
from tests.factories import ApplicationFactory, TenantFactory, make_api_key


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
    assert client_secret_works(world.application, body["clientSecret"]) and client_secret_works(
        world.application, old
    )
    plain = rotate(api_client, world.application.pk, world.api_key)
    assert plain.status_code == 200
    assert not client_secret_works(world.application, old) and not client_secret_works(
        world.application, body["clientSecret"]
    )


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


@pytest.fixture
def key(world) -> str:  # type: ignore[no-untyped-def]
    """An API key locked to the world's tenant (so creating needs no tenant header)."""
    return make_api_key(tenant=world.tenant)[1]


def create(api_client, key: str, application: dict):  # type: ignore[no-untyped-def]
    return api_client.post(
        "/api/application", {"application": application}, format="json", HTTP_AUTHORIZATION=key
    )


def test_create_answers_the_secret_once_and_reads_never(api_client, world, key) -> None:
    response = create(
        api_client,
        key,
        {"name": "Backend", "oauthConfiguration": {"scopes": ["read"], "tokenRequestsPerMinute": 60}},
    )
    assert response.status_code == 200, response.content
    body = response.json()["application"]
    oauth = body["oauthConfiguration"]
    assert oauth["clientId"] == body["id"] and oauth["scopes"] == ["read"]
    assert oauth["enabledGrants"] == ["client_credentials"] and oauth["tokenRequestsPerMinute"] == 60
    application = OAuthConfiguration.objects.get(pk=body["id"]).application
    assert client_secret_works(application, oauth["clientSecret"])
    read = api_client.get(f"/api/application/{body['id']}", HTTP_AUTHORIZATION=world.api_key).json()[
        "application"
    ]
    assert "clientSecret" not in read["oauthConfiguration"] and read["oauthConfiguration"]["scopes"] == [
        "read"
    ]
    patched = api_client.patch(
        f"/api/application/{body['id']}",
        {"application": {"oauthConfiguration": {"scopes": ["read", "write"]}}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["application"]["oauthConfiguration"]["scopes"] == ["read", "write"]
    assert "clientSecret" not in patched.json()["application"]["oauthConfiguration"]
    assert client_secret_works(application, oauth["clientSecret"])  # an update keeps the secret


def test_plain_application_has_null_oauth_and_becomes_a_client_by_update(api_client, world) -> None:
    read = api_client.get(f"/api/application/{world.application.pk}", HTTP_AUTHORIZATION=world.api_key)
    assert read.json()["application"]["oauthConfiguration"] is None
    updated = api_client.put(
        f"/api/application/{world.application.pk}",
        {"application": {"oauthConfiguration": {}}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert updated.status_code == 200, updated.content
    assert client_secret_works(
        world.application, updated.json()["application"]["oauthConfiguration"]["clientSecret"]
    )


@pytest.mark.parametrize(
    ("oauth", "path"),
    [
        ({"scopes": ["has space"]}, "application.oauthConfiguration.scopes"),
        ({"enabledGrants": ["password"]}, "application.oauthConfiguration.enabledGrants"),
        (
            {"clientAuthenticationPolicy": "Sometimes"},
            "application.oauthConfiguration.clientAuthenticationPolicy",
        ),
        ({"assertionKeyIds": ["not-a-uuid"]}, "application.oauthConfiguration.assertionKeyIds"),
        ({"assertionKeyIds": [str(uuid.uuid4())]}, "application.oauthConfiguration.assertionKeyIds"),
        ({"tokenRequestsPerMinute": -1}, "application.oauthConfiguration.tokenRequestsPerMinute"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "application.oauthConfiguration.jwks"),
    ],
)
def test_bad_oauth_configuration_creates_nothing(api_client, world, key, oauth, path) -> None:
    before = full_state()
    response = create(api_client, key, {"name": "Backend", "oauthConfiguration": oauth})
    assert response.status_code == 400, response.content
    assert path in response.json()["fieldErrors"], response.json()
    assert full_state() == before


def test_a_single_client_authentication_method_is_accepted(api_client, world, key) -> None:
    """`clientAuthenticationMethod` (singular, as issue 11 names it) is a one-member list."""
    assertion_key = signing_key_generate(tenant=world.tenant, name="assertions", algorithm="ES256").key
    response = create(
        api_client,
        key,
        {
            "name": "Signer",
            "oauthConfiguration": {
                "clientAuthenticationMethod": "private_key_jwt",
                "assertionKeyIds": [str(assertion_key.pk)],
            },
        },
    )
    assert response.status_code == 200, response.content
    oauth = response.json()["application"]["oauthConfiguration"]
    assert oauth["clientAuthenticationMethods"] == ["private_key_jwt"]
    assert "clientSecret" not in oauth and "clientAuthenticationMethod" not in oauth


@pytest.mark.parametrize(
    ("oauth", "path"),
    [
        (
            {
                "clientAuthenticationMethod": "private_key_jwt",
                "clientAuthenticationMethods": ["client_secret_post"],
            },
            "application.oauthConfiguration.clientAuthenticationMethod",
        ),
        (
            {"clientAuthenticationMethod": "client_secret_jwt"},
            "application.oauthConfiguration.clientAuthenticationMethods",
        ),
        (
            {"clientAuthenticationMethod": ["private_key_jwt"]},
            "application.oauthConfiguration.clientAuthenticationMethod",
        ),
    ],
)
def test_bad_single_client_authentication_method_creates_nothing(api_client, world, key, oauth, path) -> None:
    before = full_state()
    response = create(api_client, key, {"name": "Signer", "oauthConfiguration": oauth})
    assert response.status_code == 400, response.content
    assert path in response.json()["fieldErrors"], response.json()
    assert full_state() == before


def test_listing_applications_costs_the_same_queries_for_one_or_many(api_client, world) -> None:
    """No query per application: roles, OAuth configurations and their keys come in bulk."""

    def listed() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get("/api/application", HTTP_AUTHORIZATION=world.api_key)
        assert response.status_code == 200
        return len(response.json()["applications"]), len(queries)

    oauth_client_configure(application=world.application)
    few, baseline = listed()
    key = signing_key_generate(tenant=world.tenant, name="assertions", algorithm="ES256").key
    for number in range(5):
        application = ApplicationFactory(tenant=world.tenant, name=f"App {number}")
        oauth_client_configure(
            application=application, client_authentication_methods=["private_key_jwt"], assertion_keys=[key]
        )
    ApplicationFactory(tenant=world.tenant, name="Not a client")
    many, queries = listed()
    assert many == few + 6
    assert queries == baseline
