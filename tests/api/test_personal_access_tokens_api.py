"""`/api/user/{userId}/access-token` and `/api/jwt/exchange` (issue 12)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from identity import key_store
from identity.models import PersonalAccessToken, RevokedToken, TokenExpiry, User
from identity.services import personal_access_tokens as pats
from identity.services.oauth_clients import oauth_client_configure
from identity.services.registrations import registration_create
from identity.services.users import user_create
from tests.api.helpers import db_state
from tests.api.test_oauth_api import basic, form_post
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
    ({"name": "ci", "JWTTokenExpiry": 30}, "JWTTokenExpiry"),  # a number, not seed 000's string
    ({"name": 5, "JWTTokenExpiry": "30"}, "name"),
    ({"name": "ci", "JWTTokenExpiry": "30", "scopes": [5]}, "scopes"),
    ({"name": "ci", "JWTTokenExpiry": "30", "allowedIps": [10]}, "allowedIps"),
    ({"name": "c\x00i", "JWTTokenExpiry": "30"}, "name"),
]


@pytest.mark.parametrize(("body", "field"), HOSTILE)
def test_bad_input_is_a_field_error_and_changes_nothing(api_client, world, body, field):
    assert create(api_client, world, {"name": "taken", "JWTTokenExpiry": "30"}).status_code == 200
    before = state()
    answer = create(api_client, world, body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fieldErrors"], answer.json()
    assert state() == before


HOSTILE_JSON = [
    b"{",
    b'{"name": "ci", "JWTTokenExpiry": "30"' + b"}" * 2,
    b"[" * 10_000,
    b'{"name": NaN}',
    b"\xff\xfe",
    b"[]",
    b'"ci"',
    b'{"name": "ci", "JWTTokenExpiry": "30", "scopes": {"user": true}}',
    b'{"name": "ci", "JWTTokenExpiry": "30", "allowedIps": "0.0.0.0/0"}',
    rb'{"name": "ci\u0000", "JWTTokenExpiry": "30"}',
    rb'{"name": "\ud800", "JWTTokenExpiry": "30"}',
    b'{"name": "ci", "JWTTokenExpiry": "30", "applicationId": 1e999}',
]


@pytest.mark.parametrize("raw", HOSTILE_JSON, ids=[f"body{i}" for i in range(len(HOSTILE_JSON))])
@pytest.mark.parametrize("door", ["create", "exchange"])
def test_hostile_json_is_a_400_and_changes_nothing(api_client, world, raw, door):
    path = f"/api/user/{world.user.pk}/access-token" if door == "create" else "/api/jwt/exchange"
    before = state()
    answer = api_client.generic(
        "POST", path, raw, content_type="application/json", HTTP_AUTHORIZATION=world.api_key
    )
    assert answer.status_code == 400, answer.content
    assert state() == before


NOT_FOUND = [
    # (case, which user, which key, method, below the user's path)
    ("unknown-user-create", "unknown", "world", "POST", ""),
    ("unknown-user-list", "unknown", "world", "GET", ""),
    ("unknown-user-revoke", "unknown", "world", "DELETE", "/theirs"),
    ("not-a-uuid-create", "not-a-uuid", "world", "POST", ""),
    ("not-a-uuid-list", "not-a-uuid", "world", "GET", ""),
    ("other-tenant-create", "other", "locked", "POST", ""),
    ("other-tenant-list", "other", "locked", "GET", ""),
    ("other-tenant-get", "other", "locked", "GET", "/theirs"),
    ("other-tenant-revoke", "other", "locked", "DELETE", "/theirs"),
    ("unknown-token-get", "mine", "world", "GET", "/unknown"),
    ("unknown-token-revoke", "mine", "world", "DELETE", "/unknown"),
    ("others-token-under-my-path", "mine", "world", "DELETE", "/theirs"),
]


@pytest.mark.parametrize(
    ("user", "key", "method", "below"), [case[1:] for case in NOT_FOUND], ids=[case[0] for case in NOT_FOUND]
)
def test_unknown_user_other_tenants_user_and_unknown_tokens_are_not_found(
    api_client, world, user, key, method, below
):
    other = UserFactory(tenant=TenantFactory())
    theirs = pats.pat_create(user=other, name="theirs", expiry="30").token
    _, locked_key = make_api_key(tenant=world.tenant)
    user_id = {"unknown": str(uuid.UUID(int=7)), "not-a-uuid": "not-a-uuid", "other": str(other.pk)}.get(
        user, str(world.user.pk)
    )
    below = {"/theirs": f"/{theirs.pk}", "/unknown": f"/{uuid.UUID(int=8)}"}.get(below, below)
    before = state()
    answer = api_client.generic(
        method,
        f"/api/user/{user_id}/access-token{below}",
        '{"name": "ci", "JWTTokenExpiry": "30"}' if method == "POST" else "",
        content_type="application/json",
        HTTP_AUTHORIZATION=world.api_key if key == "world" else locked_key,
    )
    assert answer.status_code == 404, answer.content
    assert answer.content == b""
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


def login(api_client, world) -> dict:
    body = api_client.post(
        "/api/login",
        {"loginId": world.user.email, "password": world.password, "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    ).json()
    api_client.cookies.clear()
    return body


# Every door a user's own access token opens (identity.authentication.AccessTokenAuthentication and
# validate), with what the user token gets and what a PAT of the same user gets.
USER_TOKEN_DOORS = [
    ("validate", "GET", "/api/jwt/validate", 200, 200),
    ("list-own-pats", "GET", "/api/user/{user}/access-token", 200, 200),
    ("get-own-pat", "GET", "/api/user/{user}/access-token/{pat}", 200, 200),
    ("revoke-own-pat", "DELETE", "/api/user/{user}/access-token/{spare}", 200, 200),
    ("revoke-own-session-by-id", "DELETE", "/api/jwt/refresh/{refreshTokenId}", 200, 200),
    ("revoke-own-session-by-value", "DELETE", "/api/jwt/refresh?token={refreshToken}", 200, 200),
    # A PAT is not a login: it is not turned into a login's tokens.
    ("issue", "GET", "/api/jwt/issue?applicationId={application}", 200, 401),
]


@pytest.mark.parametrize(
    ("method", "path", "as_user", "as_pat"),
    [case[1:] for case in USER_TOKEN_DOORS],
    ids=[case[0] for case in USER_TOKEN_DOORS],
)
@pytest.mark.parametrize("transport", ["header", "cookie"])
def test_a_pat_authenticates_where_a_user_token_does_but_not_at_issue(
    api_client, world, method, path, as_user, as_pat, transport
):
    pat = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "30"}).json()
    statuses = []
    for credential in ("user", "pat"):
        session = login(api_client, world)
        spare = create(api_client, world, {"name": f"spare {credential}", "JWTTokenExpiry": "1"}).json()
        token = session["token"] if credential == "user" else pat["JWTToken"]
        where = path.format(
            user=world.user.pk,
            pat=pat["accessToken"]["id"],
            spare=spare["accessToken"]["id"],
            application=world.application.pk,
            refreshTokenId=session["refreshTokenId"],
            refreshToken=session["refreshToken"],
        )
        if transport == "cookie":
            api_client.cookies["access_token"] = token
            answer = api_client.generic(method, where, HTTP_SEC_FETCH_SITE="same-origin")
            api_client.cookies.clear()
        else:
            answer = api_client.generic(method, where, **bearer(token))
        statuses.append(answer.status_code)
    assert statuses == [as_user, as_pat]


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


def test_validate_of_a_pat_adds_no_query(api_client, world, session, monkeypatch):
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "Unlimited"}).json()
    for token in (created["JWTToken"], session["token"]):
        assert api_client.get("/api/jwt/validate", **bearer(token)).status_code == 200  # warm
    # The shared versions are read once a second per process, not per request: on a busy machine
    # 20 requests may straddle that second, so it is kept out of the window counted.
    monkeypatch.setattr(key_store, "CHECK_INTERVAL_SECONDS", 3600.0)
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


BOT_PASSWORD_DOORS = [
    ("login", "POST", "/api/login", {"loginId": "ci-bot@example.com", "password": "whatever it is"}, 404),
    ("login-empty-password", "POST", "/api/login", {"loginId": "ci-bot@example.com", "password": ""}, 400),
    (
        "change-password",
        "POST",
        "/api/user/change-password",
        {"loginId": "ci-bot@example.com", "currentPassword": "whatever it is", "password": "a new one 12345"},
        404,
    ),
    ("set-password", "PATCH", "/api/user/{bot}", {"user": {"password": "a new one 12345"}}, 400),
    ("set-password-put", "PUT", "/api/user/{bot}", {"user": {"password": "a new one 12345"}}, 400),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [case[1:] for case in BOT_PASSWORD_DOORS],
    ids=[case[0] for case in BOT_PASSWORD_DOORS],
)
def test_a_bot_has_no_password_door_and_nothing_changes(api_client, world, method, path, body, status):
    bot = user_create(tenant=world.tenant, email="ci-bot@example.com", password=None, is_bot=True)
    registration_create(user=bot, application=world.application)
    body = {**body, "applicationId": str(world.application.pk)} if "loginId" in body else body
    before = {**state(), "passwords": sorted(User.objects.values_list("id", "password"))}
    answer = api_client.generic(
        method,
        path.format(bot=bot.pk),
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert answer.status_code == status, answer.content
    if status == 404:
        assert answer.content == b""
    assert {**state(), "passwords": sorted(User.objects.values_list("id", "password"))} == before
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


def introspected(api_client, token: str, auth: dict) -> dict:
    answer = form_post(api_client, "/oauth2/introspect", {"token": token}, **auth)
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_introspection_answers_a_live_pat_and_refuses_a_revoked_one(api_client, world):
    secret = oauth_client_configure(application=world.application).client_secret
    assert secret is not None
    auth = {"HTTP_AUTHORIZATION": basic(str(world.application.pk), secret)}
    body = {"name": "ci", "JWTTokenExpiry": "Unlimited", "applicationId": str(world.application.pk)}
    created = create(api_client, world, body).json()
    fenced = create(api_client, world, {**body, "name": "lan", "allowedIps": ["10.0.0.0/8"]}).json()
    answer = introspected(api_client, created["JWTToken"], auth)
    assert answer["active"] is True and answer["jti"] == created["accessToken"]["id"]
    assert answer["client_id"] == str(world.application.pk) and "exp" not in answer
    # The introspecting server is not the token's user: an allowlisted PAT is not vouched for.
    assert introspected(api_client, fenced["JWTToken"], auth) == {"active": False}
    path = f"/api/user/{world.user.pk}/access-token/{created['accessToken']['id']}"
    assert api_client.delete(path, HTTP_AUTHORIZATION=world.api_key).status_code == 200
    assert introspected(api_client, created["JWTToken"], auth) == {"active": False}
    assert introspected(api_client, created["JWTToken"], {"HTTP_AUTHORIZATION": world.api_key}) == {
        "active": False
    }


@pytest.mark.parametrize("expiry", ["Unlimited", "30"])
def test_oauth_revoke_of_a_pat_of_the_clients_application_revokes_its_record(api_client, world, expiry):
    """RFC 7009 at /oauth2/revoke: the PAT is revoked as a record (listed revoked, by the client),
    an Unlimited one (no `exp`) included."""
    secret = oauth_client_configure(application=world.application).client_secret
    assert secret is not None
    body = {"name": "ci", "JWTTokenExpiry": expiry, "applicationId": str(world.application.pk)}
    created = create(api_client, world, body).json()
    answer = form_post(
        api_client,
        "/oauth2/revoke",
        {"token": created["JWTToken"]},
        HTTP_AUTHORIZATION=basic(str(world.application.pk), secret),
    )
    assert answer.status_code == 200, answer.content
    path = f"/api/user/{world.user.pk}/access-token/{created['accessToken']['id']}"
    record = api_client.get(path, HTTP_AUTHORIZATION=world.api_key).json()["accessToken"]
    assert record["revokedInstant"] is not None
    assert record["revokedBy"] == f"oauth client {world.application.pk}"
    assert api_client.get("/api/jwt/validate", **bearer(created["JWTToken"])).status_code == 401


def test_oauth_revoke_leaves_a_pat_not_bound_to_the_client_alone(api_client, world):
    secret = oauth_client_configure(application=world.application).client_secret
    assert secret is not None
    created = create(api_client, world, {"name": "ci", "JWTTokenExpiry": "Unlimited"}).json()
    before = state()
    answer = form_post(
        api_client,
        "/oauth2/revoke",
        {"token": created["JWTToken"]},
        HTTP_AUTHORIZATION=basic(str(world.application.pk), secret),
    )
    assert answer.status_code == 200
    assert state() == before
    assert api_client.get("/api/jwt/validate", **bearer(created["JWTToken"])).status_code == 200
