"""The official FusionAuth SDK against a live server: login, ping, logout, refresh, retrieve, revoke."""

from __future__ import annotations

import uuid

import pytest
import requests
from fusionauth.fusionauth_client import FusionAuthClient

from identity.models import RefreshToken
from identity.services.refresh_tokens import refresh_token_create
from identity.services.tenants import tenant_update
from tests.factories import ApplicationFactory, TenantFactory, make_api_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live_server, world) -> FusionAuthClient:
    return FusionAuthClient(world.api_key, live_server.url)


@pytest.fixture
def anonymous(live_server) -> FusionAuthClient:
    return FusionAuthClient("", live_server.url)


def _login(sdk, world, **extra):
    request = {
        "loginId": "ann@example.com",
        "password": world.password,
        "applicationId": str(world.application.pk),
    }
    return sdk.login({**request, **extra})


def test_login(sdk, world):
    response = _login(sdk, world, metaData={"device": {"name": "sdk", "type": "SERVER"}})
    assert response.status == 200, response.error_response
    body = response.success_response
    assert body["user"]["id"] == str(world.user.pk) and body["refreshTokenId"] and body["token"]
    assert body["tokenExpirationInstant"] > 0


def test_login_error_statuses(sdk, world, live_server):
    wrong = _login(sdk, world, password="not it")
    assert wrong.status == 404 and wrong.error_response is None
    malformed = sdk.login({"password": "x", "applicationId": str(world.application.pk)})
    assert malformed.status == 400
    assert malformed.error_response["fieldErrors"]["loginId"][0]["code"] == "[blank]loginId"
    unauthorised = _login(FusionAuthClient("wrong-key", live_server.url), world)
    assert unauthorised.status == 401 and isinstance(unauthorised.error_response, requests.Response)
    other = ApplicationFactory(tenant=world.tenant)
    assert _login(sdk, world, applicationId=str(other.pk)).status == 202
    for _ in range(5):
        _login(sdk, world, password="not it")
    assert _login(sdk, world).status == 409


def test_login_ping(sdk, world):
    response = sdk.login_ping(str(world.user.pk), str(world.application.pk), "10.0.0.1")
    assert response.status == 200 and response.success_response["token"]
    response = sdk.login_ping_with_request(
        {"userId": str(world.user.pk), "applicationId": str(world.application.pk), "ipAddress": "10.0.0.2"}
    )
    assert response.status == 200
    assert sdk.login_ping(str(uuid.uuid4()), str(world.application.pk)).status == 404


def test_refresh_and_error_shape(sdk, anonymous, world):
    body = _login(sdk, world).success_response
    response = anonymous.exchange_refresh_token_for_jwt({"refreshToken": body["refreshToken"]})
    assert response.status == 200 and response.success_response["refreshTokenId"] == body["refreshTokenId"]
    bad = anonymous.exchange_refresh_token_for_jwt({"refreshToken": "nope"})
    assert (
        bad.status == 400
        and bad.error_response["fieldErrors"]["refreshToken"][0]["code"] == "[invalid]refreshToken"
    )


def test_one_time_use_chain_through_the_sdk(sdk, anonymous, world):
    tenant_update(tenant=world.tenant, refresh_token_usage_policy="OneTimeUse")
    value = _login(sdk, world).success_response["refreshToken"]
    seen = {value}
    for _ in range(3):
        response = anonymous.exchange_refresh_token_for_jwt({"refreshToken": value})
        assert response.status == 200
        value = response.success_response["refreshToken"]
        assert value not in seen
        seen.add(value)


def test_retrieve(sdk, world):
    body = _login(sdk, world).success_response
    tokens = sdk.retrieve_refresh_tokens(str(world.user.pk)).success_response["refreshTokens"]
    assert [t["id"] for t in tokens] == [body["refreshTokenId"]]
    one = sdk.retrieve_refresh_token_by_id(body["refreshTokenId"])
    assert one.status == 200 and one.success_response["refreshToken"]["userId"] == str(world.user.pk)
    missing = sdk.retrieve_refresh_token_by_id(str(uuid.uuid4()))
    assert missing.status == 404 and missing.error_response is None


@pytest.mark.parametrize(
    "revoke",
    [
        lambda sdk, w, b: sdk.revoke_refresh_token_by_id(b["refreshTokenId"]),
        lambda sdk, w, b: sdk.revoke_refresh_token_by_token(b["refreshToken"]),
        lambda sdk, w, b: sdk.revoke_refresh_token(token=b["refreshToken"]),
        lambda sdk, w, b: sdk.revoke_refresh_token(
            user_id=str(w.user.pk), application_id=str(w.application.pk)
        ),
        lambda sdk, w, b: sdk.revoke_refresh_tokens_by_application_id(str(w.application.pk)),
        lambda sdk, w, b: sdk.revoke_refresh_tokens_by_user_id(str(w.user.pk)),
        lambda sdk, w, b: sdk.revoke_refresh_tokens_by_user_id_for_application(
            str(w.user.pk), str(w.application.pk)
        ),
        lambda sdk, w, b: sdk.revoke_refresh_tokens_with_request({"userId": str(w.user.pk)}),
        lambda sdk, w, b: sdk.revoke_refresh_tokens_with_request({"token": b["refreshToken"]}),
    ],
    ids=[
        "by id",
        "by token",
        "generic token",
        "generic user+app",
        "application",
        "user",
        "user for app",
        "request user",
        "request token",
    ],
)
def test_every_revoke_method(sdk, anonymous, world, revoke):
    body = _login(sdk, world).success_response
    response = revoke(sdk, world, body)
    assert response.status == 200 and response.success_response is None
    assert anonymous.exchange_refresh_token_for_jwt({"refreshToken": body["refreshToken"]}).status == 400


def test_revoke_unknown_and_foreign(sdk, world, live_server):
    assert sdk.revoke_refresh_token_by_id(str(uuid.uuid4())).status == 404
    _, foreign_key = make_api_key(tenant=TenantFactory())
    token = refresh_token_create(user=world.user, application=world.application).token
    foreign = FusionAuthClient(foreign_key, live_server.url)
    assert foreign.revoke_refresh_token_by_id(str(token.pk)).status == 404
    assert RefreshToken.objects.get(pk=token.pk).revoked_at is None


def test_logout(sdk, anonymous, world):
    body = _login(sdk, world).success_response
    response = anonymous.logout(False, body["refreshToken"])
    assert response.status == 200
    assert anonymous.exchange_refresh_token_for_jwt({"refreshToken": body["refreshToken"]}).status == 400
    first, second = (_login(sdk, world).success_response for _ in range(2))
    assert (
        anonymous.logout_with_request({"global": True, "refreshToken": first["refreshToken"]}).status == 200
    )
    assert anonymous.exchange_refresh_token_for_jwt({"refreshToken": second["refreshToken"]}).status == 400


def test_tenant_header_on_anonymous_refresh(anonymous, sdk, world):
    body = _login(sdk, world).success_response
    anonymous.set_tenant_id(str(world.tenant.pk))
    assert anonymous.exchange_refresh_token_for_jwt({"refreshToken": body["refreshToken"]}).status == 200
