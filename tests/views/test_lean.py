"""identity.views.common.lean_get and lean_post answer as DRF's view does: a plain GET of
/api/jwt/validate and a JSON POST of /api/jwt/refresh get the same status, headers and bytes, errors
included (tokens aside, which are new on every exchange), and everything else goes to DRF's view."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.renderers import JSONRenderer

from identity.caller import Caller
from identity.services.jwt import jwt_vend
from identity.services.login import password_login
from identity.services.refresh_tokens import refresh_token_create
from identity.urls import urlpatterns
from identity.views.common import json_response
from identity.views.jwt import JWTViewSet
from identity.views.refresh_tokens import RefreshTokenViewSet
from tests.api.helpers import db_state

pytestmark = pytest.mark.django_db

DRF_VIEW = JWTViewSet.as_view({"get": "validate"})
LEAN_VIEW = next(p.callback for p in urlpatterns if getattr(p, "name", None) == "jwt-validate")


def _token(world: Any) -> str:
    login = password_login(
        tenant=world.tenant, application=world.application, login_id=world.user.email, password=world.password
    )
    assert login.access_token is not None
    return login.access_token.value


def _requests(world: Any, token: str) -> dict[str, tuple[str, dict[str, str]]]:
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    caller = Caller.build(header=str(world.tenant.pk))
    vended = jwt_vend(caller=caller, claims={"role": "svc"}, key_id=None, ttl_seconds=60)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return {
        "bearer": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "legacy-scheme": ("GET", {"HTTP_AUTHORIZATION": f"JWT {token}"}),
        "cookie": ("GET", {"HTTP_COOKIE": f"access_token={token}"}),
        "vended": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {vended}"}),
        "own-tenant": ("GET", {**bearer, "HTTP_X_FUSIONAUTH_TENANTID": str(world.tenant.pk)}),
        "other-tenant": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}",
                                 "HTTP_X_FUSIONAUTH_TENANTID": "00000000-0000-4000-8000-000000000000"}),
        "bad-tenant-header": ("GET", {**bearer, "HTTP_X_FUSIONAUTH_TENANTID": "x"}),
        "no-token": ("GET", {}),
        "empty-bearer": ("GET", {"HTTP_AUTHORIZATION": "Bearer "}),
        "forged": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {forged}"}),
        "garbage": ("GET", {"HTTP_AUTHORIZATION": "Bearer a.b.c"}),
        "huge": ("GET", {"HTTP_AUTHORIZATION": "Bearer " + "a" * 20_000}),
        "accept-json": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": "application/json"}),
        "accept-indent": ("GET", {**bearer, "HTTP_ACCEPT": "application/json; indent=2"}),
        "accept-html": ("GET", {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": "text/html"}),
        "head": ("HEAD", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "options": ("OPTIONS", {}),
        "post": ("POST", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "delete": ("DELETE", {}),
    }  # fmt: skip


CASES = [
    "bearer", "legacy-scheme", "cookie", "vended", "own-tenant", "other-tenant", "bad-tenant-header",
    "no-token", "empty-bearer", "forged", "garbage", "huge", "accept-json", "accept-indent", "accept-html",
    "head", "options", "post", "delete",
]  # fmt: skip


def _answer(view: Any, method: str, meta: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = RequestFactory().generic(method, "/api/jwt/validate", **meta)
    response = view(request)
    if hasattr(response, "render"):
        response = response.render()
    return response.status_code, dict(response.headers), response.content


@pytest.mark.parametrize("case", CASES)
def test_the_lean_answer_is_drfs_answer(world, case):
    method, meta = _requests(world, _token(world))[case]
    drf, lean = _answer(DRF_VIEW, method, meta), _answer(LEAN_VIEW, method, meta)
    # Expires carries the current second: equal unless the two answers straddle a second.
    drf[1].pop("Expires", None), lean[1].pop("Expires", None)
    assert lean == drf
    assert lean[1]["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_the_lean_route_keeps_the_views_openapi_identity():
    assert LEAN_VIEW.cls is JWTViewSet
    assert LEAN_VIEW.actions["get"] == "validate"
    assert LEAN_VIEW.csrf_exempt


REFRESH_DRF_VIEW = RefreshTokenViewSet.as_view({"post": "exchange", "get": "list", "delete": "revoke"})
REFRESH_LEAN_VIEW = next(p.callback for p in urlpatterns if getattr(p, "name", None) == "refresh-tokens")
JSON = "application/json"
OTHER_TENANT = "00000000-0000-4000-8000-000000000000"

# name: (method, content type, body with {value} for a live refresh token's value, extra META)
REFRESH_OK = {
    "value": ("POST", JSON, '{"refreshToken": "{value}"}', {}),
    "value-and-ttl": ("POST", JSON, '{"refreshToken": "{value}", "timeToLiveInSeconds": 60}', {}),
    "cookie": ("POST", JSON, "{}", {"HTTP_COOKIE": "refresh_token={value}"}),
    "own-tenant": ("POST", JSON, '{"refreshToken": "{value}"}', {"tenant": "own"}),
    "stale-bearer": ("POST", JSON, '{"refreshToken": "{value}"}', {"HTTP_AUTHORIZATION": "Bearer a.b.c"}),
    "accept-json": ("POST", JSON, '{"refreshToken": "{value}"}', {"HTTP_ACCEPT": JSON}),
    "form": ("POST", "application/x-www-form-urlencoded", "refreshToken={value}", {}),
    "charset": ("POST", "application/json; charset=utf-8", '{"refreshToken": "{value}"}', {}),
}
REFRESH_REFUSED = {
    "unknown": ("POST", JSON, '{"refreshToken": "no such token"}', {}),
    "nothing": ("POST", JSON, "{}", {}),
    "no-body": ("POST", JSON, "", {}),
    "list-body": ("POST", JSON, "[1, 2]", {}),
    "string-body": ("POST", JSON, '"{value}"', {}),
    "null-value": ("POST", JSON, '{"refreshToken": null}', {}),
    "number-value": ("POST", JSON, '{"refreshToken": 5}', {}),
    "ttl-zero": ("POST", JSON, '{"refreshToken": "{value}", "timeToLiveInSeconds": 0}', {}),
    "ttl-text": ("POST", JSON, '{"refreshToken": "{value}", "timeToLiveInSeconds": "soon"}', {}),
    "too-long": ("POST", JSON, '{"refreshToken": "' + "a" * 600 + '"}', {}),
    "nul": ("POST", JSON, '{"refreshToken": "a\\u0000b"}', {}),
    "lone-surrogate": ("POST", JSON, '{"refreshToken": "\\ud800"}', {}),
    "malformed": ("POST", JSON, '{"refreshToken": ', {}),
    "too-deep": ("POST", JSON, "[" * 100 + "]" * 100, {}),
    "not-utf8": ("POST", JSON, b'{"refreshToken": "\xff"}', {}),
    "other-tenant": (
        "POST", JSON, '{"refreshToken": "{value}"}', {"HTTP_X_FUSIONAUTH_TENANTID": OTHER_TENANT},
    ),
    "bad-tenant-header": ("POST", JSON, '{"refreshToken": "{value}"}', {"HTTP_X_FUSIONAUTH_TENANTID": "x"}),
    "accept-html": ("POST", JSON, '{"refreshToken": "{value}"}', {"HTTP_ACCEPT": "text/html"}),
    "cookie-without-content-type": ("POST", JSON, "", {"HTTP_COOKIE": "refresh_token={value}"}),
    "form-cookie-cross-site": (
        "POST", "application/x-www-form-urlencoded", "", {"HTTP_COOKIE": "refresh_token={value}"},
    ),
    "get-without-key": ("GET", JSON, "", {}),
    "options": ("OPTIONS", JSON, "", {}),
}  # fmt: skip


def _refresh_answer(view: Any, world: Any, case: tuple[Any, ...]) -> tuple[int, dict[str, str], bytes]:
    method, content_type, body, meta = case
    value = refresh_token_create(user=world.user, application=world.application).value
    meta = {k: v.replace("{value}", value) for k, v in meta.items()}
    if meta.pop("tenant", None) == "own":
        meta["HTTP_X_FUSIONAUTH_TENANTID"] = str(world.tenant.pk)
    data = body.replace("{value}", value) if isinstance(body, str) else body
    request = RequestFactory().generic(method, "/api/jwt/refresh", data, content_type=content_type, **meta)
    response = view(request)
    if hasattr(response, "render"):
        response = response.render()
    headers = dict(response.headers)
    headers.pop("Expires", None)  # the current second
    return response.status_code, headers, response.content


def _shape(answer: tuple[int, dict[str, str], bytes]) -> tuple[Any, ...]:
    """A successful exchange without its new tokens: status, headers, body members and cookies."""
    status, headers, content = answer
    body = json.loads(content)
    return status, {k: v for k, v in headers.items() if k != "Content-Length"}, sorted(body)


@pytest.mark.parametrize("case", list(REFRESH_OK))
def test_the_lean_exchange_is_drfs_exchange(world, case):
    drf = _refresh_answer(REFRESH_DRF_VIEW, world, REFRESH_OK[case])
    lean = _refresh_answer(REFRESH_LEAN_VIEW, world, REFRESH_OK[case])
    assert drf[0] == lean[0] == 200, (drf, lean)
    assert _shape(lean) == _shape(drf)
    assert lean[1]["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


@pytest.mark.parametrize("case", list(REFRESH_REFUSED))
def test_the_lean_exchange_refuses_as_drf_does_and_changes_nothing(world, case):
    cache.clear()
    before = db_state()
    drf = _refresh_answer(REFRESH_DRF_VIEW, world, REFRESH_REFUSED[case])
    after_drf = db_state()
    lean = _refresh_answer(REFRESH_LEAN_VIEW, world, REFRESH_REFUSED[case])
    assert lean[0] != 200
    assert lean == drf
    # Only the token each call made for itself is new; no other row moved.
    assert db_state()["users"] == after_drf["users"] == before["users"]
    assert before["counts"]["RefreshToken"] + 2 == db_state()["counts"]["RefreshToken"]


@pytest.fixture
def one_per_minute(settings):
    cache.clear()
    settings.IDENTITY_THROTTLE_RATES = {"refresh.address": "2/min"}
    yield
    cache.clear()


@pytest.mark.parametrize("view", ["drf", "lean"])
def test_an_exchange_is_counted_once_whichever_way_it_is_answered(world, one_per_minute, view):
    """A malformed body on the lean path goes to DRF's view, which counts it: once, not twice."""
    exchange = REFRESH_LEAN_VIEW if view == "lean" else REFRESH_DRF_VIEW
    assert _refresh_answer(exchange, world, REFRESH_REFUSED["malformed"])[0] == 400
    assert _refresh_answer(exchange, world, REFRESH_OK["value"])[0] == 200
    status, headers, content = _refresh_answer(exchange, world, REFRESH_OK["value"])
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert json.loads(content)["generalErrors"][0]["code"] == "[TooManyRequests]"


@pytest.mark.parametrize("view", ["drf", "lean"])
def test_a_request_refused_for_its_tenant_header_is_not_counted(world, one_per_minute, view):
    """DRF authenticates (the tenant header) before it throttles; so does the lean path."""
    exchange = REFRESH_LEAN_VIEW if view == "lean" else REFRESH_DRF_VIEW
    assert _refresh_answer(exchange, world, REFRESH_REFUSED["bad-tenant-header"])[0] == 400
    assert _refresh_answer(exchange, world, REFRESH_OK["value"])[0] == 200
    assert _refresh_answer(exchange, world, REFRESH_OK["value"])[0] == 200
    assert _refresh_answer(exchange, world, REFRESH_OK["value"])[0] == 429


def test_the_lean_refresh_route_keeps_the_views_openapi_identity():
    assert REFRESH_LEAN_VIEW.cls is RefreshTokenViewSet
    assert {k: REFRESH_LEAN_VIEW.actions[k] for k in ("post", "get", "delete")} == {
        "post": "exchange", "get": "list", "delete": "revoke",
    }  # fmt: skip
    assert REFRESH_LEAN_VIEW.csrf_exempt


_WHEN = datetime(2026, 12, 1, 15, 30, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"token": "a.b.c", "refreshToken": "r", "refreshTokenId": "0e6d1c3a-5b0c-4d8e-9a6f-1c2b3d4e5f60"},
        {"name": "ünïcode ✓ \u2028 line \u2029 paragraph", "quote": '"\\</script>'},
        {"nested": [1, 2.5, None, True, {"a": []}], "uuid": uuid.UUID(int=7), "when": _WHEN},
        ["a", 1],
    ],
    ids=["none", "empty", "tokens", "unicode-separators", "nested-types", "list"],
)
def test_json_response_renders_as_drfs_renderer(body):
    """The lean paths' answers are the bytes DRF's JSONRenderer makes of the same body."""
    ours = json_response(body, status=201)
    renderer = JSONRenderer()
    assert ours.content == renderer.render(body, renderer.media_type, {})
    assert (ours.status_code, ours["Content-Type"]) == (201, "application/json")


def test_json_response_refuses_what_drfs_renderer_refuses():
    with pytest.raises(ValueError):
        JSONRenderer().render({"x": float("nan")}, "application/json", {})
    with pytest.raises(ValueError):
        json_response({"x": float("nan")})
