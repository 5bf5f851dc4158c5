"""fastapi-users login backends through the API (issue 13 part 1): POST /auth/<name>/login and
/logout, in process. The live contract with `requests` and a cookie jar:
tests/live_server/test_login_backends_live.py."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from identity.exceptions import ValidationFailed
from identity.models import LoginBackend
from identity.services.access_tokens import access_token_verify
from identity.services.applications import application_create
from identity.services.login_backends import login_backend_create
from identity.services.tenants import tenant_update
from identity.services.users import user_set_password, user_update
from tests.api.helpers import db_state
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def backends(world) -> dict[str, LoginBackend]:
    return {
        "jwt": login_backend_create(application=world.application, name="jwt", lifetime_seconds=600),
        "cookie": login_backend_create(
            application=world.application, name="cookie", transport="cookie", cookie_name="auth"
        ),
    }


def _login(client, name: str = "jwt", username: str = "ann@example.com", password: str | None = None,
           world: Any = None, **headers: str) -> Any:  # fmt: skip
    body = {"username": username, "password": password if password is not None else world.password}
    return client.post(f"/auth/{name}/login", body, headers=headers)  # form-encoded by default


def test_bearer_login(client, world, backends) -> None:
    response = _login(client, world=world)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type"} and body["token_type"] == "bearer"
    claims = access_token_verify(token=body["access_token"], now=timezone.now()).claims
    assert claims["sub"] == str(world.user.pk) and claims["aud"] == str(world.application.pk)
    assert claims["roles"] == ["user"] and claims["exp"] - claims["iat"] == 600
    assert "sid" not in claims  # no refresh-token session is opened for nobody to use
    assert (
        client.get(
            "/api/jwt/validate", headers={"Authorization": f"Bearer {body['access_token']}"}
        ).status_code
        == 200
    )
    assert response["Cache-Control"].startswith("max-age=0")


def test_cookie_login(client, world, backends) -> None:
    response = _login(client, "cookie", world=world)
    assert response.status_code == 204 and response.content == b""
    cookie = response.cookies["auth"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert 3500 <= int(cookie["max-age"]) <= 3600
    assert access_token_verify(token=cookie.value, now=timezone.now()).claims["sub"] == str(world.user.pk)


def test_cookie_is_not_secure_in_debug_when_the_backend_allows(client, world, backends, settings) -> None:
    LoginBackend.objects.filter(name="cookie").update(cookie_secure=False)
    assert _login(client, "cookie", world=world).cookies["auth"]["secure"]  # outside debug: always
    settings.DEBUG = True
    assert _login(client, "cookie", world=world).cookies["auth"]["secure"] == ""


@pytest.mark.parametrize(
    ("username", "password"),
    [("ann@example.com", "wrong"), ("nobody@example.com", "whatever"), ("ANN@example.com ", "wrong"),
     ("ann@example.com", "")],
)  # fmt: skip
def test_bad_credentials(client, world, backends, username: str, password: str) -> None:
    response = _login(client, username=username, password=password or "x", world=world)
    assert response.status_code == 400
    assert response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}
    assert "Set-Cookie" not in response


def test_lockout_is_bad_credentials_and_counts_like_api_login(client, world, backends) -> None:
    for _ in range(world.tenant.failed_login_max_attempts):
        assert _login(client, password="wrong", world=world).json() == {"detail": "LOGIN_BAD_CREDENTIALS"}
    world.user.refresh_from_db()
    assert world.user.locked_until is not None  # the Login API's own lockout
    response = _login(client, world=world)  # the right password, while locked
    assert response.status_code == 400 and response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


@pytest.mark.parametrize("change", [{"is_active": False}, {"expires_at": "past"}])
def test_inactive_users_are_not_verified(client, world, backends, change: dict[str, Any]) -> None:
    if change.get("expires_at") == "past":
        change = {"expires_at": timezone.now() - timedelta(seconds=1)}
    user_update(user=world.user, **change)
    response = _login(client, world=world)
    assert response.status_code == 400 and response.json() == {"detail": "LOGIN_USER_NOT_VERIFIED"}
    assert _login(client, password="wrong", world=world).json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


def test_a_user_not_registered_for_the_application_gets_no_token(client, world, backends) -> None:
    UserFactory(tenant=world.tenant, email="stranger@example.com")
    response = _login(client, username="stranger@example.com", world=world)
    assert response.status_code == 400 and response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


@pytest.mark.parametrize("name", ["nope", "JWT", "jwt%00", "a" * 200])
def test_unknown_backend_is_404(client, world, backends, name: str) -> None:
    before = db_state()
    response = _login(client, name, world=world)
    assert response.status_code == 404 and response.content == b""
    assert db_state() == before


def test_an_inactive_application_has_no_backends(client, world, backends) -> None:
    from identity.services.applications import application_update

    application_update(application=world.application, active=False)
    assert _login(client, world=world).status_code == 404


@pytest.mark.parametrize(
    "body", [{"username": "ann@example.com"}, {"password": "x"}, {"username": "a" * 400, "password": "x"},
             {"username": "ann@example.com", "password": "p" * 2000}],
)  # fmt: skip
def test_malformed_forms_change_nothing(client, world, backends, body: dict[str, str]) -> None:
    before = db_state()
    assert client.post("/auth/jwt/login", body).status_code == 400
    assert db_state() == before


def test_json_is_not_the_password_form(client, world, backends) -> None:
    before = db_state()
    response = client.post(
        "/auth/jwt/login",
        {"username": "ann@example.com", "password": world.password},
        content_type="application/json",
    )
    assert response.status_code == 415
    assert db_state() == before


def test_cookie_login_from_another_site_is_refused(client, world, backends) -> None:
    before = db_state()
    response = _login(
        client, "cookie", world=world, Origin="https://evil.example", **{"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 401 and "Set-Cookie" not in response
    assert db_state() == before
    assert _login(client, "cookie", world=world, Origin="http://testserver").status_code == 204


def test_bearer_logout(client, world, backends) -> None:
    token = _login(client, world=world).json()["access_token"]
    assert client.post("/auth/jwt/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    # A JWT stays valid until it expires (README): logout revokes nothing.
    assert client.get("/api/jwt/validate", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.post("/auth/jwt/logout").status_code == 401
    assert client.post("/auth/jwt/logout", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_cookie_logout_clears_the_cookie(client, world, backends) -> None:
    assert _login(client, "cookie", world=world).status_code == 204
    response = client.post("/auth/cookie/logout", headers={"Origin": "http://testserver"})
    assert response.status_code == 204
    assert response.cookies["auth"].value == "" and response.cookies["auth"]["max-age"] == 0
    client.cookies.clear()
    assert client.post("/auth/cookie/logout").status_code == 401


def test_cookie_logout_from_another_site_is_refused(client, world, backends) -> None:
    assert _login(client, "cookie", world=world).status_code == 204
    assert client.post("/auth/cookie/logout", headers={"Origin": "https://evil.example"}).status_code == 401


def test_a_token_of_another_application_does_not_log_out(client, world, backends) -> None:
    other = application_create(tenant=world.tenant, name="Other")
    login_backend_create(application=other, name="other")
    token = _login(client, world=world).json()["access_token"]
    assert client.post("/auth/other/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "two words"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "jwt"}, "name"),  # taken by the fixture
        ({"transport": "carrier-pigeon"}, "transport"),
        ({"lifetime_seconds": 0}, "lifetime_seconds"),
        ({"cookie_samesite": "none", "cookie_secure": False}, "cookie_samesite"),
        ({"cookie_samesite": "sometimes"}, "cookie_samesite"),
        ({"cookie_name": "a;b"}, "cookie_name"),
        ({"cookie_path": "relative"}, "cookie_path"),
        ({"cookie_domain": "a b"}, "cookie_domain"),
    ],
)
def test_backend_validation_changes_nothing(world, backends, change: dict[str, Any], field: str) -> None:
    before = list(LoginBackend.objects.values_list("id", "name", "updated_at"))
    with pytest.raises(ValidationFailed) as caught:
        login_backend_create(application=world.application, **{"name": "fresh", **change})
    assert field in caught.value.field_errors
    assert list(LoginBackend.objects.values_list("id", "name", "updated_at")) == before


def test_failures_at_both_doors_share_one_lockout(client, world, backends) -> None:
    """/auth/<name>/login and /api/login count failures on the same account: neither door gives an
    attacker a fresh budget."""
    attempts = world.tenant.failed_login_max_attempts
    for _ in range(attempts - 1):
        assert _login(client, password="wrong", world=world).status_code == 400
    world.user.refresh_from_db()
    assert world.user.locked_until is None
    api = client.post(
        "/api/login",
        {"loginId": world.user.email, "password": "wrong", "applicationId": str(world.application.pk)},
        content_type="application/json",
        headers={"Authorization": world.api_key},
    )
    assert api.status_code == 404
    world.user.refresh_from_db()
    assert world.user.locked_until is not None  # the last failure, at the other door, locks
    assert _login(client, world=world).json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


def test_unknown_user_costs_what_a_wrong_password_costs(client, world, backends, settings) -> None:
    """The Login API's equal cost (a dummy Argon2id hash for unknown users) holds at this door."""
    settings.PASSWORD_HASHERS = ["identity.hashers.Argon2idPasswordHasher"]
    user_set_password(user=world.user, password=world.password)
    tenant_update(tenant=world.tenant, failed_login_max_attempts=1000)

    def cost(username: str) -> float:
        started = time.perf_counter()
        response = _login(client, username=username, password="not the password", world=world)
        assert response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}
        return time.perf_counter() - started

    cost("nobody@example.com"), cost(world.user.email)  # warm both paths
    # Interleaved, fastest of each: other processes' load only ever makes a sample slower.
    samples = [(cost("nobody@example.com"), cost(world.user.email)) for _ in range(9)]
    unknown, known = min(s[0] for s in samples), min(s[1] for s in samples)
    assert unknown > 0.005  # a hash really runs for nobody
    assert abs(unknown - known) / max(unknown, known) < 0.35, (unknown, known)
