"""The fastapi-users contract against a live server (gunicorn, DEBUG off unless said): form posts
with `requests`, the cookie transport through a real cookie jar (issue 13 part 1)."""

from __future__ import annotations

import pytest
import requests

from identity.services.applications import application_update
from identity.services.login_backends import login_backend_create
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backends(world: World) -> None:
    login_backend_create(application=world.application, name="jwt", lifetime_seconds=900)
    login_backend_create(
        application=world.application,
        name="cookie",
        transport="cookie",
        cookie_name="auth",
        cookie_secure=False,
    )


def test_bearer_backend_with_requests(gunicorn, world: World, backends: None) -> None:
    server = gunicorn(workers=2)
    form = {"username": world.user.email, "password": world.password, "grant_type": "password", "scope": ""}
    answer = requests.post(f"{server.url}/auth/jwt/login", data=form, timeout=30)
    assert answer.status_code == 200, server.log_tail()
    assert answer.headers["Content-Type"] == "application/json"
    token = answer.json()["access_token"]
    assert answer.json()["token_type"] == "bearer"
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/api/jwt/validate", headers=bearer, timeout=30).status_code == 200

    wrong = requests.post(f"{server.url}/auth/jwt/login", data={**form, "password": "nope"}, timeout=30)
    assert (wrong.status_code, wrong.json()) == (400, {"detail": "LOGIN_BAD_CREDENTIALS"})
    unknown = requests.post(f"{server.url}/auth/nope/login", data=form, timeout=30)
    assert unknown.status_code == 404

    assert requests.post(f"{server.url}/auth/jwt/logout", headers=bearer, timeout=30).status_code == 204
    assert requests.post(f"{server.url}/auth/jwt/logout", timeout=30).status_code == 401


def test_cookie_backend_is_secure_outside_debug(gunicorn, world: World, backends: None) -> None:
    server = gunicorn(workers=1)
    form = {"username": world.user.email, "password": world.password}
    answer = requests.post(f"{server.url}/auth/cookie/login", data=form, timeout=30)
    assert answer.status_code == 204 and answer.content == b""
    set_cookie = answer.headers["Set-Cookie"]
    assert set_cookie.startswith("auth=") and "HttpOnly" in set_cookie and "Secure" in set_cookie
    assert "SameSite=Lax" in set_cookie and "Path=/" in set_cookie


def test_cookie_backend_through_a_cookie_jar(gunicorn, world: World, backends: None) -> None:
    server = gunicorn(workers=2)
    jar = requests.Session()
    login = jar.post(
        f"{server.url}/auth/cookie/login",
        data={"username": world.user.email, "password": world.password},
        timeout=30,
    )
    assert login.status_code == 204, server.log_tail()
    assert jar.cookies.get("auth")
    for cookie in jar.cookies:  # the test speaks plain HTTP where a browser would speak TLS to the proxy
        assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
        cookie.secure = False
    # The browser-side contract: a same-origin page logs out with the cookie alone.
    out = jar.post(f"{server.url}/auth/cookie/logout", headers={"Origin": server.url}, timeout=30)
    assert out.status_code == 204
    assert jar.cookies.get("auth") is None  # cleared
    again = jar.post(f"{server.url}/auth/cookie/logout", headers={"Origin": server.url}, timeout=30)
    assert again.status_code == 401

    # Another site's page posting the login form gets no cookie (no login CSRF).
    forged = jar.post(
        f"{server.url}/auth/cookie/login",
        data={"username": world.user.email, "password": world.password},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        timeout=30,
    )
    assert forged.status_code == 401 and jar.cookies.get("auth") is None


def test_inactive_application_and_user(gunicorn, world: World, backends: None) -> None:
    from identity.services.users import user_update

    server = gunicorn(workers=1)
    form = {"username": world.user.email, "password": world.password}
    user_update(user=world.user, is_active=False)
    answer = requests.post(f"{server.url}/auth/jwt/login", data=form, timeout=30)
    assert (answer.status_code, answer.json()) == (400, {"detail": "LOGIN_USER_NOT_VERIFIED"})
    application_update(application=world.application, active=False)
    assert requests.post(f"{server.url}/auth/jwt/login", data=form, timeout=30).status_code == 404
