"""identity.middleware inside the identity service (key store source): the demo endpoint
GET /demo/api/hello, refresh, the error template, no SQL per request, and no path bypass through
the real resolver. The standalone (JWKS / HMAC) resource server: tests/resource_server/."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from identity.middleware_drf import TokenAuthorizationAuthentication, TokenUser
from identity.services.access_tokens import AuthenticationType, access_token_issue, access_token_verify
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _token(
    world: World, *, age: timedelta = timedelta(0), ttl: timedelta = timedelta(minutes=10), **issue: Any
) -> str:
    """An access token of the world's user issued `age` ago; `issue` adds access_token_issue's
    keywords (a session id, extra claims, another authentication type)."""
    now = datetime.now(UTC) - age
    issue.setdefault("authentication_type", AuthenticationType.PASSWORD)
    return access_token_issue(
        user=world.user,
        tenant=world.tenant,
        application=world.application,
        roles=["user"],
        now=now,
        expires_at=now + ttl,
        **issue,
    ).value


def _hello(client: Client, token: str | None = None, path: str = "/demo/api/hello", **headers: str) -> Any:
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    return client.get(path, headers=headers)


def _message(response: Any) -> str:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    return str(json.loads(response.content)["errorMessage"])


def test_a_valid_token_reaches_the_view(client: Client, world: World) -> None:
    response = _hello(client, _token(world))
    assert response.status_code == 200
    assert response.json()["message"] == f"Hello, {world.user.email}!"
    assert "Authorization" not in response  # fresh: not refreshed


def test_no_token_gets_the_template(client: Client, world: World) -> None:
    assert _message(_hello(client)) == "No token was sent."
    assert _hello(client)["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic abc", "must be 'Bearer <token>'"),
        ("Bearer", "must be 'Bearer <token>'"),
        ("Bearer not-a-jwt", "not a well-formed"),
        ("Bearer a.b", "not a well-formed"),
        ("Bearer " + "a" * 20000, "not a well-formed"),
    ],
)
def test_bad_headers(client: Client, world: World, header: str, message: str) -> None:
    assert message in _message(_hello(client, Authorization=header))


def test_a_tampered_token_is_refused_with_a_useful_message(client: Client, world: World) -> None:
    token = _token(world)
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    assert "not signed by a trusted key" in _message(_hello(client, forged))


def test_an_expired_token_says_so(client: Client, world: World) -> None:
    token = _token(world, age=timedelta(hours=1), ttl=timedelta(minutes=5))
    assert _message(_hello(client, token)) == "The token has expired."


def test_an_old_token_comes_back_refreshed(client: Client, world: World) -> None:
    old = _token(world, age=timedelta(seconds=30))
    response = _hello(client, old)
    assert response.status_code == 200
    scheme, fresh = response["Authorization"].split(" ")
    assert scheme == "Bearer" and fresh != old
    now = datetime.now(UTC)
    claims = access_token_verify(token=fresh, now=now).claims  # what /api/jwt/validate accepts
    before = access_token_verify(token=old, now=now).claims
    assert (
        claims["sub"] == before["sub"] and claims["aud"] == before["aud"] and claims["jti"] != before["jti"]
    )
    assert abs(claims["iat"] - now.timestamp()) < 5 and claims["exp"] - claims["iat"] == 900
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("ended", ["deactivated", "deleted", "locked"])
def test_a_token_whose_user_may_no_longer_log_in_is_not_renewed(
    client: Client, world: World, ended: str
) -> None:
    """The token still verifies until its `exp` (no SQL per request), but a renewal extends access:
    the deleted user's token was renewed again and again, a new 15 minutes each time."""
    from django.utils import timezone

    from identity.models import User
    from identity.services.users import user_delete, user_update

    old = _token(world, age=timedelta(seconds=30))
    if ended == "deactivated":
        user_update(user=world.user, is_active=False)
    elif ended == "deleted":
        user_delete(user=world.user)
    else:
        User.objects.filter(pk=world.user.pk).update(locked_until=timezone.now() + timedelta(hours=1))
    response = _hello(client, old)
    assert "Authorization" not in response  # no renewed token handed back


def test_a_token_of_an_ended_session_is_not_renewed(client: Client, world: World) -> None:
    from identity.services.refresh_tokens import (
        RevokeReason,
        refresh_token_create,
        refresh_tokens_revoke_family,
    )

    session = refresh_token_create(user=world.user, application=world.application)
    old = _token(world, age=timedelta(seconds=30), session_id=session.token.pk)
    assert "Authorization" in _hello(client, old)  # a live session: renewed
    refresh_tokens_revoke_family(family_id=session.token.family_id, reason=RevokeReason.LOGOUT)
    assert "Authorization" not in _hello(client, old)  # logged out: not kept alive


def test_a_token_exchanged_from_a_pat_is_never_renewed(client: Client, world: World) -> None:
    """Its lifetime never passes its PAT's; a renewal would have made it outlive the PAT."""
    old = _token(
        world,
        age=timedelta(seconds=30),
        ttl=timedelta(minutes=5),
        authentication_type=AuthenticationType.PERSONAL_ACCESS_TOKEN,
        extra_claims={"pat": "00000000-0000-0000-0000-000000000001", "act": {"sub": "pat:x"}},
    )
    response = _hello(client, old)
    assert "Authorization" not in response


def test_paths_outside_the_patterns_are_untouched(client: Client, world: World) -> None:
    assert client.get("/.well-known/jwks.json").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/demo/api/hello/",
        "/demo//api/hello",
        "/DEMO/API/HELLO",
        "/demo/api%2Fhello",
        "/demo%2Fapi%2Fhello",
        "/demo/api/%68ello",
        "/demo/x/../api/hello",
        "/demo/api/./hello",
        "/demo/api/hello?x=1",
        "/demo/api/hello;x",
        "/demo/api/hello%3F",
    ],
)
def test_no_spelling_reaches_the_view_without_a_token(client: Client, world: World, path: str) -> None:
    assert client.get(path).status_code == 401


def test_no_database_query_per_request(client: Client, world: World, django_assert_num_queries) -> None:
    token = _token(world)
    assert _hello(client, token).status_code == 200  # warms the key store
    with django_assert_num_queries(0):
        for _ in range(5):
            assert _hello(client, token).status_code == 200
            assert _hello(client).status_code == 401


def test_the_drf_class_uses_the_middleware_claims_or_verifies_itself(rf, world: World) -> None:
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.request import Request

    token = _token(world)
    auth = TokenAuthorizationAuthentication()
    request = Request(rf.get("/elsewhere", HTTP_AUTHORIZATION=f"Bearer {token}"))
    user, claims = auth.authenticate(request)  # type: ignore[misc]
    assert isinstance(user, TokenUser) and user.pk == str(world.user.pk) and claims["sub"] == user.pk
    assert auth.authenticate(Request(rf.get("/elsewhere"))) is None
    with pytest.raises(AuthenticationFailed, match="trusted key"):
        auth.authenticate(Request(rf.get("/x", HTTP_AUTHORIZATION=f"Bearer {token[:-3]}xyz")))
    django_request = rf.get("/x")
    django_request.token_claims = {"sub": "from-middleware"}
    user, _ = auth.authenticate(Request(django_request))  # type: ignore[misc]
    assert user.pk == "from-middleware"


def test_cookie_location(client: Client, world: World, settings) -> None:
    settings.IDENTITY_TOKEN_AUTHORIZATION = {
        **settings.IDENTITY_TOKEN_AUTHORIZATION,
        "token_location": "cookie",
        "token_name": "at",
    }
    client.cookies["at"] = _token(world, age=timedelta(seconds=30))
    response = client.get("/demo/api/hello")
    assert response.status_code == 200
    cookie = response.cookies["at"]
    assert cookie.value and cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    client.cookies["at"] = "garbage"
    assert "not a well-formed" in _message(client.get("/demo/api/hello"))


@pytest.mark.parametrize(("debug", "secure"), [(False, True), (True, False)])
def test_a_refreshed_cookie_is_secure_outside_debug_whatever_the_setting(
    client: Client, world: World, settings, debug: bool, secure: bool
) -> None:
    settings.DEBUG = debug
    settings.IDENTITY_TOKEN_AUTHORIZATION = {
        **settings.IDENTITY_TOKEN_AUTHORIZATION, "token_location": "cookie", "token_name": "at",
        "cookie_secure": False,
    }  # fmt: skip
    client.cookies["at"] = _token(world, age=timedelta(seconds=30))
    response = client.get("/demo/api/hello")
    assert response.status_code == 200
    assert bool(response.cookies["at"]["secure"]) is secure


@pytest.mark.parametrize(
    "query",
    ["x=1", "", "/", "next=/public", "..%2F..%2Fhealth", "a=%00", "a;b=c", "#frag", "access_token=TOKEN",
     "Authorization=Bearer%20TOKEN"],
)  # fmt: skip
def test_query_strings_neither_protect_nor_unprotect_nor_carry_a_token(
    client: Client, world: World, query: str
) -> None:
    """The query string is not part of the path matched, and a token is read only from the
    configured header: `?access_token=` (a valid token in it) gets the template."""
    token = _token(world)
    query = query.replace("TOKEN", token)
    assert _message(_hello(client, path=f"/demo/api/hello?{query}")) == "No token was sent."
    assert _hello(client, token, path=f"/demo/api/hello?{query}").status_code == 200
    outside = client.get(f"/.well-known/jwks.json?{query}")
    assert outside.status_code == 200  # a query naming a protected path protects nothing else
