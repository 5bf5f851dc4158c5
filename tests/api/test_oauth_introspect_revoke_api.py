"""`/oauth2/introspect` (RFC 7662) and `/oauth2/revoke` (RFC 7009) over HTTP."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from identity.caller import Caller
from identity.models import RefreshToken, RevokedToken
from identity.services.oauth import oauth_token_introspect
from identity.services.oauth_clients import ClientCredentials, oauth_client_configure
from identity.services.refresh_tokens import refresh_token_create
from tests.api.test_oauth_api import assert_no_store, basic, form_post, full_state
from tests.factories import ApplicationFactory, TenantFactory


@pytest.fixture
def oauth_client(world) -> tuple[Any, str]:
    configured = oauth_client_configure(application=world.application, scopes=["read"])
    assert configured.client_secret is not None
    return world.application, configured.client_secret


def client_token(api_client, application, secret: str) -> str:  # type: ignore[no-untyped-def]
    response = form_post(
        api_client,
        "/oauth2/token",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic(str(application.pk), secret),
    )
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


def introspect(api_client, token: str, **headers: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = form_post(api_client, "/oauth2/introspect", {"token": token}, **headers)
    assert response.status_code == 200, response.content
    assert_no_store(response)
    return dict(response.json())


def test_introspect_client_and_user_and_refresh_tokens(api_client, oauth_client, session, world) -> None:
    application, secret = oauth_client
    auth = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)}
    token = client_token(api_client, application, secret)
    active = introspect(api_client, token, **auth)
    assert active["active"] is True and active["client_id"] == str(application.pk)
    assert active["scope"] == "read" and active["token_type"] == "Bearer"
    user = introspect(api_client, session["token"], **auth)
    assert user["active"] is True and user["sub"] == str(world.user.pk)
    refresh = introspect(api_client, session["refreshToken"], **auth)
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    with_key = introspect(api_client, token, HTTP_AUTHORIZATION=world.api_key)
    assert with_key["active"] is True


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 16_000, "eyJhbGciOiJub25lIn0.e30."])
def test_introspect_malformed_is_inactive_only(api_client, oauth_client, token) -> None:
    application, secret = oauth_client
    before = full_state()
    answer = introspect(api_client, token, HTTP_AUTHORIZATION=basic(str(application.pk), secret))
    assert answer == {"active": False}
    assert full_state() == before


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/revoke"])
@pytest.mark.parametrize("body", ["", "token=", "token_type_hint=access_token"])
def test_a_request_without_a_token_is_invalid_request(api_client, oauth_client, path, body) -> None:
    """RFC 7662 §2.1 and RFC 7009 §2.1 require `token`; its absence is not an inactive token."""
    application, secret = oauth_client
    before = full_state()
    response = api_client.generic(
        "POST",
        path,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(str(application.pk), secret),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert_no_store(response)
    assert full_state() == before


def test_a_refresh_token_is_active_only_to_its_own_client(api_client, oauth_client, session, world) -> None:
    """Nobody but the client it was issued to holds a refresh token (RFC 6749 §1.5), so another
    client of the tenant learns nothing of it; an API key of the tenant still does."""
    other = ApplicationFactory(tenant=world.application.tenant, name="Reports")
    other_secret = oauth_client_configure(application=other).client_secret
    assert other_secret is not None
    refresh = session["refreshToken"]
    assert introspect(api_client, refresh, HTTP_AUTHORIZATION=basic(str(other.pk), other_secret)) == {
        "active": False
    }
    assert introspect(api_client, refresh, HTTP_AUTHORIZATION=world.api_key)["active"] is True
    access = introspect(api_client, session["token"], HTTP_AUTHORIZATION=basic(str(other.pk), other_secret))
    assert access["active"] is True  # an access token is what resource servers present


def test_foreign_tenant_token_is_inactive(api_client, oauth_client) -> None:
    application, secret = oauth_client
    other_tenant = TenantFactory()
    foreign = ApplicationFactory(tenant=other_tenant, name="Foreign")
    foreign_secret = oauth_client_configure(application=foreign).client_secret
    foreign_token = client_token(api_client, foreign, foreign_secret)
    answer = introspect(api_client, foreign_token, HTTP_AUTHORIZATION=basic(str(application.pk), secret))
    assert answer == {"active": False}


def test_expired_token_is_inactive(api_client, oauth_client) -> None:
    application, secret = oauth_client
    from identity.services.oauth import oauth_token_grant

    past = timezone.now() - timedelta(days=2)
    old = oauth_token_grant(
        credentials=ClientCredentials(client_id=str(application.pk), client_secret=secret),
        params={"grant_type": "client_credentials"},
        audiences=[],
        now=past,
    ).access_token
    assert introspect(api_client, old, HTTP_AUTHORIZATION=basic(str(application.pk), secret)) == {
        "active": False
    }


def test_introspection_needs_a_client_or_an_api_key(api_client, oauth_client) -> None:
    application, secret = oauth_client
    token = client_token(api_client, application, secret)
    response = form_post(api_client, "/oauth2/introspect", {"token": token})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    wrong = form_post(
        api_client, "/oauth2/introspect", {"token": token}, HTTP_AUTHORIZATION=basic(str(application.pk), "x")
    )
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Basic")
    for header in ("Bearer " + token, "notakey"):
        refused = form_post(api_client, "/oauth2/introspect", {"token": token}, HTTP_AUTHORIZATION=header)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert refused["WWW-Authenticate"].startswith("Basic realm=")  # RFC 6749 §5.2


def test_access_token_introspection_costs_no_sql(
    api_client, oauth_client, world, django_assert_num_queries
) -> None:
    application, secret = oauth_client
    token = client_token(api_client, application, secret)
    from identity.models import APIKey

    caller = Caller.build(api_key=APIKey.objects.first())
    now = timezone.now()
    oauth_token_introspect(token=token, caller=caller, credentials=ClientCredentials(), audiences=[], now=now)
    with django_assert_num_queries(0):
        answer = oauth_token_introspect(
            token=token, caller=caller, credentials=ClientCredentials(), audiences=[], now=now
        )
    assert answer["active"] is True


def test_revoke_access_token(api_client, oauth_client) -> None:
    application, secret = oauth_client
    auth = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)}
    token = client_token(api_client, application, secret)
    response = form_post(
        api_client, "/oauth2/revoke", {"token": token, "token_type_hint": "access_token"}, **auth
    )
    assert response.status_code == 200, response.content
    assert_no_store(response)
    assert RevokedToken.objects.count() == 1
    assert introspect(api_client, token, **auth) == {"active": False}
    assert api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_revoke_refresh_token_revokes_its_family(api_client, oauth_client, world, session) -> None:
    application, secret = oauth_client
    sibling = refresh_token_create(
        user=world.user,
        application=application,
        family_id=RefreshToken.objects.get(pk=session["refreshTokenId"]).family_id,
    )
    response = form_post(
        api_client,
        "/oauth2/revoke",
        {"token": session["refreshToken"]},
        HTTP_AUTHORIZATION=basic(str(application.pk), secret),
    )
    assert response.status_code == 200
    assert RefreshToken.objects.get(pk=session["refreshTokenId"]).revoked_at is not None
    assert RefreshToken.objects.get(pk=sibling.token.pk).revoked_at is not None
    auth = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)}
    for value in (session["refreshToken"], sibling.value):
        assert introspect(api_client, value, **auth) == {"active": False}


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 16_000])
def test_revoke_unknown_is_200_and_changes_nothing(api_client, oauth_client, token) -> None:
    application, secret = oauth_client
    before = full_state()
    response = form_post(
        api_client, "/oauth2/revoke", {"token": token}, HTTP_AUTHORIZATION=basic(str(application.pk), secret)
    )
    assert response.status_code == 200
    assert full_state() == before and RevokedToken.objects.count() == 0


def test_revoke_of_another_clients_token_changes_nothing(api_client, oauth_client, session) -> None:
    application, secret = oauth_client
    other = ApplicationFactory(tenant=application.tenant, name="Other")
    other_secret = oauth_client_configure(application=other).client_secret
    theirs = client_token(api_client, application, secret)
    before = full_state()
    for token in (theirs, session["token"], session["refreshToken"]):
        response = form_post(
            api_client,
            "/oauth2/revoke",
            {"token": token},
            HTTP_AUTHORIZATION=basic(str(other.pk), other_secret),
        )
        assert response.status_code == 200
    assert full_state() == before and RevokedToken.objects.count() == 0


HOSTILE = [
    ("json", "application/json", '{"token": "x"}', 400, "invalid_request"),
    ("duplicate", None, "token=a&token=b", 400, "invalid_request"),
    ("nul", None, "token=a%00b", 400, "invalid_request"),
    ("oversized", None, "token=" + "x" * 20_000, 400, "invalid_request"),
    ("no client", "nobasic", "token=a", 401, "invalid_client"),
    ("bad basic", "badbasic", "token=a", 401, "invalid_client"),
]


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/revoke"])
@pytest.mark.parametrize(("case", "kind", "body", "status", "error"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input(api_client, oauth_client, path, case, kind, body, status, error) -> None:
    application, secret = oauth_client
    headers = {"HTTP_AUTHORIZATION": basic(str(application.pk), secret)}
    content_type = "application/x-www-form-urlencoded"
    if kind == "application/json":
        content_type = kind
    elif kind == "nobasic":
        headers = {}
    elif kind == "badbasic":
        headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}
    before = full_state()
    response = api_client.generic("POST", path, body, content_type=content_type, **headers)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert_no_store(response)
    assert full_state() == before


def test_revoke_requires_token(api_client, oauth_client) -> None:
    application, secret = oauth_client
    response = api_client.generic(
        "POST",
        "/oauth2/revoke",
        urlencode({"token_type_hint": "access_token"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(str(application.pk), secret),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
