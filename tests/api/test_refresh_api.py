"""POST /api/jwt/refresh and retrieving/revoking refresh tokens over HTTP (checklist 14-24)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from identity.key_store import key_store_invalidate
from identity.models import RefreshToken, SigningKey
from identity.services.refresh_tokens import refresh_token_create
from identity.services.tenants import tenant_update
from identity.signing import unverified_header
from tests.api.helpers import db_state
from tests.factories import ApplicationFactory, RegistrationFactory, TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def _refresh(api_client, **body):
    return api_client.post("/api/jwt/refresh", body, format="json")


def test_refresh_returns_token_and_cookies(api_client, world, session):
    response = _refresh(api_client, refreshToken=session["refreshToken"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "refreshToken", "refreshTokenId"}
    assert (
        body["refreshTokenId"] == session["refreshTokenId"]
        and body["refreshToken"] == session["refreshToken"]
    )
    assert response.cookies["access_token"].value == body["token"]
    assert response.cookies["refresh_token"]["path"] == "/api/"
    assert unverified_header(body["token"])["tkn"] == "access"


def test_cookie_wins_over_body(api_client, world, session):
    other = refresh_token_create(user=world.user, application=world.application)
    api_client.cookies["refresh_token"] = other.value
    body = _refresh(api_client, refreshToken=session["refreshToken"]).json()
    assert body["refreshTokenId"] == str(other.token.pk)


def test_stale_access_token_does_not_block_a_refresh(api_client, world, session):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    api_client.cookies["access_token"] = "garbage"
    assert _refresh(api_client, refreshToken=session["refreshToken"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"refreshToken": ""},
        {"refreshToken": 12345},
        {"refreshToken": {"a": 1}},
        {"refreshToken": ["x"]},
        {"refreshToken": "x" * 100_000},
        {"refreshToken": "' OR 1=1--"},
        {"refreshToken": "a\x00b"},
        {"refreshToken": "\u202e\u0000"},
    ],
)
def test_bad_refresh_requests_are_400_and_change_nothing(api_client, world, session, body):
    before = db_state()
    response = _refresh(api_client, **body)
    assert response.status_code == 400
    assert response.json()["fieldErrors"]
    assert db_state() == before


def test_non_json_body(api_client, world, session):
    before = db_state()
    response = api_client.post("/api/jwt/refresh", "refreshToken=x", content_type="text/plain")
    assert response.status_code in (400, 415) and response.json()["generalErrors"]
    response = api_client.post("/api/jwt/refresh", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["generalErrors"][0]["code"] == "[invalid]"
    assert db_state() == before


def test_every_unusable_cause_gets_the_same_answer(api_client, world, session):
    answers = set()
    for value in ("random-unknown-value", session["refreshToken"] + "x"):
        answers.add(_refresh(api_client, refreshToken=value).content)
    api_client.delete(f"/api/jwt/refresh/{session['refreshTokenId']}", HTTP_AUTHORIZATION=world.api_key)
    answers.add(_refresh(api_client, refreshToken=session["refreshToken"]).content)
    assert len(answers) == 1


@pytest.mark.parametrize("ttl", [0, -5, "ten", 10**12, 3601, 1.5])
def test_bad_ttl(api_client, world, session, ttl):
    before = db_state()
    response = _refresh(api_client, refreshToken=session["refreshToken"], timeToLiveInSeconds=ttl)
    assert response.status_code == 400
    assert db_state() == before


def test_shorter_ttl_is_honoured(api_client, world, session):
    token = _refresh(api_client, refreshToken=session["refreshToken"], timeToLiveInSeconds=60).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_forged_token_field_changes_nothing_in_the_new_token(api_client, world, session):
    forged = jwt.encode({"sub": str(uuid.uuid4()), "roles": ["admin"]}, "x" * 32, algorithm="HS256")
    token = _refresh(api_client, refreshToken=session["refreshToken"], token=forged).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == str(world.user.pk) and claims["roles"] == ["user"]


def test_one_time_use_over_http(api_client, world):
    tenant_update(tenant=world.tenant, refresh_token_usage_policy="OneTimeUse")
    world.application.refresh_from_db()
    issued = refresh_token_create(user=world.user, application=world.application)
    first = _refresh(api_client, refreshToken=issued.value).json()
    assert first["refreshToken"] != issued.value and first["refreshTokenId"] == str(issued.token.pk)
    api_client.cookies.clear()
    assert _refresh(api_client, refreshToken=issued.value).status_code == 400
    assert _refresh(api_client, refreshToken=first["refreshToken"]).status_code == 400  # family revoked


def test_retrieve_and_list(api_client, world, session):
    key = {"HTTP_AUTHORIZATION": world.api_key}
    one = api_client.get(f"/api/jwt/refresh/{session['refreshTokenId']}", **key).json()["refreshToken"]
    assert one["id"] == session["refreshTokenId"] and "token" not in one
    assert one["userId"] == str(world.user.pk) and one["applicationId"] == str(world.application.pk)
    second = refresh_token_create(user=world.user, application=world.application).token
    listed = api_client.get(f"/api/jwt/refresh?userId={world.user.pk}", **key).json()["refreshTokens"]
    assert [t["id"] for t in listed] == [str(second.pk), session["refreshTokenId"]]  # newest first
    assert api_client.get(f"/api/jwt/refresh/{uuid.uuid4()}", **key).status_code == 404
    assert api_client.get(f"/api/jwt/refresh/{session['refreshTokenId']}").status_code == 401


def test_tenant_locked_key_sees_only_its_tenant(api_client, world, session):
    _, foreign = make_api_key(tenant=TenantFactory())
    response = api_client.get(f"/api/jwt/refresh/{session['refreshTokenId']}", HTTP_AUTHORIZATION=foreign)
    assert response.status_code == 404 and response.content == b""
    assert (
        api_client.get(f"/api/jwt/refresh?userId={world.user.pk}", HTTP_AUTHORIZATION=foreign).status_code
        == 404
    )
    before = db_state()
    assert (
        api_client.delete(
            f"/api/jwt/refresh/{session['refreshTokenId']}", HTTP_AUTHORIZATION=foreign
        ).status_code
        == 404
    )
    assert db_state() == before


@pytest.mark.parametrize(
    "how",
    [
        "by id",
        "query token",
        "form token",
        "json token",
        "user",
        "application",
        "user and application",
        "json ids",
    ],
)
def test_every_revoke_form_makes_the_token_unusable(api_client, world, session, how):
    key = {"HTTP_AUTHORIZATION": world.api_key}
    rt, rt_id, user, app = (
        session["refreshToken"],
        session["refreshTokenId"],
        world.user.pk,
        world.application.pk,
    )
    if how == "by id":
        response = api_client.delete(f"/api/jwt/refresh/{rt_id}", **key)
    elif how == "query token":
        response = api_client.delete(f"/api/jwt/refresh?token={rt}", **key)
    elif how == "form token":
        response = api_client.delete(
            "/api/jwt/refresh", f"token={rt}", content_type="application/x-www-form-urlencoded", **key
        )
    elif how == "json token":
        response = api_client.delete("/api/jwt/refresh", {"token": rt}, format="json", **key)
    elif how == "user":
        response = api_client.delete(f"/api/jwt/refresh?userId={user}", **key)
    elif how == "application":
        response = api_client.delete(f"/api/jwt/refresh?applicationId={app}", **key)
    elif how == "user and application":
        response = api_client.delete(f"/api/jwt/refresh?userId={user}&applicationId={app}", **key)
    else:
        response = api_client.delete(
            "/api/jwt/refresh", {"userId": str(user), "applicationId": str(app)}, format="json", **key
        )
    assert response.status_code == 200 and response.content == b""
    assert _refresh(api_client, refreshToken=rt).status_code == 400


def test_owner_may_revoke_with_their_access_token(api_client, world, session):
    other = RegistrationFactory(user=UserFactory(tenant=world.tenant), application=world.application)
    theirs = refresh_token_create(user=other.user, application=world.application).token
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {session['token']}"}
    assert api_client.delete(f"/api/jwt/refresh/{theirs.pk}", **bearer).status_code == 404
    assert RefreshToken.objects.get(pk=theirs.pk).revoked_at is None
    assert api_client.delete(f"/api/jwt/refresh?userId={other.user.pk}", **bearer).status_code == 401
    assert api_client.delete(f"/api/jwt/refresh/{session['refreshTokenId']}", **bearer).status_code == 200
    assert RefreshToken.objects.get(pk=session["refreshTokenId"]).revoked_at is not None


def test_owner_token_in_cookie(api_client, world, session):
    api_client.cookies["access_token"] = session["token"]
    path = f"/api/jwt/refresh/{session['refreshTokenId']}"
    assert api_client.delete(path).status_code == 401  # as another site's request could send it
    assert api_client.delete(path, HTTP_ORIGIN="http://testserver").status_code == 200


@pytest.mark.parametrize("bearer", ["Bearer garbage", "Bearer a.b.c", "Bearer " + "x" * 20_000])
def test_bad_access_tokens_cannot_revoke(api_client, world, session, bearer):
    before = db_state()
    response = api_client.delete(f"/api/jwt/refresh/{session['refreshTokenId']}", HTTP_AUTHORIZATION=bearer)
    assert response.status_code == 401 and response.content == b""
    assert db_state() == before


def test_revoke_needs_a_target(api_client, world):
    response = api_client.delete("/api/jwt/refresh", HTTP_AUTHORIZATION=world.api_key)
    assert response.status_code == 400


def test_applications_of_other_tenants_are_not_found(api_client, world):
    foreign_app = ApplicationFactory(tenant=TenantFactory())
    _, locked = make_api_key(tenant=world.tenant)
    response = api_client.delete(
        f"/api/jwt/refresh?applicationId={foreign_app.pk}", HTTP_AUTHORIZATION=locked
    )
    assert response.status_code == 404


def test_token_of_another_tenant_than_the_one_named_is_refused(api_client, world, session):
    other = TenantFactory()
    before = db_state()
    response = api_client.post(
        "/api/jwt/refresh",
        {"refreshToken": session["refreshToken"]},
        format="json",
        HTTP_X_FUSIONAUTH_TENANTID=str(other.pk),
    )
    assert response.status_code == 400 and "refreshToken" in response.json()["fieldErrors"]
    assert db_state() == before
    response = api_client.post(
        "/api/jwt/refresh",
        {"refreshToken": session["refreshToken"]},
        format="json",
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code == 200


def test_a_dumped_digest_cannot_be_replayed(api_client, world, session):
    digest = RefreshToken.objects.get(pk=session["refreshTokenId"]).token_digest
    assert _refresh(api_client, refreshToken=digest).status_code == 400


def test_a_one_time_refresh_that_cannot_be_signed_leaves_the_token_unconsumed(api_client, world, session):
    """Sign before consume: a failed answer must not turn the client's retry into reuse detection."""
    tenant_update(tenant=world.tenant, refresh_token_usage_policy="OneTimeUse")
    signer = SigningKey.objects.filter(pk=world.tenant.access_token_signing_key_id)
    signer.update(expires_at=timezone.now() - timedelta(seconds=1), updated_at=timezone.now())
    key_store_invalidate()
    before = db_state()
    failed = _refresh(api_client, refreshToken=session["refreshToken"])
    assert failed.status_code == 500
    assert db_state() == before
    signer.update(expires_at=None, updated_at=timezone.now())
    key_store_invalidate()
    retried = _refresh(api_client, refreshToken=session["refreshToken"])
    assert retried.status_code == 200, retried.content
    token = RefreshToken.objects.get(pk=session["refreshTokenId"])
    assert token.revoked_at is None and token.generation == 1
    assert _refresh(api_client, refreshToken=retried.json()["refreshToken"]).status_code == 200
