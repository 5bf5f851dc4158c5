"""Transport rules: responses carrying secrets are never stored by a cache (Cache-Control: no-store);
token cookies authorise state changes only in requests no other site could forge (JSON body, our
Origin, or same-origin fetch metadata). Driven against a real gunicorn server."""

from __future__ import annotations

from typing import Any

import pytest

from identity.models import RefreshToken
from identity.services.applications import application_create
from identity.services.registrations import registration_create
from tests.api.helpers import db_state
from tests.conftest import World
from tests.factories import make_api_key
from tests.live import world_login

pytestmark = pytest.mark.django_db(transaction=True)


def test_responses_carrying_secrets_are_not_stored(gunicorn, world: World) -> None:
    _, manager = make_api_key(name="manager", key_manager=True)
    server = gunicorn(workers=1)
    headers = {"Authorization": manager, "X-FusionAuth-TenantId": str(world.tenant.pk)}
    calls = [
        ("POST", "/api/api-key", {"apiKey": {"name": "ci"}}, "key"),
        ("POST", "/api/key/generate", {"key": {"algorithm": "HS256", "name": "h"}}, "secret"),
        ("GET", f"/api/user/{world.user.pk}", None, "user"),
        ("GET", f"/api/user?email={world.user.email}", None, "user"),
    ]
    for method, path, body, member in calls:
        answer = server.request(method, path, json_body=body, headers=headers)
        assert answer.status == 200, (path, answer.body, server.log_tail())
        assert member in str(answer.json()), answer.body
        assert "no-store" in answer.headers.get("Cache-Control", ""), (path, answer.headers)


def _login(server: Any, world: World) -> dict[str, Any]:
    answer = world_login(server, world)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.json()
    return body


def test_cookie_authenticated_state_changes_need_json_or_our_origin(gunicorn, world: World) -> None:
    second = application_create(tenant=world.tenant, name="Second")
    registration_create(user=world.user, application=second)
    server = gunicorn(workers=2)
    session = _login(server, world)
    both = f"access_token={session['token']}; refresh_token={session['refreshToken']}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    forged: list[tuple[str, str, dict[str, str], str]] = [
        ("POST", "/api/jwt/refresh", {**form, "Cookie": both}, ""),
        ("POST", "/api/jwt/refresh", {"Cookie": both}, ""),
        ("POST", "/api/jwt/refresh", {**form, "Cookie": both, "Origin": "https://evil.example"}, ""),
        ("POST", "/api/jwt/refresh", {**form, "Cookie": both, "Origin": "null"}, ""),
        ("POST", "/api/jwt/refresh", {**form, "Cookie": both, "Sec-Fetch-Site": "cross-site"}, ""),
        ("POST", "/api/logout", {**form, "Cookie": both}, "global=true"),
        ("POST", "/api/logout?global=true", {"Cookie": f"access_token={session['token']}"}, ""),
        ("GET", f"/api/jwt/issue?applicationId={second.pk}", {"Cookie": both}, ""),
        ("DELETE", f"/api/jwt/refresh/{session['refreshTokenId']}", {"Cookie": both}, ""),
    ]
    for method, path, headers, body in forged:
        before = db_state()
        answer = server.request(method, path, body=body, headers=headers)
        assert answer.status == 401, (method, path, headers, answer.status, answer.body, server.log_tail())
        assert "Set-Cookie" not in answer.headers, (path, answer.headers)
        assert db_state() == before, (method, path, headers)

    # Another site's form post with a token of its own gets no cookies planted (login CSRF).
    answer = server.request(
        "POST", "/api/jwt/refresh", body=f"refreshToken={session['refreshToken']}", headers=form
    )
    assert answer.status == 200 and "Set-Cookie" not in answer.headers, (answer.body, answer.headers)

    # Our own pages (JSON, our Origin, or same-origin fetch metadata) keep working with cookies.
    own = server.url
    allowed: list[tuple[str, str, dict[str, str], str, int]] = [
        ("POST", "/api/jwt/refresh", {"Cookie": both, "Content-Type": "application/json"}, "{}", 200),
        ("POST", "/api/jwt/refresh", {**form, "Cookie": both, "Origin": own}, "", 200),
        ("GET", f"/api/jwt/issue?applicationId={second.pk}", {"Cookie": both, "Origin": own}, "", 200),
        (
            "GET",
            f"/api/jwt/issue?applicationId={second.pk}",
            {"Cookie": both, "Sec-Fetch-Site": "same-origin"},
            "",
            200,
        ),
        ("POST", "/api/logout", {**form, "Cookie": both, "Origin": own}, "", 200),
    ]
    for method, path, headers, body, status in allowed:
        answer = server.request(method, path, body=body, headers=headers)
        assert answer.status == status, (method, path, headers, answer.status, answer.body, server.log_tail())
    assert RefreshToken.objects.get(pk=session["refreshTokenId"]).revoke_reason == "logout"
