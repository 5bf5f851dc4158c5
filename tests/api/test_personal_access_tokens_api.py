"""`/api/user/{userId}/access-token` and `/api/jwt/exchange` (issue 12)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from identity.models import PersonalAccessToken, RevokedToken, TokenExpiry
from identity.services import personal_access_tokens as pats
from identity.services.users import user_create
from tests.api.helpers import db_state
from tests.factories import TenantFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db
EXCHANGE_TYPE = "urn:ietf:params:oauth:token-type:jwt"


@pytest.fixture(autouse=True)
def stamps(monkeypatch):
    recorded: list = []
    monkeypatch.setattr(pats, "usage_stamper", lambda jti, now: recorded.append(jti))
    monkeypatch.setattr(pats, "_last_noted", {})
    return recorded


def state() -> dict:
    return {
        **db_state(),
        "pats": sorted(PersonalAccessToken.objects.values_list("id", "name", "revoked_at")),
        "revoked": sorted(RevokedToken.objects.values_list("jti", flat=True)),
    }


def create(client: APIClient, world, body: dict, user_id: str | None = None, key: str | None = None):
    return client.post(
        f"/api/user/{user_id or world.user.pk}/access-token",
        body,
        format="json",
        HTTP_AUTHORIZATION=key or world.api_key,
    )


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize("expiry", TokenExpiry.values)
def test_create_answers_the_record_and_the_value_once(api_client, world, expiry):
    answer = create(api_client, world, {"name": "ci", "JWTTokenExpiry": expiry})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    record = body["accessToken"]
    assert record["name"] == "ci" and record["JWTTokenExpiry"] == expiry
    assert (record["JWTTokenExpiresAt"] is None) == (expiry == "Unlimited")
    assert answer["Cache-Control"].startswith("max-age=0") or "no-store" in answer["Cache-Control"]
    validated = api_client.get("/api/jwt/validate", **bearer(body["JWTToken"]))
    assert validated.status_code == 200
    jwt = validated.json()["jwt"]
    assert validated.json()["tokenKind"] == "pat"
    assert jwt["jti"] == record["id"]
    if expiry == "Unlimited":
        assert "exp" not in jwt
    else:
        assert jwt["exp"] * 1000 == record["JWTTokenExpiresAt"]
    listed = api_client.get(f"/api/user/{world.user.pk}/access-token", HTTP_AUTHORIZATION=world.api_key)
    assert body["JWTToken"] not in listed.content.decode()
    assert [t["id"] for t in listed.json()["accessTokens"]] == [record["id"]]


def test_invalid_expiry_lists_the_allowed_values(api_client, world):
    before = state()
    answer = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "365"})
    assert answer.status_code == 400
    error = answer.json()["fieldErrors"]["JWTTokenExpiry"][0]
    assert error["code"] == "[invalid]JWTTokenExpiry"
    for value in TokenExpiry.values:
        assert value in error["message"]
    assert state() == before


HOSTILE = [
    ({"JWTTokenExpiry": "30"}, "name"),
    ({"name": "ci"}, "JWTTokenExpiry"),
    ({"name": "ci", "JWTTokenExpiry": True}, "JWTTokenExpiry"),
    ({"name": "ci", "JWTTokenExpiry": {"$gt": ""}}, "JWTTokenExpiry"),
    ({"name": ["ci"], "JWTTokenExpiry": "30"}, "name"),
    ({"name": "x" * 5000, "JWTTokenExpiry": "30"}, "name"),
    ({"name": "ci", "JWTTokenExpiry": "30", "scopes": ["admin"]}, "scopes"),
    ({"name": "ci", "JWTTokenExpiry": "30", "scopes": "user"}, "scopes"),
    ({"name": "ci", "JWTTokenExpiry": "30", "scopes": [None]}, "scopes"),
    ({"name": "ci", "JWTTokenExpiry": "30", "applicationId": "nope"}, "applicationId"),
    ({"name": "ci", "JWTTokenExpiry": "30", "applicationId": str(uuid.uuid4())}, "applicationId"),
    ({"name": "ci", "JWTTokenExpiry": "30", "allowedIps": ["300.1.1.1"]}, "allowedIps"),
    ({"name": "ci", "JWTTokenExpiry": "30", "allowedIps": ["1.1.1.1"] * 51}, "allowedIps"),
    ({"name": "taken", "JWTTokenExpiry": "30"}, "name"),
]


@pytest.mark.parametrize(("body", "field"), HOSTILE)
def test_bad_input_is_a_field_error_and_changes_nothing(api_client, world, body, field):
    assert create(api_client, world, {"name": "taken", "JWTTokenExpiry": "30"}).status_code == 200
    before = state()
    answer = create(api_client, world, body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fieldErrors"], answer.json()
    assert state() == before


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"name": "ci", "JWTTokenExpiry": "30"' + b"}" * 2, b"[" * 10_000, b'{"name": NaN}', b"\xff\xfe"],
)
def test_hostile_json_is_a_400_and_changes_nothing(api_client, world, raw):
    before = state()
    answer = api_client.generic(
        "POST",
        f"/api/user/{world.user.pk}/access-token",
        raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert answer.status_code == 400
    assert state() == before


def test_unknown_user_and_other_tenants_user_are_not_found(api_client, world):
    other = UserFactory(tenant=TenantFactory())
    _, locked_key = make_api_key(tenant=world.tenant)
    before = state()
    for user_id, key in (
        (uuid.uuid4(), world.api_key),
        ("not-a-uuid", world.api_key),
        (other.pk, locked_key),
    ):
        answer = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}, str(user_id), key)
        assert answer.status_code == 404
        assert answer.content == b""
    listed = api_client.get(f"/api/user/{other.pk}/access-token", HTTP_AUTHORIZATION=locked_key)
    assert listed.status_code == 404
    assert state() == before


def test_no_credentials_is_a_401(api_client, world):
    before = state()
    assert api_client.post(f"/api/user/{world.user.pk}/access-token", {}, format="json").status_code == 401
    assert api_client.get(f"/api/user/{world.user.pk}/access-token").status_code == 401
    assert state() == before


def test_a_user_lists_and_revokes_their_own_tokens_only(api_client, world, session):
    mine = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}).json()
    other = UserFactory(tenant=world.tenant)
    theirs = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}, str(other.pk)).json()
    own = bearer(session["token"])
    assert api_client.get(f"/api/user/{world.user.pk}/access-token", **own).status_code == 200
    assert api_client.get(f"/api/user/{other.pk}/access-token", **own).status_code == 404
    path = f"/api/user/{other.pk}/access-token/{theirs['accessToken']['id']}"
    assert api_client.delete(path, **own).status_code == 404
    # Creating needs an API key, even for oneself.
    answer = api_client.post(
        f"/api/user/{world.user.pk}/access-token", {"name": "x", "JWTTokenExpiry": "1"}, format="json", **own
    )
    assert answer.status_code == 401
    path = f"/api/user/{world.user.pk}/access-token/{mine['accessToken']['id']}"
    revoked = api_client.delete(path, **own)
    assert revoked.status_code == 200
    assert revoked.json()["accessToken"]["revokedBy"] == f"user {world.user.pk}"
    assert api_client.get("/api/jwt/validate", **bearer(mine["JWTToken"])).status_code == 401
    assert api_client.get("/api/jwt/validate", **bearer(theirs["JWTToken"])).status_code == 200


def test_a_pat_authenticates_where_a_user_token_does_but_not_at_issue(api_client, world):
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}).json()
    pat = bearer(created["JWTToken"])
    assert api_client.get(f"/api/user/{world.user.pk}/access-token", **pat).status_code == 200
    issued = api_client.get(f"/api/jwt/issue?applicationId={world.application.pk}", **pat)
    assert issued.status_code == 401


def test_get_and_delete_one(api_client, world):
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "7"}).json()
    path = f"/api/user/{world.user.pk}/access-token/{created['accessToken']['id']}"
    got = api_client.get(path, HTTP_AUTHORIZATION=world.api_key)
    assert got.status_code == 200 and got.json()["accessToken"]["revokedInstant"] is None
    assert created["JWTToken"] not in got.content.decode()
    assert api_client.delete(path, HTTP_AUTHORIZATION=world.api_key).status_code == 200
    got = api_client.get(path, HTTP_AUTHORIZATION=world.api_key).json()["accessToken"]
    assert got["revokedInstant"] is not None and got["revokedBy"].startswith("api key ")
    assert api_client.get("/api/jwt/validate", **bearer(created["JWTToken"])).status_code == 401
    missing = f"/api/user/{world.user.pk}/access-token/{uuid.uuid4()}"
    assert api_client.delete(missing, HTTP_AUTHORIZATION=world.api_key).status_code == 404


def test_validate_of_a_pat_adds_no_query(api_client, world, session):
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "Unlimited"}).json()
    for token in (created["JWTToken"], session["token"]):
        assert api_client.get("/api/jwt/validate", **bearer(token)).status_code == 200  # warm
    counts = []
    for token in (created["JWTToken"], session["token"]):
        with CaptureQueriesContext(connection) as queries:
            for _ in range(20):
                assert api_client.get("/api/jwt/validate", **bearer(token)).status_code == 200
        counts.append(len(queries))
    assert counts == [0, 0]


def test_the_ip_allowlist_applies_to_validate_and_authentication(api_client, world):
    created = create(
        api_client, world, {"name": "ci", "JWTTokenExpiry": "30", "allowedIps": ["10.0.0.0/8"]}
    ).json()
    pat = bearer(created["JWTToken"])
    assert api_client.get("/api/jwt/validate", REMOTE_ADDR="10.2.3.4", **pat).status_code == 200
    assert api_client.get("/api/jwt/validate", REMOTE_ADDR="127.0.0.1", **pat).status_code == 401
    path = f"/api/user/{world.user.pk}/access-token"
    assert api_client.get(path, REMOTE_ADDR="10.2.3.4", **pat).status_code == 200
    assert api_client.get(path, REMOTE_ADDR="127.0.0.1", **pat).status_code == 401
    # A forwarded-for header is not the client's address.
    forged = api_client.get(path, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.2.3.4", **pat)
    assert forged.status_code == 401


@pytest.mark.parametrize("as_form", [True, False])
def test_exchange(api_client, world, as_form):
    created = create(
        api_client,
        world,
        {
            "name": "ci",
            "JWTTokenExpiry": "Unlimited",
            "scopes": ["user"],
            "applicationId": str(world.application.pk),
        },
    ).json()
    body = {"subject_token": created["JWTToken"], "subject_token_type": EXCHANGE_TYPE}
    if as_form:
        answer = api_client.post(
            "/api/jwt/exchange", urlencode(body), content_type="application/x-www-form-urlencoded"
        )
    else:
        answer = api_client.post("/api/jwt/exchange", body, format="json")
    assert answer.status_code == 200, answer.content
    out = answer.json()
    assert out["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert out["token_type"] == "Bearer" and out["expires_in"] == 300 and out["scope"] == "user"
    assert "no-store" in answer["Cache-Control"]
    jwt = api_client.get("/api/jwt/validate", **bearer(out["access_token"])).json()
    assert jwt["tokenKind"] == "access" and jwt["jwt"]["pat"] == created["accessToken"]["id"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"subject_token": "a.b.c", "subject_token_type": EXCHANGE_TYPE}, 401),
        ({"subject_token": "x" * 20_000, "subject_token_type": EXCHANGE_TYPE}, 400),
        (
            {"subject_token": "PAT", "subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            400,
        ),
    ],
)
def test_exchange_refuses_bad_input(api_client, world, body, status):
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}).json()
    if body.get("subject_token") == "PAT":
        body = {**body, "subject_token": created["JWTToken"]}
    before = state()
    assert api_client.post("/api/jwt/exchange", body, format="json").status_code == status
    assert state() == before


def test_a_bot_is_created_refused_at_login_and_uses_pats(api_client, world):
    bot = user_create(tenant=world.tenant, email="ci-bot@example.com", password=None, is_bot=True)
    before = state()
    login = api_client.post(
        "/api/login",
        {"loginId": bot.email, "password": "whatever it is", "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert login.status_code == 404 and login.content == b""
    assert state() == before
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "90"}, str(bot.pk))
    assert created.status_code == 200
    assert api_client.get("/api/jwt/validate", **bearer(created.json()["JWTToken"])).status_code == 200


def test_deactivating_the_user_through_the_api_ends_their_pats(api_client, world):
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}).json()
    answer = api_client.delete(f"/api/user/{world.user.pk}", HTTP_AUTHORIZATION=world.api_key)
    assert answer.status_code == 200
    assert api_client.get("/api/jwt/validate", **bearer(created["JWTToken"])).status_code == 401


def test_bots_through_the_provisioning_api(api_client, world):
    answer = api_client.post(
        "/api/user",
        {"user": {"email": "deploy-bot@example.com", "isBot": True}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert answer.status_code == 200, answer.content
    bot = answer.json()["user"]
    assert bot["isBot"] is True
    fetched = api_client.get(f"/api/user/{bot['id']}", HTTP_AUTHORIZATION=world.api_key).json()["user"]
    assert fetched["isBot"] is True
    before = state()
    refused = api_client.post(
        "/api/user",
        {"user": {"email": "pw-bot@example.com", "isBot": True, "password": "long enough pass 12"}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert refused.status_code == 400
    assert "user.password" in refused.json()["fieldErrors"]
    not_a_flag = api_client.post(
        "/api/user",
        {"user": {"email": "x-bot@example.com", "isBot": "yes"}},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert not_a_flag.status_code == 400
    assert state() == before
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "7"}, bot["id"])
    assert created.status_code == 200


def test_the_tenant_api_sets_the_password_change_policy_for_pats(api_client, world):
    path = f"/api/tenant/{world.tenant.pk}"
    shown = api_client.get(path, HTTP_AUTHORIZATION=world.api_key).json()["tenant"]["jwtConfiguration"]
    assert shown["personalAccessTokenRevocationPolicy"] == {"onPasswordChanged": False}
    body = {
        "tenant": {"jwtConfiguration": {"personalAccessTokenRevocationPolicy": {"onPasswordChanged": True}}}
    }
    answer = api_client.patch(path, body, format="json", HTTP_AUTHORIZATION=world.api_key)
    assert answer.status_code == 200, answer.content
    world.tenant.refresh_from_db()
    assert world.tenant.revoke_access_tokens_on_password_changed
    bad = {
        "tenant": {"jwtConfiguration": {"personalAccessTokenRevocationPolicy": {"onPasswordChanged": "yes"}}}
    }
    answer = api_client.patch(path, bad, format="json", HTTP_AUTHORIZATION=world.api_key)
    assert answer.status_code == 400
    world.tenant.refresh_from_db()
    assert world.tenant.revoke_access_tokens_on_password_changed
