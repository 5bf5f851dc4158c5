"""Provision a whole tenant through the official SDK against a live server, then log in and
refresh with what was created."""

from __future__ import annotations

import uuid

import pytest
from fusionauth.fusionauth_client import FusionAuthClient

from identity.models import APIKey, RefreshToken, Tenant
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "provisioned passphrase 1"


@pytest.fixture
def admin_sdk(live_server) -> FusionAuthClient:
    _, raw = make_api_key(name="bootstrap", key_manager=True)
    return FusionAuthClient(raw, live_server.url)


def _ok(response, status=200):
    assert response.status == status, (response.status, response.error_response)
    return response.success_response


def test_provision_a_tenant_then_log_in_and_refresh(admin_sdk, live_server):
    tenant = _ok(admin_sdk.create_tenant({"tenant": {
        "name": "Acme",
        "issuer": "https://acme.example.com",
        "jwtConfiguration": {
            "timeToLiveInSeconds": 600,
            "refreshTokenUsagePolicy": "OneTimeUse",
            "refreshTokenRevocationPolicy": {"onPasswordChanged": True},
        },
        "failedAuthenticationConfiguration": {
            "tooManyAttempts": 3, "actionDuration": 2, "actionDurationUnit": "MINUTES",
        },
    }}))["tenant"]  # fmt: skip
    assert tenant["jwtConfiguration"]["refreshTokenUsagePolicy"] == "OneTimeUse"
    assert tenant["jwtConfiguration"]["accessTokenKeyId"]  # a key of its own
    assert tenant["failedAuthenticationConfiguration"]["actionDuration"] == 120
    tenant_id = tenant["id"]
    assert _ok(admin_sdk.retrieve_tenant(tenant_id))["tenant"]["issuer"] == "https://acme.example.com"
    patched = _ok(
        admin_sdk.patch_tenant(tenant_id, {"tenant": {"jwtConfiguration": {"timeToLiveInSeconds": 900}}})
    )
    assert patched["tenant"]["jwtConfiguration"]["timeToLiveInSeconds"] == 900
    assert patched["tenant"]["jwtConfiguration"]["refreshTokenUsagePolicy"] == "OneTimeUse"  # untouched

    sdk = FusionAuthClient(admin_sdk.api_key, live_server.url)
    sdk.set_tenant_id(tenant_id)
    app_id = str(uuid.uuid4())
    application = _ok(sdk.create_application({"application": {
        "name": "Portal",
        "loginConfiguration": {
            "generateRefreshTokens": True, "allowTokenRefresh": True, "requireAuthentication": True,
        },
        "roles": [{"name": "admin", "isSuperRole": True}],
    }}, app_id))["application"]  # fmt: skip
    assert application["id"] == app_id and application["tenantId"] == tenant_id
    role = _ok(sdk.create_application_role(app_id, {"role": {"name": "user", "isDefault": True}}))["role"]
    assert role["isDefault"] is True

    key = _ok(sdk.create_api_key({"apiKey": {
        "name": "portal backend", "tenantId": tenant_id,
        "permissions": {"endpoints": {"/api/login": ["POST"], "/api/jwt/refresh": ["GET", "DELETE"]}},
    }}))["apiKey"]  # fmt: skip
    assert key["key"] and key["tenantId"] == tenant_id
    assert "key" not in _ok(sdk.retrieve_api_key(key["id"]))["apiKey"]

    new_user = {"email": "Ann@Acme.example", "password": PASSWORD, "firstName": "Ann"}
    user = _ok(sdk.create_user({"user": new_user, "skipVerification": True}))["user"]
    assert user["verified"] is True and user["tenantId"] == tenant_id
    registration = _ok(sdk.register({"registration": {"applicationId": app_id}}, user["id"]))["registration"]
    assert registration["roles"] == ["user"]
    assert _ok(sdk.retrieve_user_by_email("ann@acme.example"))["user"]["id"] == user["id"]
    assert _ok(sdk.patch_user(user["id"], {"user": {"lastName": "Smith"}}))["user"]["lastName"] == "Smith"

    backend = FusionAuthClient(key["key"], live_server.url)
    login = _ok(backend.login({"loginId": "ann@acme.example", "password": PASSWORD, "applicationId": app_id}))
    assert login["user"]["registrations"][0]["roles"] == ["user"]
    refreshed = _ok(backend.exchange_refresh_token_for_jwt({"refreshToken": login["refreshToken"]}))
    assert refreshed["refreshToken"] != login["refreshToken"]  # OneTimeUse, as provisioned

    change = {"loginId": "ann@acme.example", "currentPassword": PASSWORD, "password": "another passphrase 2"}
    # Change-password by identity asks what login asks: the tenant requires an API key, so the
    # anonymous call is refused and the SDK's by-identity method (which sends the key) is the way.
    assert sdk.change_password(None, change).status == 401
    _ok(sdk.change_password_by_identity(change))
    assert backend.exchange_refresh_token_for_jwt({"refreshToken": refreshed["refreshToken"]}).status == 400
    assert (
        backend.login({"loginId": "ann@acme.example", "password": PASSWORD, "applicationId": app_id}).status
        == 404
    )

    # Three failures lock Ann out (the tenant's tooManyAttempts); the SDK's patch_user unlocks her.
    new_password = {
        "loginId": "ann@acme.example",
        "password": "another passphrase 2",
        "applicationId": app_id,
    }
    for _attempt in range(2):
        backend.login({**new_password, "password": "not it"})
    assert backend.login(new_password).status == 409
    assert _ok(sdk.retrieve_user(user["id"]))["user"]["locked"] is True
    assert _ok(sdk.patch_user(user["id"], {"user": {"locked": False}}))["user"]["locked"] is False
    _ok(backend.login(new_password))
    typo = sdk.patch_user(user["id"], {"user": {"unlocked": True}})
    assert typo.status == 400 and "user.unlocked" in typo.error_response["fieldErrors"]

    combined = _ok(sdk.register({"user": {"email": "bob@acme.example", "password": PASSWORD},
                                 "registration": {"applicationId": app_id, "roles": ["admin"]}}))  # fmt: skip
    assert combined["registration"]["roles"] == ["admin"]

    assert _ok(sdk.delete_user(user["id"])) is None
    assert sdk.retrieve_user(user["id"]).status == 404
    assert not RefreshToken.objects.filter(user_id=user["id"]).exists()


def test_update_and_delete_methods(admin_sdk):
    tenant_id = _ok(admin_sdk.create_tenant({"tenant": {"name": "T", "issuer": "t.example"}}))["tenant"]["id"]
    admin_sdk.set_tenant_id(tenant_id)
    updated = _ok(admin_sdk.update_tenant(tenant_id, {"tenant": {"name": "T2", "issuer": "t2.example"}}))
    assert updated["tenant"]["name"] == "T2"
    app_id = _ok(admin_sdk.create_application({"application": {"name": "A"}}))["application"]["id"]
    assert (
        _ok(admin_sdk.update_application(app_id, {"application": {"name": "A2"}}))["application"]["name"]
        == "A2"
    )
    assert _ok(
        admin_sdk.patch_application(
            app_id, {"application": {"loginConfiguration": {"allowTokenRefresh": True}}}
        )
    )
    role_id = _ok(admin_sdk.create_application_role(app_id, {"role": {"name": "r"}}))["role"]["id"]
    assert (
        _ok(admin_sdk.update_application_role(app_id, role_id, {"role": {"name": "r2"}}))["role"]["name"]
        == "r2"
    )
    assert (
        _ok(admin_sdk.patch_application_role(app_id, role_id, {"role": {"isDefault": True}}))["role"]["name"]
        == "r2"
    )
    _ok(admin_sdk.delete_application_role(app_id, role_id))
    _ok(admin_sdk.deactivate_application(app_id))
    assert _ok(admin_sdk.retrieve_application(app_id))["application"]["active"] is False
    assert _ok(admin_sdk.reactivate_application(app_id))["application"]["active"] is True
    user_id = _ok(admin_sdk.create_user({"user": {"email": "u@t.example", "password": PASSWORD}}))["user"][
        "id"
    ]
    _ok(admin_sdk.register({"registration": {"applicationId": app_id}}, user_id))
    reg = _ok(
        admin_sdk.update_registration(user_id, {"registration": {"applicationId": app_id, "username": "uu"}})
    )
    assert reg["registration"]["username"] == "uu"
    assert _ok(admin_sdk.retrieve_registration(user_id, app_id))["registration"]["username"] == "uu"
    _ok(admin_sdk.delete_registration(user_id, app_id))
    assert admin_sdk.retrieve_registration(user_id, app_id).status == 404
    _ok(admin_sdk.deactivate_user(user_id))
    assert _ok(admin_sdk.retrieve_user(user_id))["user"]["active"] is False
    assert _ok(admin_sdk.reactivate_user(user_id))["user"]["active"] is True
    key_id = _ok(admin_sdk.create_api_key({"apiKey": {"name": "k"}}))["apiKey"]["id"]
    assert _ok(admin_sdk.patch_api_key(key_id, {"apiKey": {"name": "k2"}}))["apiKey"]["name"] == "k2"
    assert _ok(admin_sdk.update_api_key(key_id, {"apiKey": {"name": "k3"}}))["apiKey"]["name"] == "k3"
    _ok(admin_sdk.delete_api_key(key_id))
    assert not APIKey.objects.filter(pk=key_id).exists()
    _ok(admin_sdk.delete_application(app_id))
    admin_sdk.set_tenant_id(None)
    _ok(admin_sdk.delete_tenant(tenant_id))
    assert not Tenant.objects.filter(pk=tenant_id).exists()


def test_field_errors_reach_the_sdk(admin_sdk):
    response = admin_sdk.create_tenant({"tenant": {"name": "", "issuer": "x"}})
    assert response.status == 400 and "tenant.name" in response.error_response["fieldErrors"]
    tenant_id = _ok(admin_sdk.create_tenant({"tenant": {"name": "E", "issuer": "e.example"}}))["tenant"]["id"]
    admin_sdk.set_tenant_id(tenant_id)
    _ok(admin_sdk.create_user({"user": {"email": "a@e.example", "password": PASSWORD}}))
    duplicate = admin_sdk.create_user({"user": {"email": "A@e.example", "password": PASSWORD}})
    assert duplicate.error_response["fieldErrors"]["user.email"][0]["code"] == "[duplicate]user.email"
    blank = admin_sdk.create_user({"user": {"password": PASSWORD}})
    assert blank.error_response["fieldErrors"]["user.email"][0]["code"] == "[blank]user.email"


def test_an_oauth_client_created_with_the_sdk_gets_its_secret_once(admin_sdk, live_server):
    """Issue 11: `create_application` with an `oauthConfiguration` answers the client secret once;
    the SDK's client_credentials_grant works with it; retrieving never shows it again."""
    tenant_id = _ok(admin_sdk.create_tenant({"tenant": {"name": "Clients"}}))["tenant"]["id"]
    sdk = FusionAuthClient(admin_sdk.api_key, live_server.url)
    sdk.set_tenant_id(tenant_id)
    created = _ok(sdk.create_application({"application": {
        "name": "Reports backend",
        "oauthConfiguration": {
            "scopes": ["reports.read"], "clientAuthenticationMethod": "client_secret_post",
        },
    }}))["application"]  # fmt: skip
    oauth = created["oauthConfiguration"]
    assert oauth["clientId"] == created["id"]
    assert oauth["clientAuthenticationMethods"] == ["client_secret_post"]
    secret = oauth["clientSecret"]
    read = _ok(sdk.retrieve_application(created["id"]))["application"]["oauthConfiguration"]
    assert "clientSecret" not in read and read["scopes"] == ["reports.read"]
    assert _ok(sdk.retrieve_oauth_configuration(created["id"])) == {"oauthConfiguration": read}
    plain = _ok(sdk.create_application({"application": {"name": "No client"}}))["application"]
    assert _ok(sdk.retrieve_oauth_configuration(plain["id"])) == {"oauthConfiguration": None}
    assert sdk.retrieve_oauth_configuration(str(uuid.uuid4())).status == 404
    grant = sdk.client_credentials_grant(client_id=created["id"], client_secret=secret, scope="reports.read")
    assert grant.status == 200, (grant.status, grant.error_response)
    assert grant.success_response["expires_in"] == 86_400  # no JWT configuration of its own: one day
    assert sdk.client_credentials_grant(client_id=created["id"], client_secret=secret + "x").status == 401
