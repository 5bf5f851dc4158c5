"""The official FusionAuth SDK against a live server: validate_jwt, issue_jwt, vend_jwt,
reconcile_jwt, and the SDK's quirks (empty Authorization header, `Length` header, tenant header on
anonymous calls, 400 always JSON)."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fusionauth.fusionauth_client import FusionAuthClient

from identity.services.identity_providers import external_jwt_provider_create
from identity.services.registrations import registration_create
from identity.services.signing_keys import signing_key_import
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live_server, world) -> FusionAuthClient:
    client = FusionAuthClient(world.api_key, live_server.url)
    client.set_tenant_id(str(world.tenant.pk))
    return client


@pytest.fixture
def anonymous(live_server, world) -> FusionAuthClient:
    client = FusionAuthClient("", live_server.url)
    client.set_tenant_id(str(world.tenant.pk))  # the SDK then sends the tenant header on every call
    return client


@pytest.fixture
def login(sdk, world) -> dict:
    response = sdk.login(
        {"loginId": "ann@example.com", "password": world.password, "applicationId": str(world.application.pk)}
    )
    assert response.status == 200
    return response.success_response


def test_validate_jwt(anonymous, login, world):
    response = anonymous.validate_jwt(login["token"])
    assert response.status == 200 and response.success_response["jwt"]["sub"] == str(world.user.pk)
    bad = anonymous.validate_jwt("not.a.jwt")
    assert bad.status == 401 and isinstance(bad.error_response, requests.Response)
    assert bad.error_response.content == b""


def test_issue_jwt(anonymous, login, world):
    second = ApplicationFactory(tenant=world.tenant, generate_refresh_tokens=True)
    registration_create(user=world.user, application=second)
    response = anonymous.issue_jwt(str(second.pk), login["token"], login["refreshToken"])
    assert response.status == 200, response.error_response
    body = response.success_response
    assert body["refreshToken"] and jwt.decode(body["token"], options={"verify_signature": False})[
        "aud"
    ] == str(second.pk)
    unregistered = ApplicationFactory(tenant=world.tenant)
    assert anonymous.issue_jwt(str(unregistered.pk), login["token"]).status == 202
    assert anonymous.issue_jwt(str(second.pk), "garbage").status == 401
    malformed = anonymous.issue_jwt("not-a-uuid", login["token"])
    assert malformed.status == 400 and malformed.error_response["fieldErrors"]["applicationId"]


def test_vend_jwt(sdk, anonymous):
    response = sdk.vend_jwt({"claims": {"role": "robot"}, "timeToLiveInSeconds": 120})
    assert response.status == 200
    token = response.success_response["token"]
    assert anonymous.validate_jwt(token).success_response["jwt"]["role"] == "robot"
    bad = sdk.vend_jwt({"claims": {}, "timeToLiveInSeconds": -1})
    assert bad.status == 400 and bad.error_response["fieldErrors"]


def test_reconcile_jwt(anonymous, world):
    external = ec.generate_private_key(ec.SECP256R1())
    public = (
        external.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = signing_key_import(tenant=world.tenant, name="partner", public_key=public, kid="p-1")
    provider = external_jwt_provider_create(
        tenant=world.tenant, name="P", keys=[key], applications=[world.application]
    )
    now = int(time.time())
    token = jwt.encode(
        {"email": "new@partner.example", "iat": now, "exp": now + 60},
        external,
        algorithm="ES256",
        headers={"kid": "p-1"},
    )
    request = {
        "applicationId": str(world.application.pk),
        "identityProviderId": str(provider.pk),
        "data": {"token": token},
    }
    response = anonymous.reconcile_jwt(request)
    assert response.status == 200, response.error_response
    assert response.success_response["user"]["email"] == "new@partner.example"
    assert response.success_response["refreshToken"]
    legacy = anonymous.reconcile_jwt(
        {**{k: v for k, v in request.items() if k != "data"}, "encodedJWT": token}
    )
    assert legacy.status == 200
    unknown = anonymous.reconcile_jwt({**request, "identityProviderId": str(world.application.pk)})
    assert unknown.status == 401


def test_empty_authorization_header_counts_as_absent(live_server, world, login):
    # FusionAuthClient("") sends "Authorization: " on start(): an anonymous endpoint must not 401.
    client = FusionAuthClient("", live_server.url)
    assert client.start().uri("/api/jwt/validate").get().go().status == 401  # no token at all
    assert client.exchange_refresh_token_for_jwt({"refreshToken": login["refreshToken"]}).status == 200


def test_length_header_and_400_is_always_json(live_server, world):
    response = requests.post(
        f"{live_server.url}/api/jwt/refresh",
        data="{broken",
        headers={"Content-Type": "application/json", "Length": "7", "Authorization": ""},
        timeout=30,
    )
    assert response.status_code == 400 and response.json()["generalErrors"]
    client = FusionAuthClient(world.api_key, live_server.url)
    assert client.vend_jwt({"claims": []}).error_response is not None  # parsed JSON, no JSONDecodeError
