"""POST /api/login, PUT /api/login/{userId}/{applicationId}, POST /api/logout over HTTP."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from identity.models import RefreshToken
from identity.services.applications import application_update
from identity.services.tenants import tenant_update
from identity.services.users import user_update
from tests.api.helpers import db_state
from tests.factories import ApplicationFactory, TenantFactory, make_api_key

pytestmark = pytest.mark.django_db


def _login(api_client, world, key=True, **body):
    payload = {
        "loginId": "ann@example.com",
        "password": world.password,
        "applicationId": str(world.application.pk),
    }
    payload.update(body)
    headers = {"HTTP_AUTHORIZATION": world.api_key} if key else {}
    return api_client.post("/api/login", payload, format="json", **headers)


def test_login_response_and_cookies(api_client, world, settings):
    response = _login(api_client, world, metaData={"device": {"name": "phone", "type": "MOBILE"}})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "token", "tokenExpirationInstant", "refreshToken", "refreshTokenId"}
    assert body["user"]["registrations"][0]["roles"] == ["user"]
    assert "password" not in body["user"]
    access, refresh = response.cookies["access_token"], response.cookies["refresh_token"]
    assert access.value == body["token"] and refresh.value == body["refreshToken"]
    assert access["httponly"] and refresh["httponly"] and access["secure"] and refresh["secure"]
    assert access["samesite"] == refresh["samesite"] == "Lax"
    assert refresh["path"] == "/api/" and int(refresh["max-age"]) > 0
    assert response["Cache-Control"].startswith("max-age=0")
    token = RefreshToken.objects.get(pk=body["refreshTokenId"])
    assert (token.device_name, token.device_type) == ("phone", "MOBILE")


def test_cookies_are_not_secure_in_debug(api_client, world, settings):
    settings.DEBUG = True
    response = _login(api_client, world)
    assert not response.cookies["refresh_token"]["secure"]


def test_not_registered_is_202(api_client, world):
    other = ApplicationFactory(tenant=world.tenant, generate_refresh_tokens=True)
    response = _login(api_client, world, applicationId=str(other.pk))
    assert response.status_code == 202
    assert "refreshToken" not in response.json() and "refresh_token" not in response.cookies


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"loginId": "nobody@example.com"}, 404),
        ({"password": "wrong password"}, 404),
    ],
)
def test_unknown_user_and_wrong_password_are_404_with_empty_body(api_client, world, body, status):
    response = _login(api_client, world, **body)
    assert response.status_code == status and response.content == b""


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"loginId": ""}, "loginId", "[blank]loginId"),
        ({"loginId": None}, "loginId", "[blank]loginId"),
        ({"password": ""}, "password", "[blank]password"),
        ({"password": "x" * 1_000_000}, "password", "[tooLong]password"),
        ({"loginId": "ann\x00@example.com"}, "loginId", "[invalid]loginId"),
        ({"applicationId": "not-a-uuid"}, "applicationId", "[invalid]applicationId"),
        ({"applicationId": str(uuid.uuid4())}, "applicationId", "[invalid]applicationId"),
        ({"loginIdTypes": ["phone"]}, "loginIdTypes", "[invalid]loginIdTypes"),
        ({"ipAddress": "not an ip"}, "ipAddress", "[invalid]ipAddress"),
    ],
)
def test_malformed_logins_are_400_and_change_nothing(api_client, world, body, field, code):
    before = db_state()
    response = _login(api_client, world, **body)
    assert response.status_code == 400
    assert response.json()["fieldErrors"][field][0]["code"] == code
    assert db_state() == before


def test_missing_body_fields(api_client, world):
    response = api_client.post("/api/login", {}, format="json", HTTP_AUTHORIZATION=world.api_key)
    assert set(response.json()["fieldErrors"]) == {"loginId", "password"}


@pytest.mark.parametrize("header", [None, "", "wrong-key"])
def test_api_key_required_by_the_application(api_client, world, header):
    before = db_state()
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = api_client.post(
        "/api/login",
        {
            "loginId": "ann@example.com",
            "password": world.password,
            "applicationId": str(world.application.pk),
        },
        format="json",
        **extra,
    )
    assert response.status_code == 401 and response.content == b""
    assert db_state() == before


def test_application_may_allow_logins_without_a_key(api_client, world):
    application_update(application=world.application, require_authentication=False)
    assert _login(api_client, world, key=False).status_code == 200


def test_tenant_locked_key_cannot_log_into_another_tenant(api_client, world):
    _, foreign = make_api_key(tenant=TenantFactory())
    response = api_client.post(
        "/api/login",
        {
            "loginId": "ann@example.com",
            "password": world.password,
            "applicationId": str(world.application.pk),
        },
        format="json",
        HTTP_AUTHORIZATION=foreign,
    )
    assert response.status_code == 400


def test_login_without_application_uses_the_tenant(api_client, world):
    response = api_client.post(
        "/api/login",
        {"loginId": "ann@example.com", "password": world.password},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code == 200
    assert "refreshToken" not in response.json()
    assert "applicationId" not in response.json()["token"]


def test_lockout_is_409_and_ignores_spoofed_addresses(api_client, world):
    for n in range(5):
        response = api_client.post(
            "/api/login",
            {
                "loginId": "ann@example.com",
                "password": "wrong",
                "applicationId": str(world.application.pk),
                "ipAddress": f"10.0.0.{n}",
            },
            format="json",
            HTTP_AUTHORIZATION=world.api_key,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
        assert response.status_code == 404
    response = _login(api_client, world, ipAddress="203.0.113.9")
    assert response.status_code == 409
    assert response.json()["generalErrors"][0]["code"] == "[LoginPreventedException]"


def test_expired_and_deactivated_users(api_client, world):
    from datetime import timedelta

    from django.utils import timezone

    user_update(user=world.user, expires_at=timezone.now() - timedelta(seconds=1))
    assert _login(api_client, world).status_code == 410
    user_update(user=world.user, expires_at=None, is_active=False)
    assert _login(api_client, world).status_code == 423


def test_no_jwt(api_client, world):
    response = _login(api_client, world, noJWT=True)
    assert response.status_code == 200
    assert set(response.json()) == {"user"} and not response.cookies


def test_login_ping(api_client, world):
    url = f"/api/login/{world.user.pk}/{world.application.pk}"
    response = api_client.put(url + "?ipAddress=10.1.1.1", HTTP_AUTHORIZATION=world.api_key)
    assert response.status_code == 200
    assert "refreshToken" not in response.json() and response.json()["token"]
    assert api_client.put(url).status_code == 401
    assert (
        api_client.put(
            f"/api/login/{uuid.uuid4()}/{world.application.pk}", HTTP_AUTHORIZATION=world.api_key
        ).status_code
        == 404
    )
    other = ApplicationFactory(tenant=world.tenant)
    assert (
        api_client.put(f"/api/login/{world.user.pk}/{other.pk}", HTTP_AUTHORIZATION=world.api_key).status_code
        == 202
    )


def test_logout_revokes_and_clears_cookies(api_client, world):
    body = _login(api_client, world).json()
    # The refresh_token cookie from the login is sent, by the page of our own origin.
    response = api_client.post("/api/logout", HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200 and response.content == b""
    assert response.cookies["refresh_token"].value == "" and response.cookies["access_token"].value == ""
    assert RefreshToken.objects.get(pk=body["refreshTokenId"]).revoke_reason == "logout"


def test_logout_parameter_wins_over_cookie(api_client, world):
    first = _login(api_client, world).json()
    second = _login(api_client, world).json()  # the client now holds the second token's cookie
    api_client.post(f"/api/logout?refreshToken={first['refreshToken']}", HTTP_SEC_FETCH_SITE="same-origin")
    assert RefreshToken.objects.get(pk=first["refreshTokenId"]).revoked_at is not None
    assert RefreshToken.objects.get(pk=second["refreshTokenId"]).revoked_at is None


def test_global_logout_revokes_every_session_of_the_user(api_client, world):
    tokens = [_login(api_client, world).json()["refreshTokenId"] for _ in range(3)]
    api_client.cookies.clear()
    last = _login(api_client, world).json()
    api_client.post("/api/logout", {"global": True, "refreshToken": last["refreshToken"]}, format="json")
    assert not RefreshToken.objects.filter(
        pk__in=[*tokens, last["refreshTokenId"]], revoked_at__isnull=True
    ).exists()


@pytest.mark.parametrize("dead", ["revoked", "expired"])
@pytest.mark.parametrize("everywhere", [True, False])
def test_a_dead_refresh_token_ends_no_session(api_client, world, dead, everywhere):
    """Issue 18 (Low): a revoked or expired token authorises nothing, not even a global logout."""
    first = _login(api_client, world).json()
    api_client.cookies.clear()
    if dead == "revoked":
        api_client.post("/api/logout", {"refreshToken": first["refreshToken"]}, format="json")
    else:
        RefreshToken.objects.filter(pk=first["refreshTokenId"]).update(expires_at=timezone.now())
    _login(api_client, world)
    api_client.cookies.clear()
    before = db_state()
    body = {"refreshToken": first["refreshToken"], "global": everywhere}
    assert api_client.post("/api/logout", body, format="json").status_code == 200
    assert db_state() == before


def test_logout_with_unknown_token_is_still_200(api_client, world):
    assert api_client.post("/api/logout?refreshToken=nonsense&global=true").status_code == 200


def test_tenant_requires_authentication_without_application(api_client, world):
    tenant_update(tenant=world.tenant, require_authentication=True)
    response = api_client.post(
        "/api/login",
        {"loginId": "ann@example.com", "password": world.password},
        format="json",
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code == 401
